"""The values that flow through the Clausewatch pipeline.

Owns: the frozen dataclasses and Enums every stage exchanges (Source, Snapshot, NotModified,
FetchFailure, Clause, Document, Version, ...). Must never: do I/O, import anything outside the
standard library, or hold behaviour beyond small derived properties.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class FailureReason(StrEnum):
    """Why a fetch produced no usable snapshot. A failure never writes a version."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_ERROR = "http_error"
    BLOCKED = "blocked"  # bot wall, challenge or login page (even when served with 200)
    TOO_LARGE = "too_large"
    TRUNCATED = "truncated"
    CONTENT_TYPE = "content_type"
    DECODE = "decode"  # bytes are not valid in the declared charset
    REDIRECT = "redirect"  # redirect loop or too many redirects
    ROBOTS = "robots"  # robots.txt disallows the URL
    NOT_TERMS = "not_terms"  # the selection is empty or suspiciously short
    BROWSER = "browser"  # the browser is missing, crashed or hung (a page's own trouble is not)
    BAD_INPUT = "bad_input"  # a local file that cannot be read


class FetchMode(StrEnum):
    """How a page is fetched (a source's `fetch` key in sources.yaml)."""

    HTTP = "http"  # plain HTTP only: the bytes as served, scripts never run
    BROWSER = "browser"  # always rendered in headless Chromium, then the DOM is snapshotted
    AUTO = "auto"  # plain HTTP first; the browser when that shows no terms or is refused


class Outcome(StrEnum):
    """What one tracking pass did for one source."""

    NEW = "new"  # first version of this source
    CHANGED = "changed"  # a new version differs from the last one
    UNCHANGED = "unchanged"  # fetched, but the terms text is the same
    NOT_MODIFIED = "not_modified"  # the server answered 304 to a conditional GET
    FAILED = "failed"


class Origin(StrEnum):
    """Why a version was recorded: what decides whether its changes may alert."""

    FETCHED = "fetched"  # a page as fetched (or imported): its changes are flagged and alert
    TECHNICAL = "technical"  # re-extracted with new rules or selectors: recorded, never alerts


@dataclass(frozen=True, slots=True)
class RangeSelector:
    """Open Terms Archive's range selector: the content between two elements, each found by a
    CSS selector (its first match), in document order. The start boundary sits before or after
    the start element (OTA's `startBefore` / `startAfter`), the end boundary before or after the
    end element (`endBefore` / `endAfter`); partial elements keep only their part in the range.
    """

    start: str
    end: str
    start_before: bool = True  # startBefore: the start element is in the range
    end_before: bool = True  # endBefore: the end element is not

    def as_dict(self) -> dict[str, str]:
        """The selector as written in sources.yaml and OTA declarations."""
        return {
            "startBefore" if self.start_before else "startAfter": self.start,
            "endBefore" if self.end_before else "endAfter": self.end,
        }

    def __str__(self) -> str:
        return json.dumps(self.as_dict())


