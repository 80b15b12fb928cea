"""The alert policy: the one definition of what is alarming for a creator.

Owns: which categories creators are alerted about (feeds, digest and site list them in this
order), which of them are threats, and whether one Flag is a threat. Feeds, the digest, the
site and `clausewatch check`'s exit code all ask this module; nothing else defines
"alarming". It sits with the rules (below flag, alerts, publish and cli) because a threat is a
property of a rule's category and a change's direction, and every stage above must see the
same answer. Must never: match text, or know how alerts are published.

- A widening (introduced or strengthened) of AI training, sharing for others' AI, the content
  licence or data sharing is a threat.
- A reworded AI-training or third-party-AI clause (restated) is a low threat: new words often
  widen scope. One that changed only in spelling variants, quotes, case or word order yields
  no flag at all (monitor.flag), so it never reaches this policy.
- A promise not to train that is removed or hedged is a threat; one added is good news, and
  so is an opt-out added or widened.
- Every publisher colours a flag by `verdict`: a threat (by severity), good news, or neutral
  (a reworded licence is neutral, never good news).
- `check` (one document, nothing to compare) is alarming on a threat category's clause, except
  a narrow licence (low severity): every terms page has one.
- Bans on others training (`others_may_not_train`), opt-out descriptions and the CLAUDETTE
  creator-rights categories are shown with a change, never alerted as threats.
"""

from __future__ import annotations

from enum import StrEnum

from monitor.model import Category, Direction, Flag, Severity

# The categories creators are alerted about, in the order feeds and digests list them; the
# CLAUDETTE ones (and others_may_not_train) are shown with a change, never alerted on.
ALERT_CATEGORIES = (
    Category.AI_TRAINING,
    Category.THIRD_PARTY_AI,
    Category.CONTENT_LICENSE,
    Category.DATA_SHARING,
    Category.OPT_OUT,
    Category.PROTECTIVE,
)
# What rules are run for creators' flags: the alert categories and the bans on others, which
# decide between a platform right and a protection
CREATOR_CATEGORIES = frozenset({*ALERT_CATEGORIES, Category.OTHERS_MAY_NOT_TRAIN})
# Categories whose widening takes something from creators
THREAT_CATEGORIES = frozenset(
    {Category.AI_TRAINING, Category.THIRD_PARTY_AI, Category.CONTENT_LICENSE, Category.DATA_SHARING}
)
# A reworded AI-training clause is worth a (low) alert: it often widens scope in new words. A
# reworded licence or sharing clause is not, unless it fired more terms (strengthened).
RESTATED_IS_THREAT = frozenset({Category.AI_TRAINING, Category.THIRD_PARTY_AI})
WIDENING = frozenset({Direction.INTRODUCED, Direction.STRENGTHENED})
NARROWING = frozenset({Direction.REMOVED, Direction.WEAKENED})


def is_threat(flag: Flag) -> bool:
    """Whether a flag widens what may be done with creators' content (the alert-worthy kind)."""
    if flag.category in THREAT_CATEGORIES:
        if flag.direction is Direction.RESTATED:
            return flag.category in RESTATED_IS_THREAT
        return flag.direction in WIDENING
    if flag.category is Category.PROTECTIVE:
        return flag.direction in NARROWING
    return False


def is_good_news(flag: Flag) -> bool:
    """A promise not to train on or share users' content, or a way to opt out, added or made
    firmer."""
    return flag.category in (Category.PROTECTIVE, Category.OPT_OUT) and flag.direction in WIDENING


def is_alarming(category: Category, severity: Severity) -> bool:
    """Whether a clause of this category, found in one document (`clausewatch check`, no
    earlier version to compare), is one a creator should worry about. Nearly every terms page
    has a licence to host and show what users post in order to run the service (a low
    `content_license` finding): that alone is not alarming; a broad one (perpetual,
    irrevocable, sublicensable, for AI: medium or more) is."""
    if category is Category.CONTENT_LICENSE:
        return severity is not Severity.LOW
    return category in THREAT_CATEGORIES


class Verdict(StrEnum):
    """How a flag reads for a creator: what every publisher colours it by."""

    THREAT = "threat"  # widens what may be done with creators' content (by severity)
    GOOD_NEWS = "good"  # a promise not to train added or made firmer
    NEUTRAL = "neutral"  # worth showing, neither (a reworded licence, a CLAUDETTE note)


def verdict(flag: Flag) -> Verdict:
    if is_threat(flag):
        return Verdict.THREAT
    if is_good_news(flag):
        return Verdict.GOOD_NEWS
    return Verdict.NEUTRAL
