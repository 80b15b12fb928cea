"""Settings: paths, fetching politeness, identity, read once at the edge.

Owns: the Settings values and loading them from a TOML file (`clausewatch.toml`, or the file
named by --config / CLAUSEWATCH_CONFIG) with CLAUSEWATCH_* environment overrides, each value
checked at load (type, range, no line breaks where a header or a request line is made, e-mail
addresses, schedules); the schedule language (an interval with jitter, or a 5-field cron line)
and the APScheduler triggers the daemon runs it with, built here at load so that a schedule the
daemon cannot run is a ConfigError, never a crash of `run`. Must never: be read deep inside a
stage (stages take settings as parameters), do network I/O.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.errors import ConfigError
from monitor.model import Category, Severity

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger

DEFAULT_CONFIG_FILE = "clausewatch.toml"
PROJECT_URL = "https://github.com/clausewatch/clausewatch"

# --- schedules ------------------------------------------------------------------------------
# "every 6h", "every 30m", "every 1d", optionally "every 6h ~30m" (jitter); or a 5-field cron line.
INTERVAL_RE = re.compile(r"^every\s+(\d{1,9})\s*([mhd])(?:\s*~\s*(\d{1,9})\s*([smh]))?$")
CRON_FIELD_RE = re.compile(r"^[\d*/,\-a-zA-Z]+$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LONGEST_INTERVAL = 366 * 86400
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SCHEDULE_FORMS = "'every <N><m|h|d> [~<N><s|m|h>]' or a 5-field cron line like '0 6 * * mon'"


def parse_interval(schedule: str) -> tuple[int, int] | None:
    """ "every 6h ~30m" -> (21600, 1800) seconds; None when the schedule is a cron line."""
    match = INTERVAL_RE.match(schedule.strip())
    if not match:
        return None
    every = int(match.group(1)) * UNITS[match.group(2)]
    jitter = int(match.group(3)) * UNITS[match.group(4)] if match.group(3) else 0
    return every, jitter


def cron_weekdays(field: str) -> str:
    """cron's day-of-week field (0 or 7 = Sunday) in APScheduler's names ("1-5" -> "mon-fri").

    APScheduler counts 0 as Monday, so numbers must never reach it unconverted.
    """
    return re.sub(  # a number after "/" is a step, not a day
        r"(?<![/\d])\d+",
        lambda m: DAYS[int(m.group(0))] if int(m.group(0)) <= 7 else m.group(0),
        field.lower(),
    )


def cron_trigger(line: str) -> CronTrigger:
    from apscheduler.triggers.cron import CronTrigger  # only the daemon and checks need it

    minute, hour, day, month, weekday = line.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=cron_weekdays(weekday),
        timezone=UTC,
    )


def trigger_for(schedule: str) -> BaseTrigger:
    """The trigger the daemon runs a schedule with."""
    from apscheduler.triggers.interval import IntervalTrigger

    interval = parse_interval(schedule)
    if interval is None:
        return cron_trigger(schedule)
    every, jitter = interval
    return IntervalTrigger(seconds=every, jitter=jitter or None, timezone=UTC)


def check_schedule(schedule: str, *, polite: bool = True) -> str | None:
    """Return a problem with a schedule string, or None when the daemon can run it: the
    daemon's own trigger is built and asked for its next fire time."""
    interval = parse_interval(schedule)
    if interval is not None:
        every, jitter = interval
        if polite and every < 15 * 60:
            return "an interval shorter than 15 minutes is impolite to the platform"
        if every > LONGEST_INTERVAL:
            return "an interval longer than a year is never due"
        if jitter >= every:
            return "jitter must be smaller than the interval"
    else:
        fields = schedule.split()
        if len(fields) != 5 or not all(CRON_FIELD_RE.match(f) for f in fields):
            return f"expected {SCHEDULE_FORMS}"
    try:
        now = datetime.now(UTC)
        fire = trigger_for(schedule).get_next_fire_time(None, now)
        if fire is not None and interval is not None:
            fire + timedelta(seconds=sum(interval))  # the daemon adds the jitter itself
    except (ValueError, OverflowError, TypeError, KeyError) as exc:
        return f"the scheduler cannot run it: {exc}"
    if fire is None:
        return "it never fires (no such date)"
    return None


