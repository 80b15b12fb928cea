"""Commands that publish: feeds, digest, site build, serve.

Owns: what these commands print and their exit statuses; the work is the library's. Must
never: hold publishing logic (that is monitor.publish).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from monitor.archive import Archive
from monitor.cli.base import (
    Environment,
    ExitStatus,
    open_archive,
    out_dir,
    report_skipped,
    safe,
)
from monitor.config import Settings, Subscriber
from monitor.errors import UsageError
from monitor.publish.digest import parse_since, period_ending, render_digest
from monitor.publish.feed import publish_feeds
from monitor.publish.mail import build_message, send_period_digest
from monitor.publish.site import build_site
from monitor.sources import load_sources
from monitor.track import record_alerts


@contextlib.contextmanager
def _archive_with_alerts(settings: Settings) -> Iterator[Archive]:
    """The archive, locked, with an alert recorded for every change that had none yet: what
    feeds, digest and site all publish from."""
    with open_archive(settings) as archive, archive.lock():
        record_alerts(archive, settings.tag_authority)
        yield archive


def _titles(settings: Settings) -> dict[str, str]:
    sources = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    return {s.id: s.title for s in sources}


def cmd_feeds(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    out = out_dir(args, settings, env)
    titles = _titles(settings)
    with _archive_with_alerts(settings) as archive:
        count, written = publish_feeds(archive, settings, titles, out)
    report_skipped(archive, env)
    console.print(
        f"{count} alerts; {len(written)} feed files written under {safe(str(out / 'feeds'))}"
    )
    return ExitStatus.OK


def cmd_digest(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    try:
        days = parse_since(args.since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    now = datetime.now(UTC)
    period = period_ending(now, days)
    subscribers = settings.mail.subscribers
    if args.send and not subscribers:
        raise UsageError("no subscribers: add [[digest.subscribers]] entries to clausewatch.toml")
    with _archive_with_alerts(settings) as archive:
        alerts = archive.alerts(since=period.since, until=period.until)
        readers = subscribers or (Subscriber("preview@localhost", "Preview"),)
        digests = [(s, render_digest(alerts, s, period, settings.public_base_url)) for s in readers]
        if args.send:
            run = send_period_digest(archive, settings, days, now)
            for result in run.results:
                verdict = (
                    "[green]sent[/]" if result.sent else f"[red]failed[/]: {safe(result.error)}"
                )
                console.print(f"{safe(result.recipient)}: {verdict}")
            sent = sum(r.sent for r in run.results)
            console.print(
                f"period {run.period.key}: {sent} sent, {len(run.results) - sent} failed, "
                f"{run.already_sent} already sent before"
            )
            return ExitStatus.ERROR if sent < len(run.results) else ExitStatus.OK
    if args.to_dir:
        out = args.to_dir if args.to_dir.is_absolute() else env.cwd / args.to_dir
        out.mkdir(parents=True, exist_ok=True)
        for subscriber, digest_ in digests:
            stem = re.sub(r"[^a-z0-9@._-]", "_", subscriber.email.lower())
            (out / f"{stem}.eml").write_bytes(
                bytes(build_message(settings.mail, subscriber, digest_, now))
            )
            (out / f"{stem}.txt").write_text(digest_.text, encoding="utf-8")
            (out / f"{stem}.html").write_text(digest_.html, encoding="utf-8")
        console.print(f"{len(digests)} digest(s) for {period.key} written to {safe(str(out))}")
        return ExitStatus.OK
    subscriber, digest_ = digests[0]
    env.stdout.write(f"Subject: {digest_.subject}\nTo: {subscriber.email}\n\n{digest_.text}")
    return ExitStatus.OK


def cmd_site(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    out = out_dir(args, settings, env)
    with _archive_with_alerts(settings) as archive:
        written = build_site(archive, out)
    report_skipped(archive, env)
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
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        console.print(
            f"Serving {directory} at http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)"
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
