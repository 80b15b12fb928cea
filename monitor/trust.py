"""Alert trust: whether a stored change is told now, held for a later capture, or never told.

Owns: the one decision, for tracking and imported history alike: a suspect capture (one that
lost more than SUSPECT_LOST of the previous version's words: a section that failed to load, a
stub, a home page captured instead of the terms) is held until a later capture confirms it, and
one that lacks OTHER_PAGE_LOST of them is another page, never alerted and never a state the
document had; a change the next capture undoes (within WINDOW) cancels out with its return leg,
and so does one a re-extraction of the page (new selectors) gives back (a page read twice over);
a flag whose clause text the document already had (in the previous version, or in one it left
at most WINDOW before, or that RECURRING flip legs within WINDOW showed, or one it left,
however long ago, in a capture that lost SECTION_LOST of its words; a re-extraction's text is a
state the document had) is not news; removals, good news and other news wait for a later
capture, while a new or wider threat is told at once; and the key of an alert's evidence
(source, category, direction, normalised quote). Must never: do I/O (the caller passes the
source's versions and reads their texts and checks on demand), or say what an alert says
(monitor.alerts).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.model import ChangeSet, Direction, Document, Flag, Version
from monitor.rules.policy import ALERT_CATEGORIES, WIDENING, is_threat

# A capture that lost more than this share of the previous version's words is suspect. On the
# dev history (bench/history.py --limit 80) the changes between consecutive captures split in
# two: real edits lose under 20 % of the words (most under 2 %), while partial captures,
# stubs and pages captured in place of the terms lose 50-99 %; 50 % sits in the gap.
SUSPECT_LOST = 0.5
# A capture that lacks this share of the previous version's words is another page, not a
# version of the document: a home page or a stub in place of the terms, another language.
# On the dev history every alert from such a capture (6, at 93-99 %) was an artefact or a
# misreading, and no real change lost over 80 % (bench/history.py); such a capture is never
# alerted, confirmed or not, and the versions around it are compared past it.
OTHER_PAGE_LOST = 0.9
# A capture that lacks this share of the previous version's words lost a section (or is
# another variant of the page): text it dropped that comes back word for word, however much
# later, is no news. Real edits lose under 20 % of the words (most under 2 %, above); a
# section missing from a page for six months lost 34 %, another regional variant 28 %.
SECTION_LOST = 0.25
# A page that serves two texts in turn has every capture cancelled as a flip leg; a state
# that this many such captures showed within WINDOW is one the page keeps coming back to,
# not news when it stays. A real change that flips once or twice before it stays (a rollout)
# is still told when it stays.
RECURRING = 3
# How long a flip may last, and how far back "seen before" looks: see docs/decisions/0011.
WINDOW = timedelta(days=30)
SUSPECT_NOTE = "Suspect capture"  # how the changeset's note that says so begins
OTHER_PAGE = "another page (a stub, a home page, another language)"

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
PIECE = 30  # shortest piece of a cut quote ("… a … b …") looked for in other versions


class Verdict(StrEnum):
    ALERT = "alert"  # tell it now (its change keeps its date)
    HOLD = "hold"  # not decided yet: asked again at the next pass
    CANCEL = "cancel"  # never told; the reason says why
    NOTHING = "nothing"  # nothing for creators in it (no alert category, cosmetic, technical)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str = ""  # "not alerted: ..." for CANCEL, "held: ..." for HOLD
    flags: tuple[Flag, ...] = ()  # for ALERT: the flags that are news
    waited: bool = False  # for ALERT: it needed a later capture's confirmation (a held kind)


def normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


# A version's text is compared as the new one of a change, then as the old one of the next:
# the last few are remembered (an import of 5,000 commits spent 8 % of its time here)
_normal_version = functools.lru_cache(maxsize=8)(normal)


@functools.lru_cache(maxsize=8)
def _word_counts(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def lost_share(old_text: str, new_text: str) -> float:
    """The share of the old text's words (counted with repeats) that the new text lacks."""
    old = _word_counts(old_text)
    total = sum(old.values())
    if not total:
        return 0.0
    lost = old - _word_counts(new_text)
    return sum(lost.values()) / total


def suspect(old_text: str, new_text: str, share: float | None = None) -> str | None:
    """Why a capture with `new_text` after one with `old_text` is suspect, or None; `share` is
    their lost_share when the caller has it."""
    if share is None:
        share = lost_share(old_text, new_text)
    if share <= SUSPECT_LOST:
        return None
    then = (
        f"{OTHER_PAGE}: never alerted"
        if share >= OTHER_PAGE_LOST
        else "not alerted until a later capture confirms it"
    )
    return (
        f"{SUSPECT_NOTE}: it lacks {share:.0%} of the previous version's words"
        f" ({len(new_text):,} characters after {len(old_text):,}); {then}"
    )