# --- values ---------------------------------------------------------------------------------


class Security(enum.StrEnum):
    """How the SMTP session is protected."""

    STARTTLS = "starttls"  # plain connection upgraded before anything is sent; refused if absent
    TLS = "tls"  # implicit TLS from the first byte
    NONE = "none"  # loopback or a trusted relay only


def normal_address(address: str) -> str:
    """The one spelling of an e-mail address for comparing and for the send log."""
    return address.strip().lower()


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How politely and how patiently fetch talks to servers."""

    user_agent: str = f"Clausewatch/0.1 (+{PROJECT_URL}; terms-of-service change monitor)"
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # per read: a server sending a byte at a time never reaches it
    total_timeout: float = 120.0  # the most one request may take, connect to last byte
    max_bytes: int = 10 * 1024 * 1024  # after decompression
    retries: int = 3  # extra attempts after the first, on connection errors, 429 and 5xx
    backoff_base: float = 2.0  # seconds; attempt n waits base * 2**n (with jitter)
    backoff_max: float = 60.0
    max_retry_after: float = 300.0  # a longer Retry-After is a failure, not a wait
    host_delay: float = 5.0  # minimum seconds between two requests to one host
    respect_robots: bool = True
    max_redirects: int = 10


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One digest recipient and what they want to hear about (empty = everything)."""

    email: str
    name: str = ""
    audiences: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MailSettings:
    """SMTP and digest settings: [smtp] and [digest] in clausewatch.toml."""

    host: str = "localhost"
    port: int = 587
    security: Security = Security.STARTTLS
    username: str = ""
    password: str = ""  # from CLAUSEWATCH_SMTP_PASSWORD, never from the file
    timeout: float = 30.0  # seconds for each read or write
    deadline: float = 120.0  # seconds for one whole exchange: connecting, or one message
    sender: str = "Clausewatch <clausewatch@localhost>"
    unsubscribe: str = ""  # mailto: or https: URL for List-Unsubscribe
    subscribers: tuple[Subscriber, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with defaults that work from a fresh checkout."""

    archive_dir: Path = Path("archive")
    sources_file: Path = Path("sources.yaml")
    public_dir: Path = Path("public")  # feeds and the history site are written here
    workers: int = 8  # hosts fetched concurrently
    lock_timeout: float = 60.0  # seconds a second run waits for the archive lock
    min_clause_chars: int = 200  # a selection with less text is "not terms"
    public_base_url: str = "http://127.0.0.1:8000/"  # where public/ is served, for absolute links
    tag_authority: str = (
        "clausewatch"  # the authority in alert ids (tag: URIs); set a domain you own
    )
    feed_entries: int = 50  # newest alerts per feed
    # info shows good news too; low, medium or high shows threats only
    feed_min_severity: Severity = Severity.INFO
    failure_alert_after: int = 3  # consecutive failed checks before a maintainer notice
    digest_schedule: str = "0 8 * * 1"  # cron line for `clausewatch run` (UTC; 1 = Monday)
    digest_days: int = 7  # the period the scheduled digest covers
    rules: tuple[Path, ...] = ()  # rule files used instead of the shipped packs (empty: the packs)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    mail: MailSettings = field(default_factory=MailSettings)


# Numbers outside these bounds are ConfigErrors: (lowest, highest); a timeout must be above 0.
BOUNDS: dict[str, tuple[float, float]] = {
    "workers": (1, 256),
    "lock_timeout": (0, 86400),
    "min_clause_chars": (0, 1_000_000),
    "feed_entries": (1, 10_000),
    "failure_alert_after": (1, 1_000),
    "digest_days": (1, 366),
    "connect_timeout": (0, 3600),
    "read_timeout": (0, 3600),
    "total_timeout": (0, 86400),
    "max_bytes": (1, 1 << 34),
    "retries": (0, 20),
    "backoff_base": (0, 3600),
    "backoff_max": (0, 86400),
    "max_retry_after": (0, 86400),
    "host_delay": (0, 3600),
    "max_redirects": (0, 50),
    "port": (1, 65535),
    "timeout": (0, 3600),
    "deadline": (0, 86400),
}
ABOVE_ZERO = {"connect_timeout", "read_timeout", "total_timeout", "timeout", "deadline"}
LINE_BREAKS_RE = re.compile(r"[\x00-\x1f\x7f]")
ENUMS: dict[str, type[enum.StrEnum]] = {"Security": Security, "Severity": Severity}


class _Locator:
    """file:line of a key in a TOML file (tomllib keeps no positions): the first line that sets
    it under the table's header (the n-th [[table]] for arrays of tables)."""

    HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line(self, table: str, key: str, occurrence: int = 1) -> int | None:
        current, seen = "", 0
        key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number, line in enumerate(self.lines, 1):
            header = self.HEADER_RE.match(line)
            if header:
                current = header.group(1)
                seen += current == table
                continue
            if current == table and (not table or seen == occurrence) and key_re.match(line):
                return number
        return None

    def at(self, table: str, key: str, occurrence: int = 1) -> str:
        number = self.line(table, key, occurrence)
        named = f" [{table}]" if table else ""
        if number is None:
            return f"{self.path}{named} {key}".rstrip()
        return f"{self.path}:{number}{named}"


def _check_keys(table: Mapping[str, Any], allowed: list[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(allowed)})"
            raise ConfigError(f"unknown setting {key!r}{hint}", where=where)


def _coerce(value: Any, to: str, name: str, where: str) -> Any:
    """One setting's value, of its field's type and within its bounds; TOML gives typed values,
    the environment strings."""
    from_env = isinstance(value, str)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"setting {name!r} must be {expected}, got {value!r}", where=where)

    if to == "tuple[Path, ...]":
        # a TOML list of paths, or in the environment one string of paths joined by os.pathsep
        items = value.split(os.pathsep) if from_env else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise bad("a list of paths")
        return tuple(Path(i) for i in items if i.strip())
    if to == "Path":
        if not isinstance(value, str | Path) or not str(value).strip():
            raise bad("a path")
        return Path(str(value))
    if to == "bool":
        if isinstance(value, bool):
            return value
        if from_env and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise bad("true or false")
    if to in ENUMS:
        kind = ENUMS[to]
        try:
            return kind(str(value).lower()) if isinstance(value, str) else kind(value)
        except ValueError:
            raise bad("one of " + ", ".join(m.value for m in kind)) from None
    if to in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad("a number")
        try:
            number: float = (int if to == "int" else float)(value)
        except (TypeError, ValueError, OverflowError):
            raise bad("a whole number" if to == "int" else "a number") from None
        if to == "int" and isinstance(value, float) and not value.is_integer():
            raise bad("a whole number")
        low, high = BOUNDS.get(name, (0, math.inf))
        if (
            not math.isfinite(number)
            or not low <= number <= high
            or (name in ABOVE_ZERO and number <= 0)
        ):
            above = "above" if name in ABOVE_ZERO else "at least"
            raise bad(f"a number {above} {low:g} and at most {high:g}")
        return number
    if not isinstance(value, str):
        raise bad("a string")
    if LINE_BREAKS_RE.search(value):
        raise bad("one line of text (no line breaks or control characters)")
    return value