Selector = str | RangeSelector  # a CSS selector, or a range between two CSS selectors


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a document made of several (`pages:` in sources.yaml)."""

    url: str
    select: tuple[Selector, ...] = ()
    remove: tuple[Selector, ...] = ()
    fetch: FetchMode = FetchMode.AUTO


@dataclass(frozen=True, slots=True)
class Source:
    """One tracked document, as declared in sources.yaml. A document of several pages lists
    them in `pages` (in order; `url` is then the first page's); otherwise `pages` is empty and
    `url`, `select`, `remove` and `fetch` describe its one page."""

    id: str
    platform: str
    document_type: str
    url: str
    select: tuple[Selector, ...] = ()
    remove: tuple[Selector, ...] = ()
    schedule: str = "every 6h ~30m"
    audiences: tuple[str, ...] = ()
    enabled: bool = True
    ignore_robots: bool = False
    origin: str = ""  # "sources.yaml:12", where the entry was declared, for error messages
    fetch: FetchMode = FetchMode.AUTO
    pages: tuple[Page, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.platform} {self.document_type}".strip()

    def page_sources(self) -> tuple[Source, ...]:
        """Each page as a Source of one page, with this source's id (fetching needs no more)."""
        return tuple(
            replace(
                self,
                url=page.url,
                select=page.select,
                remove=page.remove,
                fetch=page.fetch,
                pages=(),
            )
            for page in self.pages
        )


@dataclass(frozen=True, slots=True)
class Conditional:
    """What the last stored snapshot tells the next fetch: its validators, sent as
    If-None-Match / If-Modified-Since, and the way it was fetched (an `auto` source whose last
    snapshot was rendered is rendered again directly)."""

    etag: str | None = None
    last_modified: str | None = None
    fetched_with: FetchMode = FetchMode.HTTP


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One successful fetch: the raw bytes exactly as served, plus what matters of the reply."""

    source_id: str
    fetched_at: datetime
    url: str  # final URL after redirects
    status: int
    content: bytes
    content_type: str  # media type only, lower case: "text/html"
    encoding: str | None  # validated charset for text content, None for binary (PDF)
    etag: str | None = None
    last_modified: str | None = None
    sha256: str = field(default="")
    fetched_with: FetchMode = FetchMode.HTTP  # HTTP or BROWSER: which way the bytes came

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.content).hexdigest())

    @property
    def text(self) -> str:
        """The decoded text; fetch has already checked that the bytes decode."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server confirmed (304) that the document has not changed since the last snapshot."""

    source_id: str
    fetched_at: datetime
    url: str


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """Why a fetch or an extraction gave nothing to archive. Recorded, never a version."""

    source_id: str
    fetched_at: datetime
    url: str
    reason: FailureReason
    detail: str
    status: int | None = None


FetchResult = Snapshot | NotModified | FetchFailure


@dataclass(frozen=True, slots=True)
class Clause:
    """The smallest block of terms text under a heading path.

    `key` is stable across versions while the clause stays under the same headings: the heading
    path joined with " > " plus the clause's ordinal under that path ("7. Content > 7.2 Licence #1").
    """

    key: str
    heading_path: tuple[str, ...]
    label: str | None
    text: str

    @property
    def full_text(self) -> str:
        return f"{self.label} {self.text}" if self.label else self.text

    def __reduce__(self) -> tuple[type[Clause], tuple[str, tuple[str, ...], str | None, str]]:
        # Documents cross to and from the extraction worker by pickle: a constructor call per
        # clause loads 2.5 times faster than dataclasses' generic slots state
        return (Clause, (self.key, self.heading_path, self.label, self.text))


@dataclass(frozen=True, slots=True)
class Document:
    """One extracted version of a terms document: ordered clauses plus metadata."""

    title: str
    clauses: tuple[Clause, ...]
    effective_date: str | None = None  # as stated on the page ("August 7, 2023"), not parsed

    @property
    def text(self) -> str:
        return "\n".join(c.full_text for c in self.clauses)


@dataclass(frozen=True, slots=True)
class Version:
    """An archived Document: what the catalog knows about one stored version."""

    id: int
    source_id: str
    recorded_at: datetime
    snapshot_id: int | None
    sha256: str
    path: str  # relative to the archive root
    technical: bool = False  # re-extraction after a rule/selector change: never alerts
    # its number within its source, 1, 2, ... in date order: what users see and give
    # (`show SOURCE 5`); `id` is the catalog's, unique across sources
    number: int = 0


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What tracking did for one source in one pass."""

    source_id: str
    outcome: Outcome
    detail: str = ""
    version_id: int | None = None
    failure: FetchFailure | None = None
    version: int | None = None  # the new version's number within its source


class ChangeKind(StrEnum):
    """How one clause changed between two versions."""

    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"  # reworded (the word spans say how)
    MOVED = "moved"  # same text, another place in the order
    RENUMBERED = "renumbered"  # same text, another number label
    SPLIT = "split"  # one old clause became several consecutive new ones (`parts`)
    MERGED = "merged"  # several consecutive old clauses became one new one (`parts`)


class SpanOp(StrEnum):
    EQUAL = "equal"
    INSERT = "insert"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Span:
    """A run of words in a word-level diff: kept, inserted or deleted."""

    op: SpanOp
    text: str


@dataclass(frozen=True, slots=True)
class ClauseChange:
    """One change between two versions, clause by clause.

    For SPLIT and MERGED, `parts` holds the several clauses and `new` (or `old`) is their
    joined text, so that every change reads as one old text against one new text.
    """

    kind: ChangeKind
    old: Clause | None
    new: Clause | None
    spans: tuple[Span, ...] = ()
    cosmetic: bool = False  # only whitespace, punctuation, case, quotes or numbering differ
    parts: tuple[Clause, ...] = ()

    @property
    def inserted(self) -> str:
        return " ".join(s.text for s in self.spans if s.op is SpanOp.INSERT)

    @property
    def deleted(self) -> str:
        return " ".join(s.text for s in self.spans if s.op is SpanOp.DELETE)

    @property
    def key(self) -> str:
        clause = self.new or self.old
        assert clause is not None
        return clause.key


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything that changed between two versions of one source."""

    old_version_id: int | None
    new_version_id: int | None
    changes: tuple[ClauseChange, ...]
    # where the diff took a coarser path to stay within its bounds (monitor.diff), in words
    notes: tuple[str, ...] = ()

    @property
    def is_cosmetic(self) -> bool:
        """True when nothing but formatting changed: such a ChangeSet never alerts."""
        return all(c.cosmetic for c in self.changes)

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind is kind)


