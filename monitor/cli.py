"""The command line: parse, call the library, print. Thin on purpose.

Owns: argument parsing, turning ClausewatchErrors into messages and exit statuses, and the
terminal output (rich), where every piece of fetched text is stripped of control characters
and markup before it is shown. Must never: hold pipeline logic that a library function should.
"""

from __future__ import annotations

import argparse
import enum
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from monitor import __version__
from monitor import cli_browse as browse
from monitor.archive import Archive
from monitor.config import Settings, Subscriber, load_settings
from monitor.diff import diff, render_markdown
from monitor.document import normalize_text
from monitor.errors import ArchiveError, ClausewatchError, ConfigError, UsageError
from monitor.fetch import Fetcher
from monitor.markdown import parse as markdown_parse
from monitor.model import (
    ChangeKind,
    ChangeSet,
    Outcome,
    SourceResult,
    SpanOp,
    Version,
)
from monitor.ota import convert_declarations, import_history
from monitor.publish.digest import parse_since, period_ending, render_digest
from monitor.publish.feed import publish_feeds
from monitor.publish.mail import build_message, send_period_digest
from monitor.publish.templates import render_changeset_html
from monitor.rules import load_rules
from monitor.schedule import Daemon, DaemonLock
from monitor.serialize import changeset_to_dict
from monitor.sources import AUDIENCES, load_sources, parse_sources, select_sources
from monitor.track import record_alerts, run_pass

CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
OUTCOME_STYLE = {
    Outcome.NEW: "bold green",
    Outcome.CHANGED: "bold yellow",
    Outcome.UNCHANGED: "dim",
    Outcome.NOT_MODIFIED: "dim",
    Outcome.FAILED: "bold red",
}


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # a run failed (every source failed, verify found problems, I/O error)
    USAGE = 2  # bad command line, settings or sources file
    FLAGGED = 3  # `check` found AI-training or broad-licence language


def safe(text: str) -> str:
    """Untrusted text made inert for a terminal: no control characters, no rich markup."""
    return escape(CONTROL_RE.sub("\N{REPLACEMENT CHARACTER}", text))


