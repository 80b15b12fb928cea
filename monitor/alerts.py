"""Alerts: turning a ChangeSet and its Flags into what a person is told.

Owns: deciding which ChangeSets become Alerts (any flag about AI, content licences, sharing,
opt-outs or protective promises; never a cosmetic or technical change), the headline ("Spotify
Terms of Use: AI-training permission added"), a plain summary that names the rules and quotes
the words that fired, the severity, and the stable id used as feed GUID and digest key. Must
never: do I/O, or format feeds or mail.
"""

from __future__ import annotations

from datetime import datetime

from monitor.flag import assess
from monitor.model import (
    SEVERITY_ORDER,
    Alert,
    Category,
    ChangeSet,
    Direction,
    Flag,
    Severity,
    Source,
)
from monitor.rules.policy import ALERT_CATEGORIES

NOUNS = {
    Category.AI_TRAINING: "AI-training permission",
    Category.THIRD_PARTY_AI: "sharing with others for AI",
    Category.CONTENT_LICENSE: "content licence",
    Category.DATA_SHARING: "sharing with AI or search partners",
    Category.OPT_OUT: "AI opt-out",
    Category.PROTECTIVE: "promise not to train on your content",
    Category.OTHERS_MAY_NOT_TRAIN: "ban on others training on content",
}
VERBS = {
    Direction.INTRODUCED: "added",
    Direction.REMOVED: "removed",
    Direction.STRENGTHENED: "widened",
    Direction.WEAKENED: "narrowed",
    Direction.RESTATED: "reworded",
}
PROTECTIVE_VERBS = {Direction.STRENGTHENED: "strengthened", Direction.WEAKENED: "hedged"}


def alert_id(authority: str, source_id: str, recorded_at: datetime, version_sha: str) -> str:
    """A tag: URI (RFC 4151): tag:<authority>,<date>:<source>/<new version hash>."""
    return f"tag:{authority},{recorded_at:%Y-%m-%d}:{source_id}/{version_sha[:16]}"


def headline(flag: Flag) -> str:
    verb = VERBS[flag.direction]
    if flag.category is Category.PROTECTIVE:
        verb = PROTECTIVE_VERBS.get(flag.direction, verb)
    return f"{NOUNS.get(flag.category, flag.category.value.replace('_', ' '))} {verb}"


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]  # not str.capitalize(): "AI-training" must stay "AI"


def _rank(flag: Flag) -> int:
    return SEVERITY_ORDER[flag.severity]


def make_alert(
    source: Source,
    change_id: int,
    recorded_at: datetime,
    version_sha: str,
    changeset: ChangeSet,
    flags: tuple[Flag, ...],
    *,
    authority: str = "clausewatch",
    technical: bool = False,
) -> Alert | None:
    """The Alert for one stored ChangeSet, or None when there is nothing to tell creators."""
    relevant = tuple(f for f in flags if f.category in ALERT_CATEGORIES)
    if technical or changeset.is_cosmetic or not relevant:
        return None
    verdict = assess(relevant)
    lead = verdict.threats or verdict.good_news or relevant
    ordered = sorted(lead, key=_rank, reverse=True)
    names = list(dict.fromkeys(headline(f) for f in ordered))
    title = f"{source.title}: {names[0]}" + (
        f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    )
    parts = []
    for flag in sorted(relevant, key=_rank, reverse=True):
        words = ", ".join(f'"{w}"' for w in flag.words[:6])
        parts.append(
            f"{_first_upper(headline(flag))} ({flag.severity.value}, rule {flag.rule_id}, "
            f"fired on {words}): {flag.description}"
        )
    summary = " ".join(parts)
    if not verdict.alert:
        summary = "Good news, not a threat. " + summary if verdict.good_news else summary
    return Alert(
        id=alert_id(authority, source.id, recorded_at, version_sha),
        source_id=source.id,
        platform=source.platform,
        document_type=source.document_type,
        audiences=source.audiences,
        change_id=change_id,
        recorded_at=recorded_at,
        title=title,
        summary=summary,
        threat=verdict.alert,
        severity=verdict.severity or Severity.INFO,
        categories=tuple(dict.fromkeys(f.category for f in relevant)),
        flags=relevant,
        path=f"sources/{source.id}/changes/{change_id}.html",
    )
