"""Commands that publish: feeds, digest, site build, serve.

Owns: what these commands print and their exit statuses; the work is the library's. Must
never: hold publishing logic (that is monitor.publish).
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from monitor.archive import Archive
from monitor.archive.ledger import SendStatus
from monitor.archive.lock import hold_lock
from monitor.cli.base import (
    Environment,
    ExitStatus,
    open_archive,
    out_dir,
    plain,
    report_skipped,
    safe,
)
from monitor.config import Settings, Subscriber
from monitor.errors import ArchiveLocked, ClausewatchError, UsageError
from monitor.model import Source
from monitor.publish.digest import (
    last_complete_day,
    parse_since,
    parse_until,
    period_ending,
    render_digest,
)
from monitor.publish.feed import publish_feeds, write_if_changed
from monitor.publish.mail import DigestRun, build_message, send_period_digest
from monitor.publish.serve import make_server
from monitor.publish.site import build_site
from monitor.sources import load_sources
from monitor.track import record_alerts

T = TypeVar("T")


# One publisher at a time writes the public folder (site pages, feeds); the archive's own
# lock is only taken, briefly, to record alerts
PUBLISH_LOCK = ".publish.lock"


@contextlib.contextmanager
def _archive_with_alerts(settings: Settings, env: Environment) -> Iterator[Archive]:
    """The archive with an alert recorded for every change that had none yet, read as one
    consistent state: what feeds and site publish from. An import or a pass that holds the
    archive does not block them: they publish what it has committed (it records its alerts
    when it ends), and say so."""

    def busy(holder: str) -> ArchiveLocked:
        return ArchiveLocked(
            f"{settings.archive_dir}: another clausewatch process is publishing"
            f" ({holder or 'unknown holder'}); waited {settings.lock_timeout:.0f}s."
            " Try again when it has finished."
        )

    with (
        open_archive(settings) as archive,
        hold_lock(settings.archive_dir / PUBLISH_LOCK, timeout=settings.lock_timeout, busy=busy),
    ):
        try:
            with archive.lock(timeout=0):
                record_alerts(archive, settings.tag_authority)
        except ArchiveLocked:
            env.stderr.write(
                "note: another clausewatch process is writing the archive; publishing what it"
                " has committed (its new alerts follow at the next build)\n"
            )
        with archive.lock(shared=True):
            yield archive


def _configured(settings: Settings) -> list[Source]:
    """The sources of sources.yaml, or none when there is no such file (an imported archive):
    feeds take their titles, the site their addresses (never an import's file path)."""
    return load_sources(settings.sources_file) if settings.sources_file.exists() else []


def _publish(settings: Settings, env: Environment, build: Callable[[Archive], T]) -> T:
    """Run one publisher over the archive with every alert recorded, then tell which damaged
    files it skipped: what feeds and site build share."""
    with _archive_with_alerts(settings, env) as archive:
        result = build(archive)
    report_skipped(archive, env)
    return result


def cmd_feeds(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    if args.out is not None:  # hidden: what --out meant was never the feeds' own folder
        raise UsageError(
            "feeds --out is now --public DIR: the public folder, whose feeds/ the feeds go"
            " into (DIR/feeds/all.atom), where the site links them"
        )
    public = out_dir(args.public, settings, env)
    titles = {s.id: s.title for s in _configured(settings)}
    count, written = _publish(
        settings, env, lambda archive: publish_feeds(archive, settings, titles, public)
    )
    console.print(
        f"{count} alerts; {len(written)} feed files written under {safe(str(public / 'feeds'))}"
    )
    return ExitStatus.OK


def cmd_digest(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    now = datetime.now(UTC)
    try:
        days = parse_since(args.since)
        last_day = parse_until(args.until, now) if args.until else last_complete_day(now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    period = period_ending(last_day, days)
    subscribers = settings.mail.subscribers
    if args.send and not subscribers:
        raise UsageError("no subscribers: add [[digest.subscribers]] entries to clausewatch.toml")
    with open_archive(settings) as archive:
        with archive.lock():
            record_alerts(archive, settings.tag_authority)
            alerts = archive.alerts(until=period.until)  # before its end: events group as feeds
        if args.send:  # the lock is taken for each record, never while a server is talked to
            return _report_sends(send_period_digest(archive, settings, period, now), console)
    readers = subscribers or (Subscriber("preview@localhost", "Preview"),)
    digests = [(s, render_digest(alerts, s, period, settings.public_base_url)) for s in readers]
    if args.to_dir:
        out = args.to_dir if args.to_dir.is_absolute() else env.cwd / args.to_dir
        stems: set[str] = set()
        try:
            out.mkdir(parents=True, exist_ok=True)
            for subscriber, digest_ in digests:
                stem = base = re.sub(r"[^a-z0-9@._-]", "_", subscriber.email.lower())
                for number in range(2, len(digests) + 2):  # two addresses, one file name
                    if stem not in stems:
                        break
                    stem = f"{base}-{number}"
                stems.add(stem)
                message = build_message(settings.mail, subscriber, digest_, now)
                write_if_changed(out / f"{stem}.eml", bytes(message))
                write_if_changed(out / f"{stem}.txt", digest_.text.encode("utf-8"))
                write_if_changed(out / f"{stem}.html", digest_.html.encode("utf-8"))
        except OSError as exc:
            raise ClausewatchError(f"{out}: cannot write the digests: {exc.strerror}") from exc
        console.print(f"{len(digests)} digest(s) for {period.key} written to {safe(str(out))}")
        return ExitStatus.OK
    subscriber, digest_ = digests[0]
    env.stdout.write(f"Subject: {digest_.subject}\nTo: {subscriber.email}\n\n{plain(digest_.text)}")
    return ExitStatus.OK


def _report_sends(run: DigestRun, console: Console) -> ExitStatus:
    verdicts = {
        SendStatus.SENT: "[green]sent[/]",
        SendStatus.UNCONFIRMED: "[yellow]sent, unconfirmed[/]",
        SendStatus.FAILED: "[red]failed[/]",
    }
    for result in run.results:
        note = f": {safe(result.error)}" if result.error else ""
        console.print(f"{safe(result.recipient)}: {verdicts[result.status]}{note}")
    counts = Counter(r.status for r in run.results)
    unconfirmed = counts[SendStatus.UNCONFIRMED]
    console.print(
        f"period {run.period.key}: {counts[SendStatus.SENT]} sent, "
        f"{counts[SendStatus.FAILED]} failed, "
        + (f"{unconfirmed} unconfirmed (not sent again), " if unconfirmed else "")
        + f"{run.already_sent} already sent before"
    )
    return ExitStatus.ERROR if counts[SendStatus.FAILED] else ExitStatus.OK


def cmd_site(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    out = out_dir(args.out, settings, env)
    urls = {s.id: s.url for s in _configured(settings)}
    written = _publish(settings, env, lambda archive: build_site(archive, out, urls))
    console.print(
        f"{len(written)} pages written under {safe(str(out))}; open {safe(str(out / 'index.html'))}"
    )
    return ExitStatus.OK


def cmd_serve(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    serve(settings.public_dir, args.host, args.port, console)
    return ExitStatus.OK


def serve(directory: Path, host: str, port: int, console: Console) -> None:
    """Serve the public folder (feeds and site) until Ctrl-C."""
    if not directory.is_dir():
        raise UsageError(
            f"{directory}: nothing to serve yet (run `clausewatch site build` and `clausewatch feeds`)"
        )
    with make_server(directory, host, port) as server:
        console.print(
            f"Serving {directory} at http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)"
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
