"""Licence scope: what the licence users grant over their content lets the platform do.

A licence is read as a set of concepts, from a lexicon of general licence terms (no platform's
wording): the rights it grants (host, reproduce, modify, create derivative works, distribute,
publicly perform or display, sell, use a person's likeness), its qualifiers (worldwide,
perpetual, irrevocable, transferable, exclusive, royalty-free, unrestricted, and whether others
may use the content: sublicensing, partners, affiliates, third parties), its purposes (AI or
machine learning, developing and improving products and features, promotion), whether it
survives deletion or termination, and its limits ("solely to provide the service", "as
necessary", "limited", "revocable"). A term in a negated clause ("we will never sell your
content") does not count.

The licence sentences of a document are the grants to the platform ("you grant us a ...
licence", "users grant to X the right to ...", "is licensed to X"; never "we grant you"), the
list items and sentences that a grant introduces (its lead-in), and the sentences that refer
back to it ("this licence", "the licences granted here survive ..."). They are grouped by what
is licensed: users' content, AI inputs and outputs (a licence limited to what users type into
and get out of AI tools), or feedback (ideas about the service, not users' work; never
compared). Two documents' licences of the same object are compared concept by concept
(`compare`): wider (a right, qualifier or purpose added, a limit dropped), narrower, or the
same. Severity is by what was added: an AI purpose over users' content is high; others'
use, perpetual or irrevocable terms, survival, likeness, a new purpose or a dropped limit
medium; a right alone low.

Owns: the scope lexicon, licence sentences and their grouping, the comparison. Must never:
know about diffs or flags, or do I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from monitor.model import SEVERITY_ORDER, Severity
from monitor.rules.language import (
    CLAUSE_BREAK_RE,
    NEGATION_BEFORE_RE,
    Unit,
    compile_terms,
    read_context,
    split_units,
)


class Kind(StrEnum):
    RIGHT = "right"
    QUALIFIER = "qualifier"
    PURPOSE = "purpose"
    SURVIVAL = "survival"
    LIMIT = "limit"  # narrows the licence: added is narrower, dropped is wider


class Concept(NamedTuple):
    kind: Kind
    name: str
    severity: Severity  # what adding it to a licence over users' content is worth


# The scope lexicon: one concept per line, general licence terms only
LEXICON: dict[Concept, tuple[str, ...]] = {
    Concept(Kind.RIGHT, "host", Severity.LOW): ("host", "hosting", "store", "storing", "cache"),
    Concept(Kind.RIGHT, "reproduce", Severity.LOW): ("reproduc*", "copy", "copies", "copying"),
    Concept(Kind.RIGHT, "modify", Severity.LOW): (
        "modif*",
        "adapt",
        "adapting",
        "adapted",
        "edit",
        "editing",
        "alter",
        "altering",
        "translat*",
        "reformat*",
        "transform*",
    ),
    Concept(Kind.RIGHT, "derivative works", Severity.LOW): (
        "derivative work*",
        "derivatives",
        "adaptations",
    ),
    Concept(Kind.RIGHT, "distribute", Severity.LOW): (
        "distribut*",
        "transmit*",
        "syndicat*",
        "broadcast*",
        "stream",
        "streaming",
    ),
    Concept(Kind.RIGHT, "perform or display publicly", Severity.LOW): (
        "display*",
        "perform",
        "performing",
        "publicly",
        "publish*",
        "make available",
        "making available",
        "communicate to the public",
        "present",
        "presenting",
        "exhibit*",
    ),
    Concept(Kind.RIGHT, "sell or commercialise", Severity.MEDIUM): (
        "sell",
        "selling",
        "commerciali*",
        "commercially",
        "monetiz*",
        "monetis*",
        "exploit*",
    ),
    Concept(Kind.RIGHT, "name, voice or likeness", Severity.MEDIUM): (
        "likeness*",
        "voice",
        "your name",
        "biographical",
        "persona",
    ),
    Concept(
        Kind.QUALIFIER, "others may use it (sublicense, partners, affiliates)", Severity.MEDIUM
    ): (
        "sublicens*",
        "sub-licens*",
        "sub licens*",
        "multiple tiers",
        # others as grantees: "grant others the right", "allow others to use"
        r"re:\b(?:grant|allow|permit|authori[sz]e|enable|let)\s+(?:any\s+)?others\b",
        "partners",
        "affiliates",
        "third parties",
        "third-party",
    ),
    Concept(Kind.QUALIFIER, "perpetual", Severity.MEDIUM): ("perpetual*", "in perpetuity"),
    Concept(Kind.QUALIFIER, "irrevocable", Severity.MEDIUM): ("irrevocabl*",),
    Concept(Kind.QUALIFIER, "transferable", Severity.MEDIUM): ("transferable", "assignable"),
    Concept(Kind.QUALIFIER, "exclusive", Severity.MEDIUM): ("exclusive", "exclusively"),
    Concept(Kind.QUALIFIER, "unrestricted", Severity.MEDIUM): (
        "unrestricted",
        "unlimited",
        "any purpose",
    ),
    Concept(Kind.QUALIFIER, "royalty-free", Severity.LOW): (
        "royalty-free",
        "royalty free",
        "fully paid*",
        "fully-paid*",
        "without compensation",
    ),
    Concept(Kind.QUALIFIER, "worldwide", Severity.LOW): (
        "worldwide",
        "world-wide",
        "throughout the world",
    ),
    Concept(Kind.PURPOSE, "AI or machine learning", Severity.HIGH): (
        "AI",
        "artificial intelligence",
        "machine learning",
        "machine-learning",
        "ML",
        "train",
        "training",
        "generative",
        "language model*",
        "neural network*",
    ),
    Concept(Kind.PURPOSE, "developing products and features", Severity.MEDIUM): (
        "develop",
        "developing",
        "development",
        "research",
        "new products",
        "new features",
        "new services",
        "new features",
    ),
    Concept(Kind.PURPOSE, "promotion and advertising", Severity.MEDIUM): (
        "promot*",
        "marketing",
        "advertis*",
    ),
    Concept(Kind.SURVIVAL, "survives deletion or termination", Severity.MEDIUM): (
        "surviv*",
        "after you delete",
        "after deletion",
        "even after",
        "even if you delete",
        "even if you stop",
        "continue after",
        "after termination",
    ),
    Concept(Kind.LIMIT, "solely for stated purposes", Severity.MEDIUM): (
        "solely",
        "sole purpose",
        "only to",
        "only for",
        "only as",
        "only in connection",
        "as necessary",
        "as reasonably necessary",
        "strictly necessary",
        "to the extent necessary",
        "limited purpose*",
    ),
    Concept(Kind.LIMIT, "limited", Severity.MEDIUM): ("limited",),
    Concept(Kind.LIMIT, "revocable", Severity.MEDIUM): (
        "revocable",
        "until you delete",
        "until you remove",
    ),
}
PATTERNS = tuple((concept, compile_terms(terms)) for concept, terms in LEXICON.items())

# A grant to the platform: users are the grantors, or the platform the grantee
USER_GRANT_RE = re.compile(
    r"\b(?:you|users?|creators?|members?|subscribers?|customers?|contributors?)\b"
    r"(?:,?\s+\w+){0,3}?,?\s+(?:grants?|granting|give|gives|giving)\b"
    r"|\bgrant(?:s|ed)?\s+(?:to\s+)?us\b|\blicen[cs]ed\s+to\s+(?!you\b)\w",
    re.IGNORECASE,
)
# what is granted: a licence, or a right or permission to do something
LICENCE_NOUN_RE = re.compile(r"\blicen[cs](?:es?|ed)\b|\brights?\b|\bpermission\b", re.IGNORECASE)
LICENCE_RE = re.compile(r"\blicen[cs]e", re.IGNORECASE)
TO_USER_RE = re.compile(
    r"\b(?:grants?|granted)\s+(?:to\s+)?(?:you|users?|creators?|developers?)\b|\bgrants?\s+you\b",
    re.IGNORECASE,
)
EXPLICIT_USER_GRANT_RE = re.compile(r"\byou\s+(?:\w+\s+){0,3}?grant\b", re.IGNORECASE)
# A sentence about the licence already granted ("This license includes...", "The licenses
# granted here survive...")
BACK_REFERENCE_RE = re.compile(
    r"\b(?:this|these|such|foregoing|above)\s+(?:limited\s+)?licen[cs]es?\b"
    r"|\bthe\s+licen[cs]es?\s+(?:is|are|shall|will|includes?|granted|you\s+grant|described|above)\b"
    r"|\blicen[cs]es?\s+granted\s+(?:here|above|by\s+you|in\s+this)",
    re.IGNORECASE,
)
UNSOLICITED_RE = re.compile(r"\bunsolicited\b", re.IGNORECASE)
FEEDBACK_RE = re.compile(r"\b(?:feedback|suggestions?|ideas?|comments?)\b", re.IGNORECASE)
CONTENT_RE = re.compile(r"\bcontent\b|\bposts?\b|\buploads?\b|\bsubmissions?\b", re.IGNORECASE)
# What users make: a right or permission (not called a licence) is one only over these
WORK_RE = re.compile(
    r"\b(?:content|posts?|uploads?|submissions?|materials?|photos?|photographs?|videos?"
    r"|images?|recordings?|likeness|ugc)\b",
    re.IGNORECASE,
)
AI_IO_RE = re.compile(
    r"\binputs?\s+(?:and|or|&)\s+outputs?\b|\boutputs?\s+(?:and|or|&)\s+inputs?\b"
    r"|\b(?:AI|artificial\s+intelligence|generative)[\s-]+(?:inputs?|outputs?|prompts?)\b|\bprompts\b",
    re.IGNORECASE,
)
LICENCE_HINT_RE = re.compile(r"grant|licen[cs]", re.IGNORECASE)  # cheap: no licence without it
NEGATION_REACH = 12  # words before a term in which a negation (same clause) cancels it


class Licensed(StrEnum):
    """What a licence is over."""

    CONTENT = "content"  # users' content (the default)
    AI_IO = "AI inputs and outputs"
    FEEDBACK = "feedback"  # ideas about the service: not compared


class Found(NamedTuple):
    """Where a concept of a licence was found: the words, the sentence, the clause key."""

    words: str
    sentence: str
    key: str


@dataclass(slots=True)
class Scope:
    """The concepts of one object's licences in one document, each with where it was found."""

    concepts: dict[Concept, Found] = field(default_factory=dict)
    sentences: list[tuple[str, str]] = field(default_factory=list)  # (sentence, clause key)

    def add(self, sentence: str, key: str) -> None:
        self.sentences.append((sentence, key))
        for concept, pattern in PATTERNS:
            if concept in self.concepts:
                continue
            for hit in pattern.finditer(sentence):
                if not _negated(sentence, hit.start()):
                    self.concepts[concept] = Found(hit.group(0), sentence, key)
                    break


