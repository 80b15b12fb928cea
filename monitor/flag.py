"""Flagging: what a ChangeSet means for creators.

Owns: applying the rules to the old and the new text of every ClauseChange, and turning the
difference into Flags with a direction (introduced, removed, strengthened, weakened,
restated), a severity, the rule id and the quoted words that fired; and the assessment of a
ChangeSet's flags: is it a threat a creator should hear about, and how serious. A promise not
to train is good news (protective), never a threat; a protective promise that is removed or
hedged ("by default, we do not train...") is. Cosmetic, moved and renumbered changes yield
nothing. Clause verdicts are checked against the two whole documents: the content licence is
compared by scope (monitor.rules.scope), every other concept by whether each document holds
it (issue 17 classes 4-5). Must never: do I/O, or know how alerts are published.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import NamedTuple

from monitor.diff import canonical
from monitor.model import (
    SEVERITY_ORDER,
    Category,
    ChangeKind,
    ChangeSet,
    ClauseChange,
    Direction,
    Document,
    Flag,
    Match,
    Severity,
)
from monitor.rules import scope
from monitor.rules.language import (
    MAX_LEAD_IN_CHARS,
    Actor,
    RuleSet,
    prohibits_others,
    split_sentences,
)
from monitor.rules.policy import THREAT_CATEGORIES, is_good_news, is_threat

# Wording that turns a firm promise into a default or a conditional one.
HEDGE_RE = re.compile(
    r"\b(?:by\s+default|unless|except|generally|typically|currently|at\s+this\s+time|may\s+(?:still\s+)?use"
    r"|opt(?:ed)?[- ]in|if\s+you\s+(?:choose|allow|enable|share)|where\s+permitted)\b",
    re.IGNORECASE,
)
# A promise over all of users' data or content, not a kind of it
GENERAL_OBJECT_RE = re.compile(
    r"\b(?:your|any|no|all)\s+(?:personal\s+|user\s+)?(?:data|information|content)\b(?!\s+(?:of|from|in|about|that|which|you)\b)",
    re.IGNORECASE,
)
LIST_ITEM_CHARS = 600  # a clause longer than this ends the list a lead-in introduced
# ... and so does an unnumbered paragraph of this many sentences or more: unnumbered items are
# a phrase, a sentence or a titled sentence ("Voice data. Your voice clips ..."); a numbered
# item ("2. Adapt and Display Content: ... For example, ...") may be longer
LIST_ITEM_SENTENCES = 3
# Words a restated sentence may gain without saying anything new: articles, conjunctions,
# the relative words that re-cut a parenthesis ("(which includes" -> "(including"), pronouns
# and prepositions (a typo fixed: "data we use train out models" -> "to train our models";
# "such as" said "like"), "also" and "any" ("content" said "any content"). Never a negation
# or a modal: "may not", "will" change the meaning.
GLUE_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "which",
        "that",
        "this",
        "these",
        "those",
        "its",
        "their",
        "such",
        "as",
        "includes",
        "including",
        "include",
        "to",
        "our",
        "your",
        "we",
        "us",
        "in",
        "on",
        "for",
        "with",
        "by",
        "like",
        "also",
        "any",
    ]
)
# Words that carry what a sentence about AI use, data, content or sharing says (matched at the
# word's start, so that every inflection counts): AI and model building, purposes, what is used
# (data, content, media), grants and their scope, who uses or receives it, modality, negation
# and limits. A restated sentence whose gained words are none of these, nor a name, says what
# it said of the concept its rule matched ("toggle" said "setting", "any of" said "most of", a
# list of other purposes gaining one more).
CONCEPT_WORD_RE = re.compile(
    r"(?:train|learn|model|ai\b|a\.i|artificial|intelligen|algorithm|machine|neural|llm|gpt"
    r"|generat|develop|improv|build|enhanc|refin|fine|tun|test|evaluat|research|innovat"
    r"|product|service|feature|technolog|system|tool|agent|assistant"
    r"|data|content|information|personal|voice|audio|record|video|image|photo|picture|screen"
    r"|message|conversation|chat|post|comment|review|upload|submi|input|output|prompt|file"
    r"|usage|activit|interaction|biometric|face|likeness|name|work|creat|material|text"
    r"|licen|sublicen|right|grant|own|perpetu|irrevoc|worldwide|royalt|commerc|derivativ"
    r"|modif|adapt|distribut|display|perform|reproduc|publish|public|copy|shar|disclos|sell"
    r"|sold|transfer|provid|third|partner|affiliat|vendor|compan|other|user|customer|member"
    r"|everyone|anyone|all\b|may|might|can|could|will|would|shall|must|allow|permit|consent"
    r"|opt|object|not|never|no\b|without|except|only|solely|unless|anonymi|de-?identif"
    r"|aggregat|pseudonymi|retain|keep|stor|delet|remov)"
)
# Words that limit a use: one dropped from a sentence widens it
LIMIT_WORD_RE = re.compile(
    r"(?:except|excluding|unless|only|solely|exclusively|strictly|not|never|no|without|consent"
    r"|permission|anonymi[sz]\w*|de-?identif\w*|deidentif\w*|aggregat\w*|pseudonymi[sz]\w*"
    r"|limited|necessary)$"
)
NAME_RE = re.compile(r"\b[A-Z][\w'’]*[a-z][\w'’]*")  # Gemini, Apps, PlayStation; not AI, LLM
NAME_RUN_RE = re.compile(r"\b[A-Z][\w'’]*(?:\s+[A-Z][\w'’]*)+")  # capitalised words in a row
ACRONYM_RE = re.compile(r"[A-Z]{2,5}")
WORD_TOKEN_RE = re.compile(r"\w+(?:['’]\w+)?")
# Capitalised defined terms for who else gets content: never a product's new name
RECIPIENT_WORDS = frozenset(
    [
        "affiliates",
        "affiliate",
        "partners",
        "partner",
        "third",
        "parties",
        "party",
        "providers",
        "provider",
        "vendors",
        "vendor",
        "subsidiaries",
        "subsidiary",
        "companies",
        "company",
        "licensees",
        "licensee",
    ]
)
SENTENCE_START_RE = re.compile(r"(?:^|[.!?;:]\s+|\n)\W*(\w+)")
NO_FLAG_KINDS = frozenset({ChangeKind.MOVED, ChangeKind.RENUMBERED})


def _strongest(matches: Iterable[Match]) -> Match:
    return max(matches, key=lambda m: (SEVERITY_ORDER[m.severity], len(m.words)))


def _direction(category: Category, old: list[Match], new: list[Match]) -> Direction | None:
    if new and not old:
        return Direction.INTRODUCED
    if old and not new:
        return Direction.REMOVED
    old_sentences = {m.sentence for m in old}
    if {m.sentence for m in new} <= old_sentences:
        return None  # the flagged sentences are untouched; the change was elsewhere in the clause
    if category is Category.PROTECTIVE:
        old_hedges = {h.lower() for m in old for h in HEDGE_RE.findall(m.sentence)}
        new_hedges = {h.lower() for m in new for h in HEDGE_RE.findall(m.sentence)}
        if new_hedges - old_hedges:
            return Direction.WEAKENED
        if old_hedges - new_hedges:
            return Direction.STRENGTHENED
    old_rules, new_rules = {m.rule_id for m in old}, {m.rule_id for m in new}
    old_words = {w.lower() for m in old for w in m.words}
    new_words = {w.lower() for m in new for w in m.words}
    if category is Category.PROTECTIVE and new_rules == old_rules and not new_words > old_words:
        # a promise that loses a word it fired on ("generative AI models" -> "AI models")
        # covers more, not less: only a hedge or a lost rule weakens it
        return None if _says_nothing_new(old, new) else Direction.RESTATED
    if new_rules > old_rules or (new_rules == old_rules and new_words > old_words):
        return Direction.STRENGTHENED
    if new_rules < old_rules or (new_rules == old_rules and new_words < old_words):
        return Direction.WEAKENED
    if _says_nothing_new(old, new, concepts_only=True):
        return None
    return Direction.RESTATED


def _names(sentence: str) -> set[str]:
    """The capitalised words inside a sentence (not its first word): names of products,
    companies and plans, as written; an acronym inside a run of them belongs to the name
    ("Studio AI Pro", "Writer's Generative AI")."""
    starts = {s.start(1) for s in SENTENCE_START_RE.finditer(sentence)}
    names = {
        token.group(0)
        for token in NAME_RE.finditer(sentence)
        if token.start() not in starts and token.group(0).lower() not in RECIPIENT_WORDS
    }
    for run in NAME_RUN_RE.finditer(sentence):
        words = run.group(0).split()
        if any(w in names for w in words):
            names.update(w for w in words if ACRONYM_RE.fullmatch(w))
    return names


def _says_nothing_new(
    old: list[Match], new: list[Match], renames: bool = True, concepts_only: bool = False
) -> bool:
    """Whether the new sentences only drop (no limit: "except", "only", "anonymised"),
    reorder or respell the old ones' words, or gain
    nothing but glue words and names that replace names they lost: a product or company
    renamed ("Bard" becoming "Gemini Apps") is cosmetic, as the label definitions say. A name
    only added ("Microsoft" becoming "Microsoft and OpenAI": a new recipient) is news, and so
    is a gained name the rules fired on, an acronym (AI, LLM), a defined term for others
    (Affiliates, Third Parties, Partners) or a sentence's first word. `renames`: whether a
    name may stand for a name lost (not when `old` is any sentence of the old document).
    `concepts_only`: only gained concept words (CONCEPT_WORD_RE), names and acronyms are news.
    """
    old_text = " ".join(m.sentence for m in old)
    old_words = set(canonical(old_text).split())
    new_words = set(canonical(" ".join(m.sentence for m in new)).split())
    if any(LIMIT_WORD_RE.match(word) for word in old_words - new_words):
        return False  # a limit dropped ("..., except that we will not ... of EEA users") widens
    fired = {w.lower() for m in new for w in m.words for w in w.split()}
    new_names: set[str] = set()
    for m in new:
        new_names |= _names(m.sentence)
    lost_name = renames and bool(_names(old_text) - new_names)
    for m in new:
        for token in WORD_TOKEN_RE.finditer(m.sentence):
            word = token.group(0)
            parts = canonical(word).split()
            if all(part in old_words for part in parts):
                continue
            if len(word) == 1 or word.lower() in GLUE_WORDS:
                continue  # "model(s)", "(which includes" -> "(including"
            if lost_name and word in new_names and word.lower() not in fired:
                continue
            if (
                concepts_only
                and word not in new_names
                and not ACRONYM_RE.fullmatch(word)
                and word.lower() not in fired
                and not any(CONCEPT_WORD_RE.match(part) for part in parts)
            ):
                continue
            return False
    return True


def _severity(category: Category, direction: Direction, rule_severity: Severity) -> Severity:
    if category not in THREAT_CATEGORIES and not (
        category is Category.PROTECTIVE and direction in (Direction.REMOVED, Direction.WEAKENED)
    ):
        return rule_severity
    if direction is Direction.INTRODUCED:
        return rule_severity
    if direction is Direction.STRENGTHENED:
        return min(rule_severity, Severity.MEDIUM, key=SEVERITY_ORDER.__getitem__)
    return Severity.LOW


def _without_shadowed(matches: list[Match]) -> list[Match]:
    """Sharing named only to bind a provider not to train ("...shares data with a provider, who
    is under a contractual obligation not to train") is the promise, not a new sharing; the AI
    words of a sentence that bans others from training ("we prohibit any use of our content
    for the development of AI") are the ban, not a platform right."""
    protective = {m.sentence for m in matches if m.category is Category.PROTECTIVE}
    bans = {m.sentence for m in matches if m.category is Category.OTHERS_MAY_NOT_TRAIN}
    return [
        m
        for m in matches
        if not (m.category is Category.DATA_SHARING and m.sentence in protective | bans)
        and not (m.category in THREAT_CATEGORIES and m.sentence in bans)
    ]


def _reconcile(flags: list[Flag]) -> list[Flag]:
    """A clause text that left one clause and arrived in another (a rewrite that moved it) is
    one restated, strengthened or weakened meaning, not a removal plus an introduction."""
    result = list(flags)
    for category in {f.category for f in flags}:
        introduced = [
            f for f in result if f.category is category and f.direction is Direction.INTRODUCED
        ]
        removed = [f for f in result if f.category is category and f.direction is Direction.REMOVED]
        for new, old in zip(introduced, removed, strict=False):
            old_words = {w.lower() for w in old.words}
            new_words = {w.lower() for w in new.words}
            if new_words > old_words:
                direction = Direction.STRENGTHENED
            elif new_words < old_words:
                direction = Direction.WEAKENED
            else:
                direction = Direction.RESTATED
            severity = _severity(category, direction, new.severity)
            result[result.index(new)] = replace(new, direction=direction, severity=severity)
            result.remove(old)
    return result


QUOTE_CHARS = 400  # the most of a sentence a Flag quotes, around the words that fired


def quote(sentence: str, words: Iterable[str], limit: int = QUOTE_CHARS) -> str:
    """`sentence`, or when it is longer than `limit` a window of it around the first of `words`
    found in it, cut at spaces and marked with "…"."""
    if len(sentence) <= limit:
        return sentence
    lowered = sentence.lower()
    found = [i for w in words if w and (i := lowered.find(w.lower())) >= 0]
    centre = min(found) if found else 0
    start = max(0, centre - limit // 3)
    end = min(len(sentence), start + limit)
    start = max(0, end - limit)
    if start > 0:
        space = sentence.find(" ", start, start + 40)
        start = space + 1 if space >= 0 else start
    if end < len(sentence):
        space = sentence.rfind(" ", end - 40, end)
        end = space if space > start else end
    return (
        ("…" if start > 0 else "")
        + sentence[start:end].strip()
        + ("…" if end < len(sentence) else "")
    )


def _may_have_sentences(text: str, count: int) -> bool:
    """Whether `text` has the punctuation of `count` sentences or more: each sentence but the
    last ends at a . ! ? or ; (language.SENTENCE_RE). Counting them is a tenth of splitting,
    and most list items have one."""
    marks = 0
    for mark in ".!?;":
        marks += text.count(mark)
        if marks >= count - 1:
            return True
    return False


def lead_ins(document: Document | None) -> dict[str, str]:
    """The context of each clause of `document`, by key: the lead-in of the list it belongs to
    (the nearest clause before it under the same headings that ends with a colon, with only
    list-item-sized clauses between), else its innermost heading."""
    if document is None:
        return {}
    result: dict[str, str] = {}
    lead, path = "", None
    for clause in document.clauses:
        if clause.heading_path != path:
            lead, path = "", clause.heading_path
        heading = clause.heading_path[-1] if clause.heading_path else ""
        result[clause.key] = lead or heading
        text = clause.text.rstrip()
        if text.endswith(":") and len(text) <= MAX_LEAD_IN_CHARS:
            lead = text
        elif text.endswith(":"):
            # a long paragraph that ends in a list's lead-in: its last sentence introduces the
            # items ("..., you must not use the Site in any of the following ways:")
            last = split_sentences(text)[-1]
            lead = last if len(last) <= 2 * MAX_LEAD_IN_CHARS else ""
        elif len(text) > LIST_ITEM_CHARS or (
            lead
            and not clause.label
            and _may_have_sentences(text, LIST_ITEM_SENTENCES)
            and len(split_sentences(text)) >= LIST_ITEM_SENTENCES
        ):
            lead = ""
    return result


def _matches(
    change: ClauseChange, rules: RuleSet, context: tuple[str, str]
) -> tuple[list[Match], list[Match]]:
    """The Matches of a change's old and new clause (none for cosmetic and moved changes)."""
    if change.cosmetic or change.kind in NO_FLAG_KINDS:
        return [], []
    old = _without_shadowed(rules.match(change.old.text, None, context[0])) if change.old else []
    new = _without_shadowed(rules.match(change.new.text, None, context[1])) if change.new else []
    return old, new


def flag_change(
    change: ClauseChange, index: int, rules: RuleSet, context: tuple[str, str] = ("", "")
) -> list[Flag]:
    """The Flags one clause change raises; `context` holds the lead-ins of its old and new
    clause."""
    return _clause_flags(change, index, rules, *_matches(change, rules, context))


def _clause_flags(
    change: ClauseChange,
    index: int,
    rules: RuleSet,
    old: list[Match],
    new: list[Match],
    sentences: dict[tuple[int, str], str] | None = None,
) -> list[Flag]:
    """The flags of one change from the Matches of its two sides; `sentences` gets the whole
    sentence behind each flag's quote, by (change index, quote)."""
    flags = []
    for category in dict.fromkeys([m.category for m in new] + [m.category for m in old]):
        old_c = [m for m in old if m.category is category]
        new_c = [m for m in new if m.category is category]
        direction = _direction(category, old_c, new_c)
        if direction is None:
            continue
        if direction is Direction.REMOVED:
            evidence = _strongest(old_c)
        else:
            old_sentences = {m.sentence for m in old_c}
            fresh = [m for m in new_c if m.sentence not in old_sentences] or new_c
            evidence = _strongest(fresh)
        rule = rules.by_id[evidence.rule_id]
        quoted = quote(evidence.sentence, evidence.words)
        if sentences is not None:
            sentences[(index, quoted)] = evidence.sentence
        flags.append(
            Flag(
                category=category,
                severity=_severity(category, direction, evidence.severity),
                direction=direction,
                rule_id=evidence.rule_id,
                description=rule.description,
                evidence=quoted,
                words=evidence.words,
                change_index=index,
                change_key=change.key,
            )
        )
    return flags


def _side_keys(change: ClauseChange, side: str) -> list[str]:
    """The keys of the clauses on one side of a change (each part of a split or merge)."""
    clause = change.old if side == "old" else change.new
    if clause is None:
        return []
    parted = (side == "old" and change.kind is ChangeKind.MERGED) or (
        side == "new" and change.kind is ChangeKind.SPLIT
    )
    return [p.key for p in change.parts] if parted and change.parts else [clause.key]


@dataclass(frozen=True, slots=True)
class _Pair:
    """What flag_changes knows of the two documents: their clauses in reading order as
    (key, text, lead-in), which clause keys each change touched, and the clauses no change
    touched (key, text, lead-in in the new document, lead-in in the old one)."""

    old: list[tuple[str, str, str]]
    new: list[tuple[str, str, str]]
    changed_old: dict[str, int]  # clause key -> index of the change (not cosmetic, not moved)
    changed_new: dict[str, int]
    unchanged: list[tuple[str, str, str, str]]
    change_keys: list[str]

    @property
    def lead_changed(self) -> bool:
        """Whether an unchanged clause now reads under another lead-in."""
        return any(lead != old_lead for _, _, lead, old_lead in self.unchanged)

    def nearest_change(self, key: str) -> int | None:
        """The change nearest before clause `key` of the new document (the one that changed
        its context), else the first change."""
        best = None
        for clause_key, _, _ in self.new:
            if clause_key == key:
                break
            best = self.changed_new.get(clause_key, best)
        return best if best is not None else (0 if self.change_keys else None)


def _pair(
    changeset: ChangeSet,
    documents: tuple[Document | None, Document | None],
    leads: tuple[dict[str, str], dict[str, str]],
) -> _Pair:
    changed: dict[str, dict[str, int]] = {"old": {}, "new": {}}
    for i, change in enumerate(changeset.changes):
        if change.cosmetic or change.kind in NO_FLAG_KINDS:
            continue
        for side in ("old", "new"):
            for key in _side_keys(change, side):
                changed[side].setdefault(key, i)
    sides = []
    for document, side, lead in zip(documents, ("old", "new"), leads, strict=True):
        if document is not None:
            sides.append([(c.key, c.text, lead.get(c.key, "")) for c in document.clauses])
        else:  # only the changed clauses are known
            clauses = [
                clause
                for change in changeset.changes
                if not change.cosmetic and change.kind not in NO_FLAG_KINDS
                for clause in ([change.old] if side == "old" else [change.new])
                if clause is not None
            ]
            sides.append([(c.key, c.text, "") for c in clauses])
    unchanged = []
    if documents[0] is not None and documents[1] is not None:
        # a text may stand more than once (a table of contents repeats the headings): its lead
        # changed only when the old document never read it under the new lead
        old_leads: dict[str, list[str]] = {}
        for key, text, before in sides[0]:
            if key not in changed["old"]:
                old_leads.setdefault(text, []).append(before)
        unchanged = [
            (key, text, lead, lead if lead in old_leads.get(text, [lead]) else old_leads[text][0])
            for key, text, lead in sides[1]
            if key not in changed["new"]
        ]
    return _Pair(
        sides[0],
        sides[1],
        changed["old"],
        changed["new"],
        unchanged,
        [c.key for c in changeset.changes],
    )


def _licence_flags(flags: list[Flag], pair: _Pair, changeset: ChangeSet) -> list[Flag]:
    """The content-licence flags, from the licence's scope in the whole old and new document
    (monitor.rules.scope) instead of clause by clause: a licence rewritten, moved into a new
    section or split into list items is compared with its predecessor, whatever the clause
    diff paired it with. Only a licence text that changed raises a flag, so the documents are
    read only when a changed clause holds a licence sentence."""
    if not any(
        scope.holds_licence(text, lead)
        for side, keys in ((pair.old, pair.changed_old), (pair.new, pair.changed_new))
        for key, text, lead in side
        if key in keys
    ):
        return [f for f in flags if f.category is not Category.CONTENT_LICENSE]
    comparisons = scope.compare(scope.licence_scopes(pair.old), scope.licence_scopes(pair.new))
    changed_licence = [c for c in comparisons if c.direction is not scope.Direction.SAME]
    if not changed_licence and not any(f.category is Category.CONTENT_LICENSE for f in flags):
        return flags
    result = [f for f in flags if f.category is not Category.CONTENT_LICENSE]
    for comparison in changed_licence:
        flag = _licence_flag(comparison, pair, changeset)
        if flag is not None:
            result.append(flag)
    return result


SCOPE_DIRECTION = {
    scope.Direction.INTRODUCED: Direction.INTRODUCED,
    scope.Direction.REMOVED: Direction.REMOVED,
    scope.Direction.WIDER: Direction.STRENGTHENED,
    scope.Direction.NARROWER: Direction.WEAKENED,
}
SCOPE_RULE_ID = "content_license.scope"


def _licence_flag(comparison: scope.Comparison, pair: _Pair, changeset: ChangeSet) -> Flag | None:
    found = comparison.evidence
    if found is None:
        return None
    index = next(
        (
            changed[found.key]
            for clauses, changed in ((pair.new, pair.changed_new), (pair.old, pair.changed_old))
            if found.key in changed
            and any(key == found.key and found.sentence in text for key, text, _ in clauses)
        ),
        None,
    )
    if index is None:
        return None  # the difference is not in any changed clause's text
    direction = SCOPE_DIRECTION[comparison.direction]
    what = comparison.licensed.value
    if direction in (Direction.INTRODUCED, Direction.STRENGTHENED):
        concepts = comparison.added
        description = f"A licence over your {what} is new or wider: " + ", ".join(
            c.name if c.kind is not scope.Kind.LIMIT else f"no longer {c.name}" for c in concepts
        )
    else:
        concepts = comparison.dropped
        description = f"The licence over your {what} is narrower or gone: " + ", ".join(
            c.name if c.kind is not scope.Kind.LIMIT else f"now {c.name}" for c in concepts
        )
    words = (found.words,) if found.words else ()
    return Flag(
        category=Category.CONTENT_LICENSE,
        severity=comparison.severity,
        direction=direction,
        rule_id=SCOPE_RULE_ID,
        description=description.rstrip(": "),
        evidence=quote(found.sentence, words),
        words=words,
        change_index=index,
        change_key=changeset.changes[index].key,
    )


# The concepts checked against the whole documents (the content licence has its own check,
# by scope), and those whose matches decide what a sentence means (a ban shadows AI words)
DOCUMENT_CATEGORIES = frozenset(
    {
        Category.AI_TRAINING,
        Category.THIRD_PARTY_AI,
        Category.DATA_SHARING,
        Category.OPT_OUT,
        Category.PROTECTIVE,
    }
)
SHADOWING = frozenset({Category.PROTECTIVE, Category.OTHERS_MAY_NOT_TRAIN})


class _Profile:
    """The concepts one document holds: per category, the rules that fired and the
    sentences they fired on (canonical), and the Matches themselves with where they are."""

    def __init__(self) -> None:
        self.rules: dict[Category, set[str]] = {}
        self.sentences: dict[Category, set[str]] = {}
        self.matches: dict[Category, list[tuple[Match, int | None, str]]] = {}
        self._postings: dict[Category, dict[str, set[int]]] = {}  # for says_it

    def add(self, matches: Iterable[Match], index: int | None, key: str) -> None:
        for m in matches:
            if m.category in DOCUMENT_CATEGORIES:
                self.rules.setdefault(m.category, set()).add(m.rule_id)
                self.matches.setdefault(m.category, []).append((m, index, key))

    def words(self, category: Category, rule_id: str) -> set[str]:
        """The words (lower-cased) `rule_id` fired on in this document."""
        return {
            w.lower()
            for m, _, _ in self.matches.get(category, [])
            if m.rule_id == rule_id
            for w in m.words
        }

    def general_promise(self, rule_id: str) -> bool:
        """Whether this document still makes the promise `rule_id` reads over all of users'
        data or content ("We do not use your data to train any AI model"), without a hedge:
        a narrower promise removed beside it is rewritten, not withdrawn. One over other
        things ("your messages") does not cover a promise removed about photos."""
        return any(
            m.rule_id == rule_id
            and GENERAL_OBJECT_RE.search(m.sentence)
            and not HEDGE_RE.search(m.sentence)
            for m, _, _ in self.matches.get(Category.PROTECTIVE, [])
        )

    def says_it(self, category: Category, sentence: str, words: tuple[str, ...]) -> bool:
        """Whether a sentence of this document that `category` fired on says all that
        `sentence` (fired on `words`) says: the new one is an old one moved, shortened or
        respelt, or with glue words gained (what a restated clause may do without a flag),
        whether the old one is gone (moved) or stays (a page read twice over, a summary of
        it). No name may stand for another here: the same sentence about another product is
        news, and so is one that drops a limit.
        """
        needed: set[str] = set()  # the words an old sentence must hold (as the test reads)
        for token in WORD_TOKEN_RE.finditer(sentence):
            word = token.group(0)
            if len(word) > 1 and word.lower() not in GLUE_WORDS:
                needed.update(canonical(word).split())
        found = self.matches.get(category, [])
        postings = self._postings.get(category)
        if postings is None:  # each old sentence's words, indexed once per category
            postings = self._postings[category] = {}
            for n, (m, _, _) in enumerate(found):
                for part in set(canonical(m.sentence).split()):
                    postings.setdefault(part, set()).add(n)
        candidates: set[int] | None = None
        for part in sorted(needed, key=lambda p: len(postings.get(p, ()))):
            candidates = (
                postings.get(part, set())
                if candidates is None
                else candidates & postings.get(part, set())
            )
            if not candidates:
                return False
        new = [Match("", category, Severity.LOW, sentence, words)]
        return any(
            _says_nothing_new([found[n][0]], new, renames=False)
            for n in sorted(candidates if candidates is not None else range(len(found)))
        )

    def has_sentence(self, category: Category, sentence: str) -> bool:
        known = self.sentences.get(category)
        if known is None:
            found = self.matches.get(category, [])
            known = self.sentences[category] = {canonical(m.sentence) for m, _, _ in found}
        return canonical(sentence) in known


def _document_check(
    flags: list[Flag],
    rules: RuleSet,
    pair: _Pair,
    matched: list[tuple[list[Match], list[Match]]],
    sentences: dict[tuple[int, str], str],
) -> list[Flag]:
    """Clause verdicts checked against a document-level one (issue 17 class 5). Clause
    pairing is weak when a new policy is put above the old one or the whole policy is
    rewritten: text that only moved reads as introduced (or removed), and a concept can come
    from context (a lead-in rewritten above unchanged list items). Per concept, present in
    the old document and in the new one:
    - an introduced flag whose sentence the old document already held is dropped; one whose
      rule already fired in the old document on all of its words is `restated`, one whose
      rule or category did with other words is `strengthened`;
    - a removed flag whose sentence, or whose rule on all of its words, the new document
      still holds is dropped, and so is a promise removed while the same promise stands,
      unhedged, over all of users' data or content;
    - a strengthened or restated flag whose sentence the old document already held is dropped,
      and so is one whose rule reads the use from a control over it (an opt-out of training)
      when the old document already stated the use: the control is the news (`opt_out`);
    - a concept present in the new document and absent from the old one that no flag shows
      is `introduced`.
    Each document's sentences are matched once: the changed clauses' Matches are reused and
    the unchanged clauses are matched only for the categories in question."""
    changed_new = [m for _, new in matched for m in new if m.category in DOCUMENT_CATEGORIES]
    changed_old = [m for old, _ in matched for m in old if m.category in DOCUMENT_CATEGORIES]
    old, new = _Profile(), _Profile()
    for i, (old_m, new_m) in enumerate(matched):
        old.add(old_m, i, "")
        new.add(new_m, i, "")
    # an unchanged clause under a rewritten lead-in may say something new
    everything = frozenset(DOCUMENT_CATEGORIES | SHADOWING)
    context_new: set[Category] = set()
    for key, text, lead, old_lead in pair.unchanged:
        if lead != old_lead:
            now = _without_shadowed(rules.match(text, everything, lead))
            before = _without_shadowed(rules.match(text, everything, old_lead))
            new.add(now, None, key)
            old.add(before, None, key)
            context_new |= {m.category for m in now} - {m.category for m in before}
    asked = (
        {
            f.category
            for f in flags
            if f.category in DOCUMENT_CATEGORIES and f.direction is not Direction.WEAKENED
        }
        | ({m.category for m in changed_new} - {m.category for m in changed_old})
        | (context_new & DOCUMENT_CATEGORIES)
    )
    if not asked:
        return flags
    wanted = frozenset(asked | SHADOWING)
    for key, text, lead, old_lead in pair.unchanged:
        if lead == old_lead:
            found = _without_shadowed(rules.match(text, wanted, lead))
            new.add(found, None, key)
            old.add(found, None, key)
    result = []
    for flag in flags:
        checked = _checked(
            flag,
            old,
            new,
            sentences.get((flag.change_index, flag.evidence)),
            (rule := rules.by_id.get(flag.rule_id)) is not None and rule.implied,
        )
        if checked is not None:
            result.append(checked)
    shown = {f.category for f in result if f.direction is not Direction.REMOVED}
    for category in sorted(asked - shown - old.rules.keys(), key=lambda c: c.value):
        present = new.matches.get(category)
        if not present:
            continue
        match, index, key = max(present, key=lambda item: SEVERITY_ORDER[item[0].severity])
        if index is None:
            index = pair.nearest_change(key)
            if index is None:
                continue
            key = key or pair.change_keys[index]
        result.append(
            Flag(
                category=category,
                severity=_severity(category, Direction.INTRODUCED, match.severity),
                direction=Direction.INTRODUCED,
                rule_id=match.rule_id,
                description=rules.by_id[match.rule_id].description,
                evidence=quote(match.sentence, match.words),
                words=match.words,
                change_index=index,
                change_key=key or pair.change_keys[index],
            )
        )
    return result


def _checked(
    flag: Flag, old: _Profile, new: _Profile, sentence: str | None, implied: bool = False
) -> Flag | None:
    """`flag` as the two documents' concepts read it, or None when they show no change.
    `implied`: the flag's rule reads the use from a control over it (Rule.implied)."""
    category = flag.category
    if category not in DOCUMENT_CATEGORIES or flag.direction is Direction.WEAKENED:
        return flag
    sentence = sentence or flag.evidence
    if flag.direction is Direction.REMOVED:
        still = flag.rule_id in new.rules.get(category, ()) and not (
            {w.lower() for w in flag.words} - new.words(category, flag.rule_id)
        )
        if category is Category.PROTECTIVE and not still:
            still = new.general_promise(flag.rule_id)
        return None if still or new.has_sentence(category, sentence) else flag
    if old.has_sentence(category, sentence):
        return None  # the sentence was already there: moved or repeated
    if old.says_it(category, sentence, flag.words):
        return None  # an old sentence, shortened or respelt, that pairing did not find
    if implied and old.rules.get(category):
        return None  # a control over a use the old document already stated: the control's news
    if flag.direction is not Direction.INTRODUCED:
        return flag
    before = old.rules.get(category, set())
    if flag.rule_id in before:
        # the same rule, with no word it did not fire on before: the concept restated
        said = old.words(category, flag.rule_id)
        fresh = {w.lower() for w in flag.words} - said
        direction = Direction.STRENGTHENED if fresh else Direction.RESTATED
    elif before:
        direction = Direction.STRENGTHENED
    else:
        return flag
    rule_severity = flag.severity  # introduced flags carry their rule's severity
    return replace(
        flag, direction=direction, severity=_severity(category, direction, rule_severity)
    )


def flag_changes(
    changeset: ChangeSet,
    rules: RuleSet,
    documents: tuple[Document | None, Document | None] = (None, None),
    *,
    whole_documents: bool = True,
) -> tuple[Flag, ...]:
    """Every Flag a ChangeSet raises, in the order of its changes. Cosmetic sets raise none.

    `documents` (old, new), when given, lend each clause its context (the lead-in sentence of
    the list it belongs to). The clause verdicts are then checked against the whole
    documents: the content licence is compared by scope, and every other concept by whether
    each document holds it (`whole_documents=False` skips both, for benchmarks that measure
    what they change)."""
    if changeset.is_cosmetic:
        return ()
    leads = (lead_ins(documents[0]), lead_ins(documents[1]))
    flags = []
    matched = []
    sentences: dict[tuple[int, str], str] = {}
    for i, change in enumerate(changeset.changes):
        context = (
            leads[0].get(change.old.key, "") if change.old else "",
            leads[1].get(change.new.key, "") if change.new else "",
        )
        found = _matches(change, rules, context)
        matched.append(found)
        flags += _clause_flags(change, i, rules, *found, sentences)
    flags = _reconcile(flags)
    if whole_documents:
        pair = _pair(changeset, documents, leads)
        if any(r.category is Category.CONTENT_LICENSE for r in rules.rules):
            flags = _licence_flags(flags, pair, changeset)
        flags = _document_check(flags, rules, pair, matched, sentences)
    return tuple(sorted(flags, key=lambda f: f.change_index))


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the flags of one ChangeSet add up to for a creator."""

    alert: bool
    severity: Severity | None
    threats: tuple[Flag, ...]
    good_news: tuple[Flag, ...]  # promises and opt-outs introduced or strengthened
    other: tuple[Flag, ...]


def assess(flags: Iterable[Flag]) -> Assessment:
    flags = tuple(flags)
    threats = tuple(f for f in flags if is_threat(f))
    good = tuple(f for f in flags if is_good_news(f))
    other = tuple(f for f in flags if f not in threats and f not in good)
    severity = (
        max((f.severity for f in threats), key=SEVERITY_ORDER.__getitem__) if threats else None
    )
    return Assessment(bool(threats), severity, threats, good, other)


class Reading(NamedTuple):
    """What one sentence says for creators: its strongest category, and who would use,
    receive or be barred from the content (None: nobody)."""

    category: Category | None
    actor: Actor | None
    match: Match | None


# When a sentence fires several categories, the one that decides what it means (a control
# over sharing, "your choices regarding the sharing of your data", is about the control)
READING_ORDER = (
    Category.PROTECTIVE,
    Category.OTHERS_MAY_NOT_TRAIN,
    Category.THIRD_PARTY_AI,
    Category.DATA_SHARING,
    Category.AI_TRAINING,
    Category.OPT_OUT,
    Category.CONTENT_LICENSE,
)


def _first_word_at(match: Match) -> int:
    """Where the first of a Match's words stands in its sentence."""
    lowered = match.sentence.lower()
    found = [i for w in match.words if (i := lowered.find(w.lower())) >= 0]
    return min(found, default=len(lowered))


READING_ACTOR = {
    Category.PROTECTIVE: Actor.PLATFORM,
    Category.OTHERS_MAY_NOT_TRAIN: Actor.USERS,
    Category.AI_TRAINING: Actor.PLATFORM,
    Category.THIRD_PARTY_AI: Actor.THIRD_PARTIES,
    Category.DATA_SHARING: Actor.THIRD_PARTIES,
    Category.CONTENT_LICENSE: Actor.PLATFORM,
    Category.OPT_OUT: Actor.PLATFORM,
}
# Categories whose actor is read in the sentence (whose models, who the licensee is); the
# others have one actor by definition (a recipient of shared data is a third party)
OWN_ACTOR = frozenset({Category.AI_TRAINING, Category.PROTECTIVE, Category.CONTENT_LICENSE})


def classify_sentence(rules: RuleSet, text: str, lead_in: str = "") -> Reading:
    """The Reading of one sentence (or list item, with the sentence that introduces it)."""
    matches = rules.match(text, frozenset(READING_ORDER), lead_in)
    controls = [_first_word_at(m) for m in matches if m.category is Category.OPT_OUT]
    if controls:
        # "You can opt out of model training", "to exercise your choices regarding the sharing
        # of your data, go to settings": what follows the control is what it controls
        matches = [
            m
            for m in matches
            if not (m.category in THREAT_CATEGORIES and _first_word_at(m) >= min(controls))
        ]
    for category in READING_ORDER:
        found = [m for m in matches if m.category is category]
        if found:
            actor = READING_ACTOR[category]
            if category in OWN_ACTOR and found[0].actor:
                actor = Actor(found[0].actor)  # "their models", "you grant other users"
            return Reading(category, actor, found[0])
    # nothing for creators, but a ban still has an actor: the users or others it bars
    return Reading(None, Actor.USERS if prohibits_others(text, lead_in) else None, None)
