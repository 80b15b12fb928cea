"""The weekly digest: which events each subscriber gets, and the mail text that tells them.

Owns: the digest period (whole days in PERIOD_TZ, ending at the end of its last day) and its key
(a period is sent once per recipient), filtering events (monitor.publish.events: the same news
in several documents is one) by a subscriber's audiences, categories and platforms, grouping
them by severity then platform, the "quiet week" variant, and rendering the plain-text and
HTML bodies from templates/ (autoescaped). Must never: talk SMTP (publish.mail does) or write
to the archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import groupby

from monitor.config import Subscriber
from monitor.model import SEVERITY_ORDER, Alert, Severity
from monitor.publish.events import Event, group_events
from monitor.publish.render import environment
from monitor.trust import WINDOW

# The days of a period begin and end at midnight here. Clausewatch has no timezone setting
# (digest_schedule is a cron line in UTC, dates are stored in UTC), so: UTC.
PERIOD_TZ: tzinfo = UTC

SEVERITY_TITLES = {
    Severity.HIGH: "High: broad new rights over your work",
    Severity.MEDIUM: "Medium: a real widening with limited scope",
    Severity.LOW: "Low: touched, but no new use of your work",
    Severity.INFO: "Good news and other notes",
}


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days: from `since` (midnight starting the first day) up to, not including,
    `until` (midnight ending the last day): a change at 23:59:59 of the last day is in it."""

    since: datetime
    until: datetime

    @property
    def first_day(self) -> date:
        return self.since.date()

    @property
    def last_day(self) -> date:
        return (self.until - timedelta(days=1)).date()

    @property
    def key(self) -> str:
        """The send-log key: the first and last days covered ("2026-11-23/2026-11-29")."""
        return f"{self.first_day:%Y-%m-%d}/{self.last_day:%Y-%m-%d}"

    def __contains__(self, moment: datetime) -> bool:
        return self.since <= moment < self.until


def period_ending(last_day: date, days: int, tz: tzinfo = PERIOD_TZ) -> Period:
    """The `days` whole days ending at the end of `last_day`, midnights in `tz`."""
    until = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)
    return Period(until - timedelta(days=days), until)


def last_complete_day(now: datetime, tz: tzinfo = PERIOD_TZ) -> date:
    """The day before `now`'s day in `tz`: a period that ends with it is over, so a digest sent
    today tells all of it, and the next one starts where it ended (none lost, none twice)."""
    return now.astimezone(tz).date() - timedelta(days=1)


def period_of_send(at: datetime, days: int) -> Period:
    """The period a digest sent (or scheduled) at `at` covers: the `days` whole days up to the
    end of the day before. The daemon sends, and checks it has sent, this period of its last
    scheduled time, so a past period sent by hand is never taken for this week's."""
    return period_ending(last_complete_day(at), days)


def parse_until(text: str, now: datetime, tz: tzinfo = PERIOD_TZ) -> date:
    """--until: a date 2026-11-29 (the period's last day, included), or today or yesterday."""
    value = text.strip().lower()
    today = now.astimezone(tz).date()
    if value in ("today", "yesterday"):
        return today - timedelta(days=value == "yesterday")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--until takes the period's last day like 2026-11-29 (or today), not {text!r}"
        ) from None
    if day > today:
        raise ValueError(f"--until {day}: that day has not come yet (today is {today})")
    return day


def parse_since(text: str) -> int:
    """'7d' -> 7, '2w' -> 14; whole days only."""
    text = text.strip().lower()
    units = {"d": 1, "w": 7}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) < 1:
        raise ValueError(f"--since takes a number of days or weeks like 7d or 2w, not {text!r}")
    return int(text[:-1]) * units[text[-1]]


def wants(subscriber: Subscriber, event: Event) -> bool:
    """Whether an event touches what the subscriber asked for: any of its documents' audiences,
    any of its categories, any of its platforms' names."""
    if subscriber.audiences and not (
        set(subscriber.audiences) & (set(event.audiences) | {"everyone"})
    ):
        return False
    if subscriber.categories and not set(event.categories) & set(subscriber.categories):
        return False
    return not subscriber.platforms or bool(
        {p.lower() for p in event.platforms} & {p.lower() for p in subscriber.platforms}
    )


@dataclass(frozen=True, slots=True)
class Digest:
    subject: str
    text: str
    html: str
    events: tuple[Event, ...]


def told_at(alert: Alert) -> datetime:
    """When an alert is news: its change's date, or, for a change held until a later capture
    confirmed it (monitor.trust: at most its WINDOW later), when it was decided, so that a
    digest already sent for the change's week does not miss it. An imported change decided
    long after its date keeps its date."""
    decided = alert.decided_at
    if decided is not None and alert.recorded_at < decided <= alert.recorded_at + WINDOW:
        return decided
    return alert.recorded_at


def period_events(alerts: list[Alert], period: Period) -> list[Event]:
    """The events of a period: `alerts` (every alert before its end, so that events group as
    the feeds group them) grouped, and those first told in the period kept (told_at: a held
    change confirmed this week is told this week). An event first told the week before is
    not told again for a document that joined it this week."""
    return [
        e
        for e in group_events(a for a in alerts if a.recorded_at < period.until)
        if min(told_at(a) for a in e.alerts) in period
    ]


def render_digest(
    alerts: list[Alert], subscriber: Subscriber, period: Period, base_url: str
) -> Digest:
    """One subscriber's digest of `period`, from `alerts` up to its end (period_events)."""
    chosen = sorted(
        (e for e in period_events(alerts, period) if wants(subscriber, e)),
        key=lambda a: (-SEVERITY_ORDER[a.severity], a.platform.lower(), a.recorded_at),
    )
    groups = [
        (
            SEVERITY_TITLES[severity],
            [
                (platform, list(items))
                for platform, items in groupby(list(group), key=lambda a: a.platform)
            ],
        )
        for severity, group in groupby(chosen, key=lambda a: a.severity)
    ]
    threats = sum(1 for a in chosen if a.threat)
    if not chosen:
        subject = f"Clausewatch weekly: a quiet week ({period.key})"
    else:
        subject = f"Clausewatch weekly: {threats} alert{'s' * (threats != 1)}, {len(chosen) - threats} other change{'s' * (len(chosen) - threats != 1)} ({period.key})"
    context = {
        "subscriber": subscriber,
        "period": period,
        "groups": groups,
        "count": len(chosen),
        "threats": threats,
        "base_url": base_url if base_url.endswith("/") else base_url + "/",
    }
    env = environment()
    return Digest(
        subject,
        env.get_template("digest.txt").render(**context),
        env.get_template("digest.html").render(**context),
        tuple(chosen),
    )