@dataclass
class Environment:
    """What main() talks to; tests pass their own (HTTPie style)."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)

    @property
    def interactive(self) -> bool:
        return bool(getattr(self.stderr, "isatty", lambda: False)())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausewatch",
        description="Watch platform terms for AI-training and content-licence changes.",
    )
    parser.add_argument("--version", action="version", version=f"clausewatch {__version__}")
    parser.add_argument("--config", type=Path, help="settings file (default: ./clausewatch.toml)")
    parser.add_argument("--archive", type=Path, help="archive folder (default: ./archive)")
    parser.add_argument("--sources", type=Path, help="sources file (default: ./sources.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    track = commands.add_parser("track", help="fetch sources once and archive what changed")
    track.add_argument(
        "source_ids", nargs="*", metavar="SOURCE", help="source ids (default: all enabled)"
    )
    track.add_argument("--json", action="store_true", help="print the summary as JSON")

    verify = commands.add_parser("verify", help="check that archive files and catalog agree")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")

    diff = commands.add_parser(
        "diff", help="show what changed, clause by clause, between two versions"
    )
    diff.add_argument("source_id", metavar="SOURCE", help="source id")
    diff.add_argument(
        "old",
        nargs="?",
        type=int,
        metavar="OLD",
        help="old version id (default: the one before NEW)",
    )
    diff.add_argument(
        "new", nargs="?", type=int, metavar="NEW", help="new version id (default: the latest)"
    )
    formats = diff.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print the ChangeSet as JSON")
    formats.add_argument("--markdown", action="store_true", help="print the ChangeSet as Markdown")
    formats.add_argument(
        "--html", action="store_true", help="print the ChangeSet as an HTML fragment"
    )

    feeds = commands.add_parser(
        "feeds", help="write the Atom/RSS feeds and their OPML list from the archive"
    )
    feeds.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: public_dir, ./public)"
    )

    run = commands.add_parser(
        "run", help="the daemon: track every source on its schedule, publish, send the digest"
    )
    run.add_argument(
        "--once", action="store_true", help="one pass over every source that is due, then exit"
    )

    digest = commands.add_parser(
        "digest", help="the weekly email digest: preview it, write it to files, or send it"
    )
    digest.add_argument(
        "--since",
        default="7d",
        metavar="7d",
        help="how far back: days (7d) or weeks (2w); default 7d",
    )
    outputs = digest.add_mutually_exclusive_group()
    outputs.add_argument(
        "--to-dir",
        type=Path,
        metavar="DIR",
        help="write each recipient's message as .eml, .txt and .html",
    )
    outputs.add_argument(
        "--send",
        action="store_true",
        help="send to every subscriber who has not had this period yet",
    )

    check = commands.add_parser(
        "check",
        help="flag every clause of a URL or file now (exit 3: AI-training or broad licence)",
    )
    check.add_argument(
        "target",
        metavar="URL|FILE",
        help="a terms page URL, or an HTML, PDF, Markdown or text file",
    )
    check.add_argument(
        "--select",
        action="append",
        metavar="CSS",
        help="CSS selector of the terms text (repeatable)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    history = commands.add_parser(
        "history", help="list a source's archived versions and what changed"
    )
    history.add_argument("source_id", metavar="SOURCE", help="source id")
    history.add_argument("--json", action="store_true", help="print the history as JSON")

    show = commands.add_parser(
        "show", help="print an archived version of a source (default: the latest)"
    )
    show.add_argument("source_id", metavar="SOURCE", help="source id")
    show.add_argument(
        "version", nargs="?", type=int, metavar="VERSION", help="version id (default: the latest)"
    )
    show.add_argument("--json", action="store_true", help="print the clauses as JSON")

    site = commands.add_parser("site", help="the static history site")
    site_commands = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    site_build = site_commands.add_parser("build", help="write the history site's pages")
    site_build.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: public_dir, ./public)"
    )

    serve = commands.add_parser("serve", help="serve public/ (site and feeds) on this machine")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)"
    )

    import_ota = commands.add_parser(
        "import-ota", help="convert Open Terms Archive declarations into sources.yaml entries"
    )
    import_ota.add_argument(
        "declarations",
        nargs="+",
        type=Path,
        metavar="DECLARATIONS",
        help="declaration JSON files or folders",
    )
    import_ota.add_argument(
        "--out", type=Path, metavar="FILE", help="write the entries to FILE (default: print them)"
    )
    import_ota.add_argument(
        "--audiences",
        nargs="+",
        metavar="AUDIENCE",
        default=[],
        help="audiences to give every entry",
    )

    import_history = commands.add_parser(
        "import-history", help="read an Open Terms Archive versions repository into the archive"
    )
    import_history.add_argument(
        "repo",
        type=Path,
        metavar="VERSIONS_REPO",
        help="a local clone of an OTA versions repository",
    )
    import_history.add_argument(
        "--source", action="append", metavar="ID", help="import only this source id (repeatable)"
    )

    rules = commands.add_parser("rules", help="list the flagging rules, or try them on text")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    rules_list = rules_commands.add_parser(
        "list", help="list every rule with its category and description"
    )
    rules_list.add_argument("--json", action="store_true", help="print the rules as JSON")
    rules_test = rules_commands.add_parser(
        "test", help="show which rules fire on a file or a text, sentence by sentence"
    )
    rules_test.add_argument(
        "target", metavar="FILE|TEXT", help="a file to read, or the text itself"
    )
    rules_test.add_argument("--json", action="store_true", help="print the matches as JSON")
    for sub in (rules_list, rules_test):
        sub.add_argument(
            "--rules",
            type=Path,
            action="append",
            metavar="FILE",
            help="a rule file instead of the default packs (repeatable)",
        )

    sources = commands.add_parser("sources", help="validate sources.yaml and list the sources")
    sources.add_argument("--json", action="store_true", help="print the sources as JSON")
    return parser


def _settings(args: argparse.Namespace, environment: Environment) -> Settings:
    settings = load_settings(args.config, environment.env, environment.cwd)
    changes = {}
    if args.archive:
        changes["archive_dir"] = (
            args.archive if args.archive.is_absolute() else environment.cwd / args.archive
        )
    if args.sources:
        changes["sources_file"] = (
            args.sources if args.sources.is_absolute() else environment.cwd / args.sources
        )
    if changes:
        import dataclasses

        settings = dataclasses.replace(settings, **changes)
    return settings


def cmd_track(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    all_sources = load_sources(settings.sources_file)
    chosen = select_sources(all_sources, args.source_ids, settings.sources_file)
    if not chosen:
        console.print("No enabled sources to track.")
        return ExitStatus.OK
    fetcher = Fetcher(settings.fetch)
    with (
        Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive,
        archive.lock(),
    ):
        if env.interactive and not args.json:
            progress = Progress(
                TextColumn("tracking"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=Console(file=env.stderr),
                transient=True,
            )
            with progress:
                task = progress.add_task("", total=len(chosen))

                def advance(result: SourceResult) -> None:
                    progress.update(task, advance=1, description=safe(result.source_id))

                summary = run_pass(
                    chosen,
                    archive,
                    fetcher,
                    settings,
                    authority=settings.tag_authority,
                    on_result=advance,
                )
        else:
            summary = run_pass(chosen, archive, fetcher, settings, authority=settings.tag_authority)
    fetcher.close()
    if args.json:
        env.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
    else:
        table = Table(title=f"Tracking pass: {len(chosen)} sources", title_justify="left")
        table.add_column("source")
        table.add_column("outcome")
        table.add_column("detail", overflow="fold")
        for result in sorted(summary.results, key=lambda r: r.source_id):
            style = OUTCOME_STYLE[result.outcome]
            table.add_row(
                safe(result.source_id), f"[{style}]{result.outcome.value}[/]", safe(result.detail)
            )
        console.print(table)
        counts = summary.counts
        console.print(
            ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
        )
    return ExitStatus.ERROR if summary.all_failed else ExitStatus.OK


def cmd_verify(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    if not (settings.archive_dir / "catalog.sqlite").exists():
        raise UsageError(
            f"{settings.archive_dir}: no archive here yet (run `clausewatch track` first)"
        )
    with (
        Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive,
        archive.lock(shared=True),
    ):
        report = archive.verify()
    if args.json:
        env.stdout.write(
            json.dumps(
                {
                    "ok": report.ok,
                    "snapshots": report.snapshots,
                    "versions": report.versions,
                    "problems": report.problems,
                    "orphans": report.orphans,
                },
                indent=2,
            )
            + "\n"
        )
    else:
        for problem in report.problems:
            console.print(f"[red]problem[/]: {safe(problem)}")
        for orphan in report.orphans:
            console.print(
                f"[dim]orphan (file with no catalog row, left by an interrupted run): {safe(orphan)}[/]"
            )
        verdict = "[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problems[/]"
        console.print(f"{report.snapshots} snapshots, {report.versions} versions: {verdict}")
    return ExitStatus.OK if report.ok else ExitStatus.ERROR


def cmd_sources(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    sources = load_sources(settings.sources_file)
    if args.json:
        rows = [
            {
                "id": s.id,
                "platform": s.platform,
                "document_type": s.document_type,
                "url": s.url,
                "select": list(s.select),
                "remove": list(s.remove),
                "schedule": s.schedule,
                "audiences": list(s.audiences),
                "enabled": s.enabled,
            }
            for s in sources
        ]
        env.stdout.write(json.dumps(rows, indent=2) + "\n")
        return ExitStatus.OK
    table = Table(title=f"{settings.sources_file}: {len(sources)} sources", title_justify="left")
    for column in ("id", "platform", "document", "audiences", "schedule", "url"):
        table.add_column(column, overflow="fold")
    for s in sources:
        name = s.id if s.enabled else f"{s.id} (disabled)"
        table.add_row(
            *(
                safe(v)
                for v in (
                    name,
                    s.platform,
                    s.document_type,
                    ", ".join(s.audiences),
                    s.schedule,
                    s.url,
                )
            )
        )
    console.print(table)
    return ExitStatus.OK


def _open_archive(settings: Settings) -> Archive:
    if not (settings.archive_dir / "catalog.sqlite").exists():
        raise UsageError(
            f"{settings.archive_dir}: no archive here yet (run `clausewatch track` first)"
        )
    return Archive(settings.archive_dir, lock_timeout=settings.lock_timeout)


def _pick_versions(
    archive: Archive, source_id: str, old: int | None, new: int | None
) -> tuple[Version, Version]:
    versions = archive.versions(source_id)
    if not versions:
        raise UsageError(
            f"source {source_id!r} has no archived versions (known: {', '.join(archive.source_ids()) or 'none'})"
        )
    by_id = {v.id: v for v in versions}
    for wanted in (old, new):
        if wanted is not None and wanted not in by_id:
            raise UsageError(
                f"source {source_id!r} has no version {wanted} (versions: {', '.join(map(str, by_id))})"
            )
    newer = by_id[new] if new is not None else versions[-1]
    if old is not None:
        return by_id[old], newer
    earlier = [v for v in versions if v.id < newer.id]
    if not earlier:
        raise UsageError(
            f"version {newer.id} is the first version of {source_id!r}: nothing to compare it with"
        )
    return earlier[-1], newer


def changeset_text(changeset: ChangeSet) -> Text:
    """A ChangeSet for the terminal: deletions red and struck, insertions green. No markup parsing."""
    out = Text()
    if not changeset.changes:
        out.append("No changes.\n")
    for change in changeset.changes:
        clause = change.new or change.old
        assert clause is not None
        out.append(
            CONTROL_RE.sub("\ufffd", " > ".join(clause.heading_path) or "(top of the document)"),
            "bold",
        )
        out.append(f"  {change.kind.value}{' (cosmetic)' if change.cosmetic else ''}\n", "cyan")
        if change.kind in (ChangeKind.MOVED, ChangeKind.RENUMBERED):
            old_label = change.old.label if change.old else None
            new_label = change.new.label if change.new else None
            if old_label != new_label:
                out.append(
                    f"  number {old_label or '(none)'} -> {new_label or '(none)'}\n", "yellow"
                )
            out.append("  " + CONTROL_RE.sub("\ufffd", clause.full_text) + "\n\n", "dim")
            continue
        out.append("  ")
        if clause.label:
            out.append(CONTROL_RE.sub("\ufffd", clause.label) + " ")
        for span in change.spans:
            style = {SpanOp.INSERT: "bold green", SpanOp.DELETE: "red strike"}.get(span.op, "")
            out.append(CONTROL_RE.sub("\ufffd", span.text), style)
        out.append("\n\n")
    return out


def cmd_diff(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    with _open_archive(settings) as archive, archive.lock(shared=True):
        old, new = _pick_versions(archive, args.source_id, args.old, args.new)
        stored = {(c.old_version_id, c.new_version_id): c for c in archive.changes(args.source_id)}
        if (old.id, new.id) in stored:
            changeset = archive.read_changeset(stored[(old.id, new.id)])
        else:
            changeset = diff(archive.read_version(old), archive.read_version(new), old.id, new.id)
    title = f"{args.source_id}: version {old.id} ({old.recorded_at:%Y-%m-%d}) -> {new.id} ({new.recorded_at:%Y-%m-%d})"
    if args.json:
        env.stdout.write(
            json.dumps({"source_id": args.source_id, **changeset_to_dict(changeset)}, indent=2)
            + "\n"
        )
    elif args.markdown:
        env.stdout.write(render_markdown(changeset, title))
    elif args.html:
        env.stdout.write(render_changeset_html(changeset, title))
    else:
        console.print(Text(title + "\n", "bold underline"))
        console.print(changeset_text(changeset))
    return ExitStatus.OK


def cmd_rules(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    rules = load_rules(args.rules)
    if args.rules_command == "list":
        if args.json:
            rows = [
                {
                    "id": r.id,
                    "category": r.category.value,
                    "severity": r.severity.value,
                    "polarity": r.polarity.value,
                    "actor": r.actor.value,
                    "description": r.description,
                    "origin": r.origin,
                }
                for r in rules.rules
            ]
            env.stdout.write(json.dumps(rows, indent=2) + "\n")
            return ExitStatus.OK
        table = Table(title=f"{len(rules.rules)} rules", title_justify="left")
        for column in ("id", "category", "severity", "description"):
            table.add_column(column, overflow="fold")
        for r in rules.rules:
            table.add_row(r.id, r.category.value, r.severity.value, safe(r.description))
        console.print(table)
        return ExitStatus.OK
    target = Path(args.target)
    if target.exists():
        try:
            raw = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{target}: cannot read: {exc}") from None
        text = (
            " ".join(c.full_text for c in markdown_parse(raw).clauses)
            if target.suffix == ".md"
            else raw
        )
    else:
        text = args.target
    matches = rules.match(
        normalize_text(text)
        if "\n" not in text
        else "\n".join(normalize_text(line) for line in text.splitlines())
    )
    if args.json:
        env.stdout.write(
            json.dumps(
                [
                    {
                        "rule_id": m.rule_id,
                        "category": m.category.value,
                        "severity": m.severity.value,
                        "words": list(m.words),
                        "sentence": m.sentence,
                    }
                    for m in matches
                ],
                indent=2,
            )
            + "\n"
        )
        return ExitStatus.OK
    if not matches:
        console.print("No rule fired.")
    for m in matches:
        line = Text()
        line.append(f"{m.rule_id}", "bold")
        line.append(f"  {m.category.value} ({m.severity.value})\n", "cyan")
        line.append(
            "  fired on: " + ", ".join(CONTROL_RE.sub("\ufffd", w) for w in m.words) + "\n",
            "yellow",
        )
        line.append("  " + CONTROL_RE.sub("\ufffd", m.sentence) + "\n")
        console.print(line)
    return ExitStatus.OK


def _out_dir(args: argparse.Namespace, settings: Settings, env: Environment) -> Path:
    """--out, relative to the working directory, or the configured public_dir."""
    if args.out is None:
        return settings.public_dir
    return args.out if args.out.is_absolute() else env.cwd / args.out


def _titles(settings: Settings) -> dict[str, str]:
    sources = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    return {s.id: s.title for s in sources}


def cmd_feeds(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    out = _out_dir(args, settings, env)
    titles = _titles(settings)
    with _open_archive(settings) as archive, archive.lock():
        record_alerts(archive, settings.tag_authority)
        count, written = publish_feeds(archive, settings, titles, out)
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
    with _open_archive(settings) as archive, archive.lock():
        record_alerts(archive, settings.tag_authority)
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


def cmd_run(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    sources = load_sources(settings.sources_file)
    titles = {s.id: s.title for s in sources}

    def publish(archive: Archive) -> None:
        publish_feeds(archive, settings, titles)

    def send_digest() -> None:
        with (
            Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive,
            archive.lock(),
        ):
            record_alerts(archive, settings.tag_authority)
            send_period_digest(archive, settings, settings.digest_days, datetime.now(UTC))

    logging.basicConfig(
        level=logging.INFO,
        stream=env.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with DaemonLock(settings.archive_dir):
        daemon = Daemon(
            sources,
            settings,
            publish=publish,
            send_digest=send_digest if settings.mail.subscribers else None,
            digest_schedule=settings.digest_schedule,
        )
        if args.once:
            summary = daemon.once()
            if summary is None:
                console.print("Nothing is due.")
                return ExitStatus.OK
            counts = summary.counts
            console.print(
                ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
            )
            return ExitStatus.ERROR if summary.all_failed else ExitStatus.OK
        daemon.forever()
    return ExitStatus.OK


def cmd_check(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    code, report = browse.check_report(args, settings, console, safe)
    if args.json:
        env.stdout.write(browse.as_json(report))
    return ExitStatus.FLAGGED if code == ExitStatus.FLAGGED else ExitStatus.OK


def cmd_history(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    with _open_archive(settings) as archive, archive.lock(shared=True):
        rows = browse.history_rows(archive, args.source_id)
    if args.json:
        env.stdout.write(browse.as_json({"source_id": args.source_id, "versions": rows}))
    else:
        browse.print_history(rows, args.source_id, console, safe)
    return ExitStatus.OK


def cmd_show(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    with _open_archive(settings) as archive, archive.lock(shared=True):
        document, text = browse.show_version(archive, args.source_id, args.version)
    if args.json:
        clauses = [
            {"key": c.key, "heading_path": list(c.heading_path), "label": c.label, "text": c.text}
            for c in document.clauses
        ]
        env.stdout.write(
            browse.as_json(
                {
                    "title": document.title,
                    "effective_date": document.effective_date,
                    "clauses": clauses,
                }
            )
        )
    else:
        env.stdout.write(_plain(text))
    return ExitStatus.OK


def _plain(text: str) -> str:
    """Archived text for a terminal: line breaks kept, every other control character replaced."""
    return "\n".join(CONTROL_RE.sub("\ufffd", line) for line in text.split("\n"))


def cmd_site(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    out = _out_dir(args, settings, env)
    _open_archive(settings).close()  # says clearly when there is no archive yet
    written = browse.site_build(settings, out)
    console.print(
        f"{len(written)} pages written under {safe(str(out))}; open {safe(str(out / 'index.html'))}"
    )
    return ExitStatus.OK


def cmd_serve(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    browse.serve(settings.public_dir, args.host, args.port, console)
    return ExitStatus.OK


def cmd_import_ota(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    for audience in args.audiences:
        if audience not in AUDIENCES:
            raise UsageError(f"unknown audience {audience!r} (known: {', '.join(AUDIENCES)})")
    paths = [p if p.is_absolute() else env.cwd / p for p in args.declarations]
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    conversion = convert_declarations(paths, args.audiences)
    text = yaml.safe_dump(
        {"sources": conversion.entries}, sort_keys=False, allow_unicode=True, width=100
    )
    parse_sources(text, Path("<import-ota>"))  # what we write must load
    errors = Console(file=env.stderr, highlight=False, soft_wrap=True)
    for problem in conversion.problems:
        errors.print(f"not converted: {safe(problem)}")
    for warning in conversion.warnings:
        errors.print(f"warning: {safe(warning)}")
    if args.out:
        out = args.out if args.out.is_absolute() else env.cwd / args.out
        out.write_text(text, encoding="utf-8")
        console.print(
            f"{len(conversion.entries)} sources written to {safe(str(out))}; {len(conversion.problems)} not converted"
        )
    else:
        env.stdout.write(text)
    return ExitStatus.OK if conversion.entries or not conversion.problems else ExitStatus.ERROR


def cmd_import_history(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    repo = args.repo if args.repo.is_absolute() else env.cwd / args.repo
    if not repo.is_dir():
        raise UsageError(f"{repo}: no such folder")
    with (
        Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive,
        archive.lock(),
    ):
        report = import_history(
            repo, archive, load_rules(), only=set(args.source) if args.source else None
        )
        alerts = record_alerts(archive, settings.tag_authority)
    for problem in report.problems:
        console.print(f"[yellow]skipped[/]: {safe(problem)}")
    console.print(
        f"{report.sources} documents, {report.versions} versions imported ({report.technical} technical), "
        f"{report.skipped} skipped as already there or unchanged; {alerts} alerts"
    )
    return ExitStatus.OK


COMMANDS = {
    "import-ota": cmd_import_ota,
    "import-history": cmd_import_history,
    "check": cmd_check,
    "history": cmd_history,
    "show": cmd_show,
    "site": cmd_site,
    "serve": cmd_serve,
    "run": cmd_run,
    "digest": cmd_digest,
    "feeds": cmd_feeds,
    "track": cmd_track,
    "verify": cmd_verify,
    "sources": cmd_sources,
    "diff": cmd_diff,
    "rules": cmd_rules,
}


def main(argv: Sequence[str] | None = None, environment: Environment | None = None) -> int:
    environment = environment or Environment()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    console = Console(file=environment.stdout, highlight=False, soft_wrap=False)
    errors = Console(file=environment.stderr, highlight=False, soft_wrap=True)
    try:
        settings = _settings(args, environment)
        return int(COMMANDS[args.command](args, settings, console, environment))
    except (ConfigError, UsageError) as exc:
        errors.print(f"clausewatch: error: {safe(str(exc))}")
        return int(ExitStatus.USAGE)
    except ArchiveError as exc:
        errors.print(f"clausewatch: archive error: {safe(str(exc))}")
        return int(ExitStatus.ERROR)
    except ClausewatchError as exc:
        errors.print(f"clausewatch: error: {safe(str(exc))}")
        return int(ExitStatus.ERROR)
    except KeyboardInterrupt:
        errors.print("clausewatch: interrupted")
        return 130