# "not" that negates no grant: "including but not limited to", "a right (but not an
# obligation) to publish", "the right, but not the obligation, to remove"
NOT_A_NEGATION_RE = re.compile(
    r"\bnot\s+limited\s+to\b|\bwithout\s+limitation\b"
    r"|\bbut\s+not\s+(?:an?|the)\s+(?:obligation|duty|requirement)\b",
    re.IGNORECASE,
)


# A right taken away, as a summary of changes says it ("We have removed the right for us to
# use your comments in perpetuity"): what follows is no longer granted. The verb must govern
# the right itself: "content removed from the Service" takes nothing away.
WITHDRAWN_RE = re.compile(
    r"\b(?:removed|dropped|eliminated|withdrawn|withdrew|rescinded)\s+"
    r"(?:the|our|its|this|that|any|their)\s+(?:[\w-]+\s+){0,2}?(?:rights?|licen[cs]es?|permissions?)\b",
    re.IGNORECASE,
)


def _negated(sentence: str, start: int) -> bool:
    before = NOT_A_NEGATION_RE.sub(" ", sentence[max(0, start - 200) : start])
    breaks = list(CLAUSE_BREAK_RE.finditer(before))
    clause = before[breaks[-1].end() :] if breaks else before
    words = " ".join(clause.split()[-NEGATION_REACH:])
    return bool(NEGATION_BEFORE_RE.search(words) or WITHDRAWN_RE.search(words))