class Category(StrEnum):
    """What a flagged clause is about. The first seven are the AI and content-access ones."""

    AI_TRAINING = "ai_training"  # the platform may train models on users' content or data
    THIRD_PARTY_AI = "third_party_ai"  # content or data shared or licensed for others' AI
    CONTENT_LICENSE = "content_license"  # the licence users grant over their content
    DATA_SHARING = "data_sharing"  # content or data going to third parties or affiliates
    OPT_OUT = "opt_out"  # a way to object, opt out, or a consent toggle
    PROTECTIVE = "protective"  # a promise not to train on or share users' content: good news
    OTHERS_MAY_NOT_TRAIN = "others_may_not_train"  # users/scrapers may not train: informative
    # CLAUDETTE's creator-rights categories (Lippi et al. 2019)
    CONTENT_REMOVAL = "content_removal"
    UNILATERAL_CHANGE = "unilateral_change"
    UNILATERAL_TERMINATION = "unilateral_termination"
    ARBITRATION = "arbitration"
    LIMITATION_OF_LIABILITY = "limitation_of_liability"
    JURISDICTION = "jurisdiction"
    CHOICE_OF_LAW = "choice_of_law"
    CONTRACT_BY_USING = "contract_by_using"
    PRIVACY_INCLUDED = "privacy_included"


# Which categories are alerted on, and which are threats: monitor.rules.policy.


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"  # worth showing, never an alert


SEVERITY_ORDER = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class Direction(StrEnum):
    """How a change moved a flagged meaning."""

    INTRODUCED = "introduced"
    REMOVED = "removed"
    STRENGTHENED = "strengthened"  # still there, and wider (more terms fired)
    WEAKENED = "weakened"  # still there, and narrower
    RESTATED = "restated"  # reworded, same terms


@dataclass(frozen=True, slots=True)
class Match:
    """One rule firing on one sentence: the rule and the exact words that fired it."""

    rule_id: str
    category: Category
    severity: Severity
    sentence: str
    words: tuple[str, ...]
    # who would use, receive or be barred from the content: a monitor.rules.language.Actor
    # value ("platform", "users", "third_parties"), or "" when the rule does not say
    actor: str = ""


@dataclass(frozen=True, slots=True)
class Flag:
    """What a clause change means for creators, with the rule and the quoted evidence."""

    category: Category
    severity: Severity
    direction: Direction
    rule_id: str
    description: str
    evidence: str  # the sentence that fired, quoted from the new text (old, for removals)
    words: tuple[str, ...]  # the words in it that fired the rule
    change_index: int  # position of the ClauseChange in its ChangeSet
    change_key: str


@dataclass(frozen=True, slots=True)
class Alert:
    """What a person is told about one ChangeSet. `id` is stable: feed GUID and digest key."""

    id: str  # a tag: URI, the same however often it is rebuilt
    source_id: str
    platform: str
    document_type: str
    audiences: tuple[str, ...]
    change_id: int
    recorded_at: datetime
    title: str  # "Spotify Terms of Use: AI-training permission added"
    summary: str  # plain text, one paragraph
    threat: bool  # False for good news (a new promise not to train) and opt-out changes
    severity: Severity  # the highest threat severity, or INFO when there is no threat
    categories: tuple[Category, ...]
    flags: tuple[Flag, ...]
    path: str  # where the history site shows this change, relative to the site root
    # when the alert was decided: later than recorded_at for a change held until a later
    # capture confirmed it (monitor.trust); the digest tells it in the period it was decided
    decided_at: datetime | None = None