def _apply(obj: Any, values: Any, where: Any) -> Any:
    """`values` applied to the dataclass `obj`; `where(key)` names a key's file:line."""
    locate = where if callable(where) else (lambda key: where)
    if not isinstance(values, Mapping):
        raise ConfigError(f"must be a table of settings, got {values!r}", where=locate(""))
    fields = {
        f.name: f for f in dataclasses.fields(obj) if f.name not in ("fetch", "mail", "subscribers")
    }
    for key in values:
        _check_keys({key: None}, list(fields), locate(key))
    changes = {k: _coerce(v, str(fields[k].type), k, locate(k)) for k, v in values.items()}
    return dataclasses.replace(obj, **changes)


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, base: Path | None = None
) -> Settings:
    """Read settings from TOML (if present) then CLAUSEWATCH_<NAME> environment variables.

    Relative paths are taken relative to `base` (the working directory by default).
    """
    env = os.environ if env is None else env
    base = base or Path.cwd()
    explicit = path or (Path(env["CLAUSEWATCH_CONFIG"]) if env.get("CLAUSEWATCH_CONFIG") else None)
    config_path = explicit or base / DEFAULT_CONFIG_FILE
    settings = Settings()
    where: dict[str, Any] = {}  # setting name -> where it was set (for checks across settings)
    if config_path.exists():
        text = config_path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", where=str(config_path)) from None
        locator = _Locator(config_path, text)
        for table in ("fetch", "smtp", "digest"):
            if table in data and not isinstance(data[table], dict):
                raise ConfigError(
                    f"{table!r} must be a table ([{table}]), got {data[table]!r}",
                    where=locator.at("", table),
                )
        fetch_table = data.pop("fetch", {})
        smtp_table = data.pop("smtp", {})
        digest_table = dict(data.pop("digest", {}))
        subscribers = _subscribers(
            digest_table.pop("subscribers", []), locator, f"{config_path} [[digest.subscribers]]"
        )
        if "password" in smtp_table:
            raise ConfigError(
                "the SMTP password is read from CLAUSEWATCH_SMTP_PASSWORD, not from the file",
                where=locator.at("smtp", "password"),
            )
        settings = _apply(settings, data, lambda key: locator.at("", key))

        def mail_where(key: str) -> str:
            return locator.at("smtp" if key in smtp_table else "digest", key)

        mail = _apply(settings.mail, {**smtp_table, **digest_table}, mail_where)
        settings = dataclasses.replace(
            settings,
            fetch=_apply(settings.fetch, fetch_table, lambda key: locator.at("fetch", key)),
            mail=dataclasses.replace(mail, subscribers=subscribers),
        )
        where.update({k: locator.at("", k) for k in data})
        where.update({k: mail_where(k) for k in (*smtp_table, *digest_table)})
    elif explicit:
        raise ConfigError("config file not found", where=str(config_path))
    top = {f.name for f in dataclasses.fields(Settings)} - {"fetch"}
    fetch_names = {f.name for f in dataclasses.fields(FetchSettings)}
    env_top = {n: env[f"CLAUSEWATCH_{n.upper()}"] for n in top if f"CLAUSEWATCH_{n.upper()}" in env}
    if "CLAUSEWATCH_ARCHIVE" in env:
        env_top["archive_dir"] = env["CLAUSEWATCH_ARCHIVE"]
    if "CLAUSEWATCH_SOURCES" in env:
        env_top["sources_file"] = env["CLAUSEWATCH_SOURCES"]
    env_fetch = {
        n: env[f"CLAUSEWATCH_{n.upper()}"] for n in fetch_names if f"CLAUSEWATCH_{n.upper()}" in env
    }
    settings = _apply(settings, env_top, lambda key: f"environment (CLAUSEWATCH_{key.upper()})")
    mail_names = {f.name for f in dataclasses.fields(MailSettings)} - {"subscribers"}
    env_mail = {
        n: env[f"CLAUSEWATCH_SMTP_{n.upper()}"]
        for n in mail_names
        if f"CLAUSEWATCH_SMTP_{n.upper()}" in env
    }
    settings = dataclasses.replace(
        settings,
        fetch=_apply(
            settings.fetch, env_fetch, lambda key: f"environment (CLAUSEWATCH_{key.upper()})"
        ),
        mail=_apply(
            settings.mail, env_mail, lambda key: f"environment (CLAUSEWATCH_SMTP_{key.upper()})"
        ),
    )
    for key in env_top:
        where[key] = f"environment (CLAUSEWATCH_{key.upper()})"
    for key in env_mail:
        where[key] = f"environment (CLAUSEWATCH_SMTP_{key.upper()})"
    _check_together(settings, where)
    return dataclasses.replace(
        settings,
        archive_dir=_absolute(settings.archive_dir, base),
        sources_file=_absolute(settings.sources_file, base),
        public_dir=_absolute(settings.public_dir, base),
        rules=tuple(_absolute(path, base) for path in settings.rules),
    )