@functools.lru_cache(maxsize=4096)
def is_grant(sentence: str) -> bool:
    """Whether `sentence` grants the platform a licence, right or permission (not one to users)."""
    if not LICENCE_HINT_RE.search(sentence):
        return False
    grant = next((g for g in USER_GRANT_RE.finditer(sentence) if _from_users(sentence, g)), None)
    if grant is None or not LICENCE_NOUN_RE.search(sentence):
        return False
    if not LICENCE_RE.search(sentence) and (
        grant.group(0).lower().endswith(("give", "gives", "giving"))
        or not (WORK_RE.search(sentence) or AI_IO_RE.search(sentence))
    ):
        return False  # a right or permission over something else: "permission to contact you"
    return not TO_USER_RE.search(sentence) or bool(EXPLICIT_USER_GRANT_RE.search(sentence))


# Who grants "us" a right when it is not users: the platform's own suppliers ("the rights our
# content providers grant to us", "third-party licensors grant us"); "channel owners" or
# "each Partner" granting us a licence are users of the platform, and stay grantors of one
OTHER_GRANTOR_RE = re.compile(
    r"\b(?:our|its|third[- ]party)\s+(?:[\w-]+\s+){0,2}?"
    r"(?:providers?|licensors?|partners?|suppliers?|vendors?)\s*$",
    re.IGNORECASE,
)