_counted: dict[int, tuple[Document, int]] = {}  # words per Document, by identity


def _words_in(document: Document) -> int:
    """How many words a Document's text holds, as lost_share counts them. A pass or an import
    asks of each version twice (as the new one, then as the old one of the next change)."""
    known = _counted.get(id(document))
    if known is not None and known[0] is document:
        return known[1]
    if len(_counted) >= 16:
        _counted.clear()
    words = sum(len(_WORD.findall(c.full_text)) for c in document.clauses)
    _counted[id(document)] = (document, words)
    return words


def with_suspicion(changeset: ChangeSet, old: Document, new: Document) -> ChangeSet:
    """The ChangeSet with a note saying its new version is a suspect capture, if it is one:
    `diff` and `history` show it (tracking and import-history both store it so)."""
    # A capture can lack no more words than the old clauses its changes touch hold (every
    # other clause is in the new version as it was): most changes touch a few clauses, and
    # need no count of the two whole texts (a tenth of an import's time)
    touched = sum(
        len(_WORD.findall(change.old.full_text))
        for change in changeset.changes
        if change.old is not None
    )
    if touched <= SUSPECT_LOST * _words_in(old):
        return changeset
    why = suspect(_normal_version(old.text), _normal_version(new.text))
    if why is None:
        return changeset
    return replace(changeset, notes=(*changeset.notes, why + "."))


def flag_key(source_id: str, flag: Flag) -> str:
    """What an alert is about: source, category, direction and the quote, normalised."""
    return f"{source_id}|{flag.category.value}|{flag.direction.value}|{normal(flag.evidence)}"


def evidence_key(source_id: str, flags: Iterable[Flag]) -> str:
    """A short digest of the keys of `flags` (an alert id's last part)."""
    keys = sorted({flag_key(source_id, f) for f in flags})
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def _pieces(evidence: str) -> list[str]:
    whole = normal(evidence)
    pieces = [p.strip() for p in whole.split("…") if len(p.strip()) >= PIECE]
    return pieces or ([whole.strip("… ")] if whole.strip("… ") else [])


def _holds(text: str, flag: Flag) -> bool:
    """Whether a normalised text holds the flag's quote (each long piece of a cut one)."""
    pieces = _pieces(flag.evidence)
    return bool(pieces) and all(p in text for p in pieces)


def _days(span: timedelta) -> str:
    days = span.days
    return "less than a day" if days < 1 else f"{days} day{'s' if days > 1 else ''}"


@dataclass(frozen=True, slots=True)
class History:
    """One source's versions, oldest first, and what the caller reads of them on demand:
    `text(i)` is version i's text, normalised; `confirmed(i)` says whether a later check
    (unchanged, not modified) still saw version i; `alerted` maps the flag keys of the
    source's alerts so far to their dates."""

    versions: Sequence[Version]
    text: Callable[[int], str]
    confirmed: Callable[[int], bool]
    alerted: dict[str, datetime]  # updated by the caller as it makes alerts
    # ids of versions whose change was cancelled (a flip leg, a suspect capture undone):
    # what they said was never accepted, so it is no "seen before"; updated by the caller
    cancelled: set[int] = field(default_factory=set)


def _quotes_new_text(flag: Flag) -> bool:
    """Whether the flag's evidence is quoted from the new text: from the old one only for a
    removal (a weakened clause is quoted as it now reads)."""
    return flag.direction is not Direction.REMOVED


def _next_capture(history: History, i: int) -> tuple[int | None, bool]:
    """The next version that is a new capture (technical re-extractions skipped), and whether
    a check confirmed version i (or a re-extraction of it) meanwhile."""
    confirmed = history.confirmed(i)
    for k in range(i + 1, len(history.versions)):
        if history.versions[k].technical:
            confirmed = confirmed or history.confirmed(k)
            continue
        return k, confirmed
    return None, confirmed