def _check_together(settings: Settings, where: Mapping[str, str]) -> None:
    """The checks a value's type cannot make: schedules, addresses, URLs."""
    digest = settings.digest_schedule
    problem = (
        "the digest runs on a 5-field cron line like '0 8 * * 1'"
        if parse_interval(digest) is not None
        else check_schedule(digest)
    )
    if problem:
        raise ConfigError(
            f"digest_schedule {digest!r}: {problem}",
            where=where.get("digest_schedule", "settings"),
        )
    if "@" not in parseaddr(settings.mail.sender)[1]:
        raise ConfigError(
            f"sender must be an e-mail address like 'Clausewatch <digest@example.org>',"
            f" not {settings.mail.sender!r}",
            where=where.get("sender", "settings"),
        )
    unsubscribe = settings.mail.unsubscribe
    if unsubscribe and (
        not unsubscribe.startswith(("mailto:", "https:", "http:")) or " " in unsubscribe
    ):
        raise ConfigError(
            f"unsubscribe must be a mailto: or https: URL, not {unsubscribe!r}",
            where=where.get("unsubscribe", "settings"),
        )


def _subscribers(entries: Any, locator: _Locator, where: str) -> tuple[Subscriber, ...]:
    if not isinstance(entries, list):
        raise ConfigError(
            "subscribers must be a list of tables ([[digest.subscribers]])", where=where
        )
    result = []
    seen: dict[str, int] = {}
    allowed = [f.name for f in dataclasses.fields(Subscriber)]
    for number, entry in enumerate(entries, 1):
        here = f"{where} #{number}"

        def at(key: str, number: int = number, here: str = here) -> str:
            line = locator.line("digest.subscribers", key, number)
            return f"{locator.path}:{line} (subscriber #{number})" if line else here

        if not isinstance(entry, dict):
            raise ConfigError("each subscriber needs an email address", where=here)
        email = entry.get("email", "")
        if (
            not isinstance(email, str)
            or LINE_BREAKS_RE.search(email)
            or parseaddr(email)[1] != email.strip()
            or "@" not in email
            or " " in email.strip()
        ):
            raise ConfigError(
                "each subscriber needs one plain email address like ana@example.org,"
                f" not {email!r}",
                where=at("email"),
            )
        _check_keys(entry, allowed, here)
        key = normal_address(email)
        if key in seen:
            raise ConfigError(
                f"{email!r} is subscriber #{seen[key]} already (addresses are compared"
                " without regard to case): one entry per address",
                where=at("email"),
            )
        seen[key] = number
        name = entry.get("name", "")
        if not isinstance(name, str) or LINE_BREAKS_RE.search(name):
            raise ConfigError("name must be one line of text", where=at("name"))
        lists: dict[str, tuple[str, ...]] = {}
        for list_key in ("audiences", "categories", "platforms"):
            value = entry.get(list_key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{list_key} must be a list of strings", where=at(list_key))
            lists[list_key] = tuple(value)
        known = {c.value for c in Category}
        unknown = [c for c in lists["categories"] if c not in known]
        if unknown:
            raise ConfigError(
                f"unknown categories {unknown} (known: {', '.join(sorted(known))})",
                where=at("categories"),
            )
        result.append(
            Subscriber(
                email.strip(),
                name,
                audiences=lists["audiences"],
                categories=tuple(Category(c) for c in lists["categories"]),
                platforms=lists["platforms"],
            )
        )
    return tuple(result)


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path
