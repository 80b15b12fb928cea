"""Alerts: turning a ChangeSet and its Flags into what a person is told.

Owns: deciding which ChangeSets become Alerts (any flag about AI, content licences, sharing,
opt-outs or protective promises; never a cosmetic or technical change), the headline ("Spotify
Terms of Use: AI-training permission added"), the plain sentence that says what a flag means
for a creator ("The platform may now use your content to train AI models."; one home for
feeds, the digest, the site and `check`), the summary made of those sentences with the rule
ids as a detail at the end, the severity, and the stable id used as feed GUID and digest key
(keyed to the evidence, monitor.trust.evidence_key). Whether a change is told now, later or
never is monitor.trust's. Must never: do I/O, or format feeds or mail.
"""

from __future__ import annotations

from datetime import datetime

from monitor.flag import READING_ACTOR, assess
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
from monitor.rules.language import Actor
from monitor.rules.policy import ALERT_CATEGORIES, is_good_news
from monitor.trust import evidence_key

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


# What a widening category lets its actor do, as the end of "<actor> may now ..."
PERMISSIONS = {
    Category.AI_TRAINING: "use your content or data to train AI models",
    Category.THIRD_PARTY_AI: "get your content or data to build or train their AI",
    Category.CONTENT_LICENSE: "use, copy and pass on your content under the licence you grant",
    Category.DATA_SHARING: "receive your content or data",
}
SUBJECTS = {Actor.PLATFORM: "the platform", Actor.THIRD_PARTIES: "other companies"}
PERMISSION_SENTENCES = {
    Direction.INTRODUCED: "{Subject} may now {act}.",
    Direction.STRENGTHENED: "{Subject} may now {act}, more widely than before.",
    Direction.RESTATED: "The terms were reworded where they say {subject} may {act}.",
    Direction.WEAKENED: "{Subject} may still {act}, but less widely than before.",
    Direction.REMOVED: "The terms no longer say {subject} may {act}.",
}
# Categories that are not a permission: one sentence per direction
FIXED_SENTENCES = {
    Category.PROTECTIVE: {
        Direction.INTRODUCED: "A promise not to train AI on your content was added.",
        Direction.STRENGTHENED: "The promise not to train AI on your content was made firmer.",
        Direction.RESTATED: "The promise not to train AI on your content was reworded.",
        Direction.WEAKENED: "The promise not to train AI on your content was hedged: it may "
        "no longer hold in every case.",
        Direction.REMOVED: "The promise not to train AI on your content was removed.",
    },
    Category.OPT_OUT: {
        Direction.INTRODUCED: "A way to opt out of AI use of your content was added.",
        Direction.STRENGTHENED: "The way to opt out of AI use of your content was widened.",
        Direction.RESTATED: "The way to opt out of AI use of your content was reworded.",
        Direction.WEAKENED: "The way to opt out of AI use of your content was narrowed.",
        Direction.REMOVED: "The way to opt out of AI use of your content was removed.",
    },
    Category.OTHERS_MAY_NOT_TRAIN: {
        Direction.INTRODUCED: "Users and others are now barred from training AI on the "
        "platform's content.",
        Direction.STRENGTHENED: "The ban on others training AI on the platform's content was "
        "widened.",
        Direction.RESTATED: "The ban on others training AI on the platform's content was reworded.",
        Direction.WEAKENED: "The ban on others training AI on the platform's content was narrowed.",
        Direction.REMOVED: "The ban on others training AI on the platform's content was removed.",
    },
}


def plain_sentence(flag: Flag) -> str:
    """What one flag means for a creator, in one plain sentence built from its category, the
    actor that category is about, and its direction: "The platform may now use your content
    or data to train AI models." / "A promise not to train AI on your content was added."."""
    act = PERMISSIONS.get(flag.category)
    if act is not None:
        subject = SUBJECTS.get(READING_ACTOR.get(flag.category, Actor.PLATFORM), "the platform")
        return PERMISSION_SENTENCES[flag.direction].format(
            Subject=_first_upper(subject), subject=subject, act=act
        )
    fixed = FIXED_SENTENCES.get(flag.category)
    if fixed is not None:
        return fixed[flag.direction]
    label = flag.category.value.replace("_", " ")
    return f"A clause about {label} was {VERBS[flag.direction]}."


def summary(flags: tuple[Flag, ...]) -> str:
    """An alert's summary: the plain sentence of each flag (threats first, by severity; each
    sentence once), then the rules as a detail. Good news says so first."""
    verdict = assess(flags)
    ordered = sorted(flags, key=lambda f: (f in verdict.threats, _rank(f)), reverse=True)
    sentences = list(dict.fromkeys(plain_sentence(f) for f in ordered))
    strongest: dict[str, Flag] = {}  # each rule once, at its highest severity
    for flag in sorted(flags, key=_rank, reverse=True):
        strongest.setdefault(flag.rule_id, flag)
    rules = ", ".join(f"{f.rule_id} ({f.severity.value})" for f in strongest.values())
    text = " ".join(sentences) + (f" Rules: {rules}." if rules else "")
    if not verdict.alert and any(is_good_news(f) for f in flags):
        text = "Good news, not a threat. " + text
    return text


def alert_id(authority: str, source_id: str, recorded_at: datetime, key: str) -> str:
    """A tag: URI (RFC 4151): tag:<authority>,<date>:<source>/<evidence key>, the key a digest
    of what the alert is about (category, direction and quote of each flag): two changes of
    one day that arrive at different texts with the same news are one alert."""
    return f"tag:{authority},{recorded_at:%Y-%m-%d}:{source_id}/{key[:16]}"


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
    return Alert(
        id=alert_id(authority, source.id, recorded_at, evidence_key(source.id, relevant)),
        source_id=source.id,
        platform=source.platform,
        document_type=source.document_type,
        audiences=source.audiences,
        change_id=change_id,
        recorded_at=recorded_at,
        title=title,
        summary=summary(relevant),
        threat=verdict.alert,
        severity=verdict.severity or Severity.INFO,
        categories=tuple(dict.fromkeys(f.category for f in relevant)),
        flags=relevant,
        path=f"sources/{source.id}/changes/{change_id}.html",
    )