def _seen_before(flag: Flag, history: History, source_id: str, i: int) -> str | None:
    """Why a flag of the change into version i is not news, or None: the document already
    said it (the previous version, or one it left at most WINDOW before, or RECURRING flip
    legs within WINDOW showed it), or it already had the state a removal returns to, or the
    same alert was made within WINDOW; or the text arrives back word for word after a capture
    that lost a section dropped it (_lost_with_a_section)."""
    at = history.versions[i].recorded_at
    alerted = history.alerted.get(flag_key(source_id, flag))
    if alerted is not None and timedelta(0) <= at - alerted <= WINDOW:
        return f"the same clause was alerted on {alerted.date().isoformat()}"
    if flag.direction is Direction.WEAKENED:
        # a narrowed scope or a hedge is read across the clause (or the whole licence): its
        # quote may stand before and after, so whether it was there says nothing
        return None
    new_side = _quotes_new_text(flag)
    if new_side:
        if _holds(history.text(i - 1), flag):
            return "the previous version already said it (elsewhere in the document)"
    elif _holds(history.text(i), flag):
        return "the document still says it (elsewhere)"
    # when the document stopped reading as j: at the next version that was a state of it, not
    # a re-extraction (technical) nor a capture never accepted (cancelled: another page, a flip)
    left = at
    recurring = 0  # captures never accepted (flip legs) within WINDOW that showed this state
    for j in range(i - 2, -1, -1):
        following = history.versions[j + 1]
        if not (following.technical or following.id in history.cancelled):
            left = following.recorded_at
        if at - left > WINDOW:
            break
        # (a re-extraction is a state the document had, in the words it is read in now)
        if history.versions[j].id in history.cancelled:
            # (a state that was never accepted is not one the document had, unless the page
            # keeps coming back to it: two variants served in turn for weeks)
            if at - history.versions[j].recorded_at <= WINDOW:
                recurring += _holds(history.text(j), flag) is new_side
                if recurring >= RECURRING:
                    return (
                        f"seen before: {RECURRING} or more captures of the last {WINDOW.days}"
                        " days showed it (the page alternates between two texts)"
                    )
            continue
        if _holds(history.text(j), flag) is new_side:
            verb = "had this text" if new_side else "was without this text"
            return f"seen before: the document {verb} until {left.date().isoformat()}"
    return None


def _lost_with_a_section(flag: Flag, history: History, i: int) -> str | None:
    """Why an arrival older than WINDOW is not news, or None: the text was last in a version
    that the next accepted capture cut by a SECTION_LOST share of its words (a section that
    failed to load for months, another variant of the page), and it is back word for word."""
    after = None  # the accepted version that followed j
    for j in range(i - 1, -1, -1):
        version = history.versions[j]
        if version.id in history.cancelled:
            continue
        if after is not None and _holds(history.text(j), flag):
            share = lost_share(history.text(j), history.text(after))
            if share < SECTION_LOST:
                return None  # a real removal: its return is news
            return (
                f"seen before: the document had this text until"
                f" {history.versions[after].recorded_at.date().isoformat()}, when a capture"
                f" lacking {share:.0%} of its words began"
            )
        after = j
    return None


def _distance(one: str, other: str) -> int:
    """How many words (counted with repeats) two normalised texts do not share."""
    a, b = _word_counts(one), _word_counts(other)
    return sum(((a - b) + (b - a)).values())


_SENTENCE_END = re.compile(r"[.!?;]\s")
_CONTENT_WORD = re.compile(r"\w{4,}")
REWORDED = 0.5  # share of a quote's content words one sentence of the next capture holds
REWORDED_MIN = 3  # and at least this many ("your content" alone is no rewording)


def _reworded(flag: Flag, following: str, before: str) -> bool:
    """Whether a sentence of the next capture (normalised) that the text before the change did
    not have holds at least REWORDED of the content words of the flag's quote (and at least
    REWORDED_MIN of them): the added sentence said again in other words."""
    wanted = set(_CONTENT_WORD.findall(normal(flag.evidence)))
    if not wanted:
        return False
    need = max(REWORDED_MIN, REWORDED * len(wanted))
    return any(
        len(wanted & set(_CONTENT_WORD.findall(sentence))) >= need and sentence not in before
        for sentence in _SENTENCE_END.split(following)
    )


def _undone(flag: Flag, changeset: ChangeSet, following: str, before: str, after: str) -> bool:
    """Whether the next capture (its normalised text) undoes a flag of the change from `before`
    to `after`: a removed quote of a clause deleted whole is back; an added quote of a clause
    added whole is gone again and the capture is nearer `before` than `after` (a promise
    added, then reworded again four days later, is not undone); for a clause that was edited
    (a sentence added to it, a hedge, a rewording), its old text is back (its quote gone alone
    may be a further rewording, as when a promise added to a clause is rewritten days later)."""
    if _holds(following, flag) is not _quotes_new_text(flag):
        changes = changeset.changes
        change = changes[flag.change_index] if 0 <= flag.change_index < len(changes) else None
        old = normal(change.old.full_text) if change is not None and change.old else ""
        edited = bool(old) and change is not None and change.new is not None
        if flag.direction in (Direction.INTRODUCED, Direction.REMOVED) and not edited:
            # a clause added or deleted whole: back towards the text before the change, and
            # no sentence of the next capture says the added one again in other words
            if flag.direction is Direction.REMOVED:
                # the removed quote is back word for word: whatever else that capture lacks
                # (another section that failed to load), this clause's removal was undone
                return True
            if _reworded(flag, following, before):
                return False
            return _distance(following, before) < _distance(following, after)
        # an edited clause: undone only when its old text is back
        return bool(old) and old in following
    return False


