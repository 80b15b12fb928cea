"""Flagging: what a ChangeSet means for creators.

Owns: applying the rules to the old and the new text of every ClauseChange, and turning the
difference into Flags with a direction (introduced, removed, strengthened, weakened,
restated), a severity, the rule id and the quoted words that fired; and the assessment of a
ChangeSet's flags: is it a threat a creator should hear about, and how serious. A promise not
to train is good news (protective), never a threat; a protective promise that is removed or
hedged ("by default, we do not train...") is. Cosmetic, moved and renumbered changes yield
nothing. Must never: do I/O, or know how alerts are published.
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
from monitor.rules.language import MAX_LEAD_IN_CHARS, Actor, RuleSet, prohibits_others
from monitor.rules.policy import THREAT_CATEGORIES, is_good_news, is_threat

# Wording that turns a firm promise into a default or a conditional one.
HEDGE_RE = re.compile(
    r"\b(?:by\s+default|unless|except|generally|typically|currently|at\s+this\s+time|may\s+(?:still\s+)?use"
    r"|opt(?:ed)?[- ]in|if\s+you\s+(?:choose|allow|enable|share)|where\s+permitted)\b",
    re.IGNORECASE,
)
LIST_ITEM_CHARS = 600  # a clause longer than this ends the list a lead-in introduced
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
    if new_rules > old_rules or (new_rules == old_rules and new_words > old_words):
        return Direction.STRENGTHENED
    if new_rules < old_rules or (new_rules == old_rules and new_words < old_words):
        return Direction.WEAKENED
    if set(canonical(" ".join(m.sentence for m in new)).split()) <= set(
        canonical(" ".join(m.sentence for m in old)).split()
    ):
        return None  # words only dropped, reordered or respelt: nothing new is said
    return Direction.RESTATED


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
        elif len(text) > LIST_ITEM_CHARS:
            lead = ""
    return result


def flag_change(
    change: ClauseChange, index: int, rules: RuleSet, context: tuple[str, str] = ("", "")
) -> list[Flag]:
    """The Flags one clause change raises; `context` holds the lead-ins of its old and new
    clause."""
    if change.cosmetic or change.kind in NO_FLAG_KINDS:
        return []
    old = _without_shadowed(rules.match(change.old.text, None, context[0])) if change.old else []
    new = _without_shadowed(rules.match(change.new.text, None, context[1])) if change.new else []
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
        flags.append(
            Flag(
                category=category,
                severity=_severity(category, direction, evidence.severity),
                direction=direction,
                rule_id=evidence.rule_id,
                description=rule.description,
                evidence=quote(evidence.sentence, evidence.words),
                words=evidence.words,
                change_index=index,
                change_key=change.key,
            )
        )
    return flags


def flag_changes(
    changeset: ChangeSet,
    rules: RuleSet,
    documents: tuple[Document | None, Document | None] = (None, None),
) -> tuple[Flag, ...]:
    """Every Flag a ChangeSet raises, in the order of its changes. Cosmetic sets raise none.

    `documents` (old, new), when given, lend each clause its context: the lead-in sentence of
    the list it belongs to."""
    if changeset.is_cosmetic:
        return ()
    old_leads, new_leads = lead_ins(documents[0]), lead_ins(documents[1])
    flags = []
    for i, change in enumerate(changeset.changes):
        context = (
            old_leads.get(change.old.key, "") if change.old else "",
            new_leads.get(change.new.key, "") if change.new else "",
        )
        flags += flag_change(change, i, rules, context)
    return tuple(_reconcile(flags))


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the flags of one ChangeSet add up to for a creator."""

    alert: bool
    severity: Severity | None
    threats: tuple[Flag, ...]
    good_news: tuple[Flag, ...]  # protective flags introduced or strengthened
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