def _from_users(sentence: str, grant: re.Match[str]) -> bool:
    """Whether a grant USER_GRANT_RE found is one users make: "grants us" after another
    grantor ("our content providers grant to us") is not, nor is "is licensed to X" when the
    sentence names nothing users make ("the trademark is licensed to X", "the open-source
    software is licensed to us")."""
    said = grant.group(0).lower()
    if said.startswith("licen"):
        return bool(WORK_RE.search(sentence) or AI_IO_RE.search(sentence))
    if said.startswith("grant"):
        return not OTHER_GRANTOR_RE.search(sentence[max(0, grant.start() - 60) : grant.start()])
    return True


def licensed(sentence: str, lead_in: str = "") -> Licensed:
    """What a grant is over; what it is said under (`lead_in`) may name unsolicited ideas."""
    if AI_IO_RE.search(sentence):
        return Licensed.AI_IO
    if FEEDBACK_RE.search(sentence) and not CONTENT_RE.search(sentence):
        return Licensed.FEEDBACK
    if UNSOLICITED_RE.search(sentence) or UNSOLICITED_RE.search(lead_in):
        return Licensed.FEEDBACK  # ideas sent to the company, not what users post
    return Licensed.CONTENT


def licence_scopes(clauses: Iterable[tuple[str, str, str]]) -> dict[Licensed, Scope]:
    """The scope of each object's licences in a document, from its clauses in reading order,
    each as (key, text, lead-in): the grants to the platform, the units they lead, and the
    sentences that refer back to them."""
    scopes: dict[Licensed, Scope] = {}
    # the object of the last licence read: "this licence" refers to it (None: to a licence
    # granted to users, or to none yet)
    current: Licensed | None = None
    for key, text, lead_in in clauses:
        lead_grant = bool(lead_in) and is_grant(lead_in)
        if not lead_grant and not LICENCE_HINT_RE.search(text):
            continue
        for unit in split_units(text, lead_in):
            target = _target(unit, current)
            if is_grant(unit.text):
                current = target
            elif LICENCE_RE.search(unit.text) and TO_USER_RE.search(unit.text):
                current = None  # "we grant you a licence ...": what follows is about it
            if target is not None:
                scopes.setdefault(target, Scope()).add(unit.text, key)
    scopes.pop(Licensed.FEEDBACK, None)
    return scopes


def holds_licence(text: str, lead_in: str = "") -> bool:
    """Whether a clause (with its lead-in) holds a licence sentence: a grant, an item a grant
    leads, or a sentence about "this licence"."""
    if lead_in and is_grant(lead_in):
        return True
    if not LICENCE_HINT_RE.search(text):
        return False
    return any(
        is_grant(unit.text) or is_grant(unit.lead_in) or BACK_REFERENCE_RE.search(unit.text)
        for unit in split_units(text, lead_in)
    )