def _unconfirmed(history: History, i: int, k: int) -> Decision | None:
    """For a suspect capture i whose next capture k came within WINDOW: None when a capture
    like it (one that keeps more than half of its words: the same stub again, or the page
    grown back around it) comes within WINDOW, so its flags are decided as usual; else a
    cancel once a capture after WINDOW shows none came (a stub then another stub, or an error
    page), or a hold while the window is still open."""
    versions = history.versions
    at = versions[i].recorded_at
    for j in range(k, len(versions)):
        if versions[j].technical:
            continue
        if versions[j].recorded_at - at > WINDOW:
            return Decision(
                Verdict.CANCEL,
                "not alerted: a suspect capture that no capture within"
                f" {WINDOW.days} days confirmed (none kept most of its words)",
            )
        if not suspect(history.text(i), history.text(j)):
            return None
    return Decision(
        Verdict.HOLD,
        "held: a suspect capture the next capture did not confirm, until one like it comes",
    )


def decide(
    source_id: str,
    changeset: ChangeSet,
    flags: Sequence[Flag],
    technical: bool,
    history: History,
    i: int,
) -> Decision:
    """The decision on the change into `history.versions[i]` (from version i-1)."""
    relevant = tuple(f for f in flags if f.category in ALERT_CATEGORIES)
    if technical or changeset.is_cosmetic or not relevant or i < 1:
        return Decision(Verdict.NOTHING)
    lost = lost_share(history.text(i - 1), history.text(i))
    if lost >= OTHER_PAGE_LOST:
        return Decision(
            Verdict.CANCEL,
            f"not alerted: the capture lacks {lost:.0%} of the previous version's words:"
            f" {OTHER_PAGE}, not these terms",
        )
    versions = history.versions
    new, old = versions[i], versions[i - 1]
    k, confirmed = _next_capture(history, i)
    following = versions[k] if k is not None else None
    soon = following is not None and following.recorded_at - new.recorded_at <= WINDOW
    if following is not None and soon and following.sha256 == old.sha256:
        return Decision(
            Verdict.CANCEL,
            f"not alerted: the next capture ({following.recorded_at.date().isoformat()},"
            f" {_days(following.recorded_at - new.recorded_at)} later) restored the earlier text",
        )
    after = versions[i + 1] if i + 1 < len(versions) else None
    if (
        after is not None
        and after.technical
        and after.sha256 == old.sha256
        and after.recorded_at - new.recorded_at <= WINDOW
    ):
        # the page read again another way (new extraction rules) gives the earlier text: the
        # change came from how the page was read (two copies of it, say), not from the page
        return Decision(
            Verdict.CANCEL,
            f"not alerted: a re-extraction ({after.recorded_at.date().isoformat()},"
            f" {_days(after.recorded_at - new.recorded_at)} later) gave the earlier text back",
        )
    if (
        i >= 2
        and not versions[i - 2].technical
        and versions[i - 2].id not in history.cancelled
        and new.sha256 == versions[i - 2].sha256
        and new.recorded_at - old.recorded_at <= WINDOW
    ):
        return Decision(
            Verdict.CANCEL,
            f"not alerted: it restores the text of {versions[i - 2].recorded_at.date().isoformat()}"
            f" after a capture that stood {_days(new.recorded_at - old.recorded_at)}",
        )
    kept, reasons = [], []
    for flag in relevant:
        why = _seen_before(flag, history, source_id, i)
        if (
            why is None
            and following is not None
            and soon
            and k is not None
            and _undone(flag, changeset, history.text(k), history.text(i - 1), history.text(i))
        ):
            why = f"the next capture ({following.recorded_at.date().isoformat()}) undid it"
        if why is None and flag.direction not in (Direction.REMOVED, Direction.WEAKENED):
            # the one look past WINDOW, the whole history back: only for an arrival left (a
            # weakened flag's quote may stand before and after, as _seen_before says)
            why = _lost_with_a_section(flag, history, i)
        if why is None:
            kept.append(flag)
        else:
            reasons.append(why)
    if not kept:
        return Decision(Verdict.CANCEL, "not alerted: " + "; ".join(dict.fromkeys(reasons)))
    suspicion = suspect(history.text(i - 1), history.text(i), lost)
    if suspicion and not confirmed and following is not None and soon and k is not None:
        unconfirmed = _unconfirmed(history, i, k)
        if unconfirmed is not None:
            return unconfirmed
    urgent = any(is_threat(f) and f.direction in WIDENING for f in kept)
    if (suspicion or not urgent) and following is None and not confirmed:
        why = "a suspect capture" if suspicion else "a removal, good news or a rewording"
        return Decision(Verdict.HOLD, f"held: {why}, until a later capture confirms it")
    return Decision(Verdict.ALERT, "", tuple(kept), waited=bool(suspicion or not urgent))
