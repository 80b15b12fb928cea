"""Events: the stored Alerts grouped into the news they tell, once per event.

Owns: what makes two alerts the same news (the same platform, by the first word of its name,
and the same flags: category, direction and normalised quoted evidence), the window within which they are one event
(EVENT_WINDOW from the event's first alert), the event's id (its first alert's id), its date
(the earliest), its title and the documents it appeared in. Feeds, the digest and the site's
alerts page all group with `group_events`. Must never: do I/O, or decide what is an alert
(monitor.alerts) or how it is shown (render, templates).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.model import SEVERITY_ORDER, Alert, Category, Flag, Severity

# One event's alerts are at most this long after its first. A platform publishes a terms update
# across its documents (each product's terms, regional copies) on one day, and checks (ours
# daily, Open Terms Archive's) capture each within a day or two; a week absorbs a missed
# weekend of captures or a copy published a few days late, and is the digest's period, so a
# weekly digest tells an event once. Longer would swallow a later, separate rollout (a product
# adopting the clause months later is news for its users). Anchored on the first alert, not
# chained, so that an event cannot grow without end and its id does not move.
EVENT_WINDOW = timedelta(days=7)

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_NUMBERING = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*[.)]?\s+|(?:[ivxlc]+|[a-z])[.)]\s+|\(\w{1,4}\)\s*)+(?=\S)"
)
_NOT_WORD = re.compile(r"[^\w']+")


def normal_evidence(text: str) -> str:
    """Quoted evidence as compared between alerts: Unicode-normalised, case-folded, curly quotes
    straight, a leading clause number ("5.3", "(b)", "iv.") dropped, punctuation and spacing
    as single spaces: "5.3 We may use your content" and "6.1 We may use your content." match."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = _NUMBERING.sub("", text)
    return " ".join(_NOT_WORD.sub(" ", text).split())


def platform_key(platform: str) -> str:
    """A platform as compared between alerts: the first word of its name, case-folded. Open
    Terms Archive names a company's products as services of their own ("Google", "Google
    Calendar", "Google Play"), whose terms are one text: the same news for one company."""
    words = platform.casefold().split()
    return words[0] if words else ""


def news_key(alert: Alert) -> tuple[str, frozenset[tuple[str, str, str]]]:
    """What makes two alerts the same news: the platform (platform_key), and the set of
    (category, direction, normalised evidence) of their flags. An alert that says more
    (another flag) is other news."""
    return (
        platform_key(alert.platform),
        frozenset(
            (f.category.value, f.direction.value, normal_evidence(f.evidence)) for f in alert.flags
        ),
    )


@dataclass(frozen=True, slots=True)
class Appearance:
    """One document an event appeared in, with its changes (oldest first)."""

    source_id: str
    title: str  # "Google Terms of Service"
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One piece of news: one alert, or several alerts with the same news (news_key) within
    EVENT_WINDOW of the first. It reads like an Alert (id, title, flags, path, severity...) so
    that feeds, digest and site show either the same way; `documents` lists where it appeared."""

    id: str
    alerts: tuple[Alert, ...]  # oldest first

    @property
    def first(self) -> Alert:
        return self.alerts[0]

    @property
    def recorded_at(self) -> datetime:
        """The earliest date: when the news was first seen."""
        return self.first.recorded_at

    @property
    def updated_at(self) -> datetime:
        """When the event last grew (its newest alert)."""
        return self.alerts[-1].recorded_at

    @property
    def documents(self) -> tuple[Appearance, ...]:
        by_source: dict[str, list[Alert]] = {}
        for alert in self.alerts:
            by_source.setdefault(alert.source_id, []).append(alert)
        return tuple(
            Appearance(sid, _document_title(same[0]), tuple(same))
            for sid, same in by_source.items()
        )

    @property
    def title(self) -> str:
        """The first alert's title; over several documents the platform's name and how many:
        "Google: AI-training permission added (in 3 documents)"."""
        count = len(self.documents)
        if count == 1:
            return self.first.title
        prefix = _document_title(self.first) + ": "
        rest = self.first.title.removeprefix(prefix)
        if rest == self.first.title:  # a title not of the usual shape: keep it whole
            return f"{rest} (in {count} documents)"
        return f"{self.platform}: {rest} (in {count} documents)"

    @property
    def platform(self) -> str:
        """The platform's name; over "Google" and "Google Calendar", the words they share."""
        names = [a.platform.split() for a in self.alerts]
        common = names[0]
        for other in names[1:]:
            shared = 0
            while shared < min(len(common), len(other)) and (
                common[shared].casefold() == other[shared].casefold()
            ):
                shared += 1
            common = common[:shared]
        return " ".join(common) or self.first.platform

    @property
    def platforms(self) -> tuple[str, ...]:
        """Every platform name of its alerts ("Google", "Google Calendar")."""
        return tuple(dict.fromkeys(a.platform for a in self.alerts))

    @property
    def source_id(self) -> str:
        return self.first.source_id

    @property
    def source_ids(self) -> tuple[str, ...]:
        return tuple(d.source_id for d in self.documents)

    @property
    def change_id(self) -> int:
        return self.first.change_id

    @property
    def path(self) -> str:
        return self.first.path

    @property
    def flags(self) -> tuple[Flag, ...]:
        return self.first.flags

    @property
    def threat(self) -> bool:
        return any(a.threat for a in self.alerts)

    @property
    def severity(self) -> Severity:
        return max((a.severity for a in self.alerts), key=SEVERITY_ORDER.__getitem__)

    @property
    def categories(self) -> tuple[Category, ...]:
        return tuple(dict.fromkeys(c for a in self.alerts for c in a.categories))

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(x for a in self.alerts for x in a.audiences))


def _document_title(alert: Alert) -> str:
    return f"{alert.platform} {alert.document_type}".strip()  # Source.title, from the alert


def group_events(alerts: Iterable[Alert], window: timedelta = EVENT_WINDOW) -> list[Event]:
    """The alerts as events, newest first (by their earliest date). Deterministic: the same
    alerts give the same events and ids, however often they are rebuilt.

    An event's id is its first alert's id: a feed built before grouping showed that alert
    under that id, so a reader keeps the entry it has (now naming more documents) and is not
    told the news again; the later alerts' own entries leave the feed. An alert alone is an
    event with its own id, as before. Two events whose first alerts share an id (two changes
    of one day reaching the same version with other flags) are told apart by a "#2" suffix on
    the later one."""
    ordered = sorted(alerts, key=lambda a: (a.recorded_at, a.change_id, a.id))
    open_events: dict[tuple[str, frozenset[tuple[str, str, str]]], list[Alert]] = {}
    groups: list[list[Alert]] = []
    for alert in ordered:
        key = news_key(alert)
        current = open_events.get(key)
        if current is not None and alert.recorded_at - current[0].recorded_at <= window:
            current.append(alert)
            continue
        current = [alert]
        open_events[key] = current
        groups.append(current)
    events: list[Event] = []
    used: set[str] = set()
    for members in groups:
        event_id = members[0].id
        number = 1
        while event_id in used:  # bounded by the number of groups
            number += 1
            event_id = f"{members[0].id}#{number}"
        used.add(event_id)
        events.append(Event(event_id, tuple(members)))
    events.sort(key=lambda e: (e.recorded_at, e.change_id), reverse=True)
    return events
