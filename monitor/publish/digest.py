"""The weekly digest: which alerts each subscriber gets, and the mail text that tells them.

Owns: the digest period and its key (a period is sent once per recipient), filtering alerts by
a subscriber's audiences, categories and platforms, grouping them by severity then platform,
the "quiet week" variant, and rendering the plain-text and HTML bodies from templates/
(autoescaped). Must never: talk SMTP (publish.mail does) or write to the archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from monitor.config import Subscriber
from monitor.model import SEVERITY_ORDER, Alert, Severity
from monitor.publish.render import environment

SEVERITY_TITLES = {
    Severity.HIGH: "High: broad new rights over your work",
    Severity.MEDIUM: "Medium: a real widening with limited scope",
    Severity.LOW: "Low: touched, but no new use of your work",
    Severity.INFO: "Good news and other notes",
}


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime
    until: datetime

    @property
    def key(self) -> str:
        """The send-log key: the days covered. Running again the same day sends nothing new."""
        return f"{self.since:%Y-%m-%d}/{self.until:%Y-%m-%d}"


def period_ending(now: datetime, days: int) -> Period:
    until = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return Period(until - timedelta(days=days + 1), until)


def parse_since(text: str) -> int:
    """'7d' -> 7, '2w' -> 14; whole days only."""
    text = text.strip().lower()
    units = {"d": 1, "w": 7}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) < 1:
        raise ValueError(f"--since takes a number of days or weeks like 7d or 2w, not {text!r}")
    return int(text[:-1]) * units[text[-1]]


def wants(subscriber: Subscriber, alert: Alert) -> bool:
    if subscriber.audiences and not (
        set(subscriber.audiences) & (set(alert.audiences) | {"everyone"})
    ):
        return False
    if subscriber.categories and not set(alert.categories) & set(subscriber.categories):
        return False
    return not subscriber.platforms or alert.platform.lower() in {
        p.lower() for p in subscriber.platforms
    }


@dataclass(frozen=True, slots=True)
class Digest:
    subject: str
    text: str
    html: str
    alerts: tuple[Alert, ...]


def render_digest(
    alerts: list[Alert], subscriber: Subscriber, period: Period, base_url: str
) -> Digest:
    chosen = sorted(
        (a for a in alerts if wants(subscriber, a)),
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