def _target(unit: Unit, current: Licensed | None) -> Licensed | None:
    """The object of the licence `unit` belongs to, or None when it belongs to none."""
    if is_grant(unit.text):
        return licensed(unit.text, unit.lead_in)
    if unit.lead_in and is_grant(unit.lead_in):
        if read_context(unit.lead_in).negated:
            # the list a grant's clause goes on to open is a ban or a promise ("Customer will
            # not: (i) use any Output to train ..."): its items bar uses, they grant none
            return None
        return licensed(f"{unit.lead_in} {unit.text}")
    if (
        LICENCE_HINT_RE.search(unit.text)
        and BACK_REFERENCE_RE.search(unit.text)
        and not TO_USER_RE.search(unit.text)
    ):
        return current
    return None


class Direction(StrEnum):
    INTRODUCED = "introduced"
    REMOVED = "removed"
    WIDER = "wider"
    NARROWER = "narrower"
    SAME = "same"


@dataclass(frozen=True, slots=True)
class Comparison:
    """How one object's licence changed between two documents."""

    licensed: Licensed
    direction: Direction
    added: tuple[Concept, ...]  # wider: concepts added, limits dropped
    dropped: tuple[Concept, ...]  # narrower: concepts dropped, limits added
    severity: Severity
    evidence: Found | None  # where the widest addition (or the narrowing) is


def _widening(old: Scope, new: Scope) -> list[tuple[Concept, Found]]:
    added = [
        (c, f)
        for c, f in new.concepts.items()
        if c.kind is not Kind.LIMIT and c not in old.concepts
    ]
    added += [
        (c, f) for c, f in old.concepts.items() if c.kind is Kind.LIMIT and c not in new.concepts
    ]
    return added


def compare(old: dict[Licensed, Scope], new: dict[Licensed, Scope]) -> list[Comparison]:
    """Each object's licence, old against new: introduced, removed, wider, narrower or the
    same. Wider and narrower at once counts as wider when what was added is worth medium or
    more, else as narrower (rights reworded while a limit was added, say)."""
    result = []
    for what in (Licensed.CONTENT, Licensed.AI_IO):
        before, after = old.get(what), new.get(what)
        if before is None and after is None:
            continue
        if before is None or after is None:
            present = after or before
            assert present is not None
            concepts = tuple(c for c in present.concepts if c.kind is not Kind.LIMIT)
            evidence = Found("", *present.sentences[0])
            if concepts:  # where the concept worth most is
                evidence = present.concepts[max(concepts, key=lambda c: SEVERITY_ORDER[c.severity])]
            if before is None:
                severity = _worth(what, concepts, introduced=True)
                result.append(
                    Comparison(what, Direction.INTRODUCED, concepts, (), severity, evidence)
                )
            else:
                result.append(
                    Comparison(what, Direction.REMOVED, (), concepts, Severity.LOW, evidence)
                )
            continue
        added, dropped = _widening(before, after), _widening(after, before)
        worth = _worth(what, tuple(c for c, _ in added))
        gained, lost = tuple(c for c, _ in added), tuple(c for c, _ in dropped)
        if added and (not dropped or SEVERITY_ORDER[worth] >= SEVERITY_ORDER[Severity.MEDIUM]):
            _, found = max(added, key=lambda cf: SEVERITY_ORDER[cf[0].severity])
            result.append(Comparison(what, Direction.WIDER, gained, lost, worth, found))
        elif dropped:
            result.append(
                Comparison(what, Direction.NARROWER, gained, lost, Severity.LOW, dropped[0][1])
            )
        else:
            result.append(Comparison(what, Direction.SAME, (), (), Severity.LOW, None))
    return result


def _worth(what: Licensed, added: tuple[Concept, ...], introduced: bool = False) -> Severity:
    """What widening a licence over `what` by `added` is worth: the most any added concept
    is worth; a new licence at least medium; a licence limited to AI inputs and outputs at
    most medium."""
    levels = [SEVERITY_ORDER[c.severity] for c in added]
    if introduced:
        levels.append(SEVERITY_ORDER[Severity.MEDIUM])
    level = max(levels, default=SEVERITY_ORDER[Severity.LOW])
    if what is Licensed.AI_IO:
        level = min(level, SEVERITY_ORDER[Severity.MEDIUM])
    return next(s for s, n in SEVERITY_ORDER.items() if n == level)
