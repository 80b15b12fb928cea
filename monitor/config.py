"""Settings: paths, fetching politeness, identity, read once at the edge.

Owns: the Settings values and loading them from a TOML file (`clausewatch.toml`, or the file
named by --config / CLAUSEWATCH_CONFIG) with CLAUSEWATCH_* environment overrides. Must never:
be read deep inside a stage (stages take settings as parameters), do network I/O.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

DEFAULT_CONFIG_FILE = "clausewatch.toml"
PROJECT_URL = "https://github.com/clausewatch/clausewatch"


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How politely and how patiently fetch talks to servers."""

    user_agent: str = f"Clausewatch/0.1 (+{PROJECT_URL}; terms-of-service change monitor)"
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024  # after decompression
    retries: int = 3  # extra attempts after the first, on connection errors, 429 and 5xx
    backoff_base: float = 2.0  # seconds; attempt n waits base * 2**n (with jitter)
    backoff_max: float = 60.0
    max_retry_after: float = 300.0  # a longer Retry-After is a failure, not a wait
    host_delay: float = 5.0  # minimum seconds between two requests to one host
    respect_robots: bool = True
    max_redirects: int = 10
    browser_timeout: float = 30.0  # seconds a rendered page may take to load and show its terms
    browser_pages: int = 4  # pages rendered at once (each host still one at a time)
    chromium: str = ""  # the browser to run; empty: Debian's /usr/bin/chromium, else Playwright's


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One digest recipient and what they want to hear about (empty = everything)."""

    email: str
    name: str = ""
    audiences: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MailSettings:
    """SMTP and digest settings: [smtp] and [digest] in clausewatch.toml."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str = ""
    password: str = ""  # from CLAUSEWATCH_SMTP_PASSWORD, never from the file
    timeout: float = 30.0
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
    feed_min_severity: str = "info"
    failure_alert_after: int = 3  # consecutive failed checks before a maintainer notice
    digest_schedule: str = "0 8 * * 1"  # cron line for `clausewatch run` (UTC; 1 = Monday)
    digest_days: int = 7  # the period the scheduled digest covers
    fetch: FetchSettings = field(default_factory=FetchSettings)
    mail: MailSettings = field(default_factory=MailSettings)


def _check_keys(table: Mapping[str, Any], allowed: list[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(allowed)})"
            raise ConfigError(f"unknown setting {key!r}{hint}", where=where)


def _coerce(value: Any, to: Any, name: str, where: str) -> Any:
    try:
        if to in (Path, "Path"):
            return Path(str(value))
        if to in (bool, "bool"):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if to in (int, "int"):
            return int(value)
        if to in (float, "float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r} must be {to}, got {value!r}", where=where) from None


def _apply(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    fields = {
        f.name: f for f in dataclasses.fields(obj) if f.name not in ("fetch", "mail", "subscribers")
    }
    _check_keys(values, list(fields), where)
    changes = {k: _coerce(v, fields[k].type, k, where) for k, v in values.items()}
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
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", where=str(config_path)) from None
        fetch_table = data.pop("fetch", {})
        smtp_table = data.pop("smtp", {})
        digest_table = dict(data.pop("digest", {}))
        subscribers = _subscribers(
            digest_table.pop("subscribers", []), f"{config_path} [[digest.subscribers]]"
        )
        settings = _apply(settings, data, str(config_path))
        mail = _apply(
            settings.mail, {**smtp_table, **digest_table}, f"{config_path} [smtp]/[digest]"
        )
        if "password" in smtp_table:
            raise ConfigError(
                "the SMTP password is read from CLAUSEWATCH_SMTP_PASSWORD, not from the file",
                where=f"{config_path} [smtp]",
            )
        settings = dataclasses.replace(
            settings,
            fetch=_apply(settings.fetch, fetch_table, f"{config_path} [fetch]"),
            mail=dataclasses.replace(mail, subscribers=subscribers),
        )
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
    settings = _apply(settings, env_top, "environment")
    mail_names = {f.name for f in dataclasses.fields(MailSettings)} - {"subscribers"}
    env_mail = {
        n: env[f"CLAUSEWATCH_SMTP_{n.upper()}"]
        for n in mail_names
        if f"CLAUSEWATCH_SMTP_{n.upper()}" in env
    }
    settings = dataclasses.replace(
        settings,
        fetch=_apply(settings.fetch, env_fetch, "environment"),
        mail=_apply(settings.mail, env_mail, "environment"),
    )
    if settings.mail.security not in ("starttls", "tls", "none"):
        raise ConfigError(
            f"smtp security must be starttls, tls or none, not {settings.mail.security!r}",
            where="settings",
        )
    if settings.feed_min_severity not in ("info", "low", "medium", "high"):
        raise ConfigError(
            f"feed_min_severity must be info, low, medium or high, not {settings.feed_min_severity!r}",
            where="settings",
        )
    return dataclasses.replace(
        settings,
        archive_dir=_absolute(settings.archive_dir, base),
        sources_file=_absolute(settings.sources_file, base),
        public_dir=_absolute(settings.public_dir, base),
    )


def _subscribers(entries: Any, where: str) -> tuple[Subscriber, ...]:
    if not isinstance(entries, list):
        raise ConfigError(
            "subscribers must be a list of tables ([[digest.subscribers]])", where=where
        )
    result = []
    allowed = [f.name for f in dataclasses.fields(Subscriber)]
    for number, entry in enumerate(entries, 1):
        here = f"{where} #{number}"
        if not isinstance(entry, dict) or "@" not in str(entry.get("email", "")):
            raise ConfigError("each subscriber needs an email address", where=here)
        _check_keys(entry, allowed, here)
        lists = {}
        for key in ("audiences", "categories", "platforms"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{key} must be a list of strings", where=here)
            lists[key] = tuple(value)
        result.append(Subscriber(str(entry["email"]), str(entry.get("name", "")), **lists))
    return tuple(result)


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path
