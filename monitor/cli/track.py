"""Commands that track and read the archive: track, verify, sources, diff, run.

Owns: what these commands print and their exit statuses; the work is the library's. Every
piece of fetched text is made inert before it reaches the terminal. Must never: hold
pipeline logic.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from monitor.archive import Archive
from monitor.archive.serialize import changeset_to_dict, flag_to_dict
from monitor.archive.store import Rediff, Reextract
from monitor.cli.base import (
    Environment,
    ExitStatus,
    alert_statuses,
    archived_versions,
    open_archive,
    plain,
    safe,
    version_numbers,
)
from monitor.config import Settings
from monitor.diff import diff
from monitor.errors import UsageError
from monitor.extract import readers
from monitor.fetch import fetchers_for
from monitor.fetch.reasons import short_reason
from monitor.flag import flag_changes
from monitor.model import (
    ChangeSet,
    Document,
    FetchFailure,
    Flag,
    Origin,
    Outcome,
    Selector,
    Snapshot,
    SourceResult,
    Version,
)
from monitor.pages import MULTIPART, recorded_pages
from monitor.rules.files import load_rules
from monitor.rules.language import RuleSet
from monitor.sources import load_sources, select_sources
from monitor.track import record_alerts, run_pass

OUTCOME_STYLE = {
    Outcome.NEW: "bold green",
    Outcome.CHANGED: "bold yellow",
    Outcome.UNCHANGED: "dim",
    Outcome.NOT_MODIFIED: "dim",
    Outcome.FAILED: "bold red",
}


def cmd_track(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    all_sources = load_sources(settings.sources_file)
    chosen = select_sources(all_sources, args.source_ids, settings.sources_file)
    if not chosen:
        console.print("No enabled sources to track.")
        return ExitStatus.OK
    with (
        fetchers_for(settings.fetch) as fetchers,  # the browser, if started, ends with the pass
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
                # redrawn on each result, by this thread: a refresh thread would keep the pass
                # from forking its worker (monitor.track, decision 0007)
                auto_refresh=False,
            )
            with progress:
                task = progress.add_task("", total=len(chosen))

                def advance(result: SourceResult) -> None:
                    progress.update(
                        task, advance=1, description=safe(result.source_id), refresh=True
                    )

                summary = run_pass(
                    chosen,
                    archive,
                    fetchers,
                    settings,
                    authority=settings.tag_authority,
                    on_result=advance,
                )
        else:
            summary = run_pass(
                chosen, archive, fetchers, settings, authority=settings.tag_authority
            )
    if args.json:
        env.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
    else:
        table = Table(title=f"Tracking pass: {len(chosen)} sources", title_justify="left")
        table.add_column("source")
        table.add_column("outcome")
        # one line per source: a failure in a few words; the whole error with --verbose
        if args.verbose:
            table.add_column("detail", overflow="fold")
        else:
            table.add_column("detail", no_wrap=True, overflow="ellipsis")
        for result in sorted(summary.results, key=lambda r: r.source_id):
            style = OUTCOME_STYLE[result.outcome]
            detail = result.detail
            if result.failure is not None and not args.verbose:
                detail = short_reason(result.failure)
            table.add_row(
                safe(result.source_id), f"[{style}]{result.outcome.value}[/]", safe(detail)
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
    repaired = None
    # check=False: a damaged catalog is opened, to be reported rather than refused
    with Archive(settings.archive_dir, lock_timeout=settings.lock_timeout, check=False) as archive:
        if args.repair:
            with archive.lock():  # nothing else writes while files are removed and restored
                repaired = archive.repair(*_repairs(archive, settings))
        with archive.lock(shared=True):
            report = archive.verify()
    if args.json:
        document: dict[str, object] = {
            "ok": report.ok,
            "snapshots": report.snapshots,
            "versions": report.versions,
            "changes": report.changes,
            "problems": report.problems,
            "orphans": report.orphans,
        }
        if repaired is not None:
            document["repair"] = {
                "repaired": repaired.repaired,
                "removed": repaired.removed,
                "unrepaired": repaired.unrepaired,
            }
        env.stdout.write(json.dumps(document, indent=2) + "\n")
        return ExitStatus.OK if report.ok else ExitStatus.ERROR
    if repaired is not None:
        for done in repaired.repaired:
            console.print(f"[green]repaired[/]: {safe(done)}")
        for removed in repaired.removed:
            console.print(f"[dim]removed (no catalog row names it): {safe(removed)}[/]")
        for problem in repaired.unrepaired:
            console.print(f"[red]not repaired[/]: {safe(problem)}")
    for problem in report.problems:
        console.print(f"[red]problem[/]: {safe(problem)}")
    for orphan in report.orphans:
        console.print(
            f"[dim]orphan (file with no catalog row, left by an interrupted run): {safe(orphan)}[/]"
        )
    verdict = "[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problems[/]"
    console.print(
        f"{report.snapshots} snapshots, {report.versions} versions, {report.changes} changes:"
        f" {verdict}"
    )
    if not report.ok and repaired is None:
        console.print("`clausewatch verify --repair` restores what can be restored (README).")
    return ExitStatus.OK if report.ok else ExitStatus.ERROR


def _selectors_json(selectors: Sequence[Selector]) -> list[str | dict[str, str]]:
    return [s if isinstance(s, str) else s.as_dict() for s in selectors]


def _repairs(archive: Archive, settings: Settings) -> tuple[Reextract, Rediff]:
    """How `verify --repair` extracts a snapshot again and rebuilds a ChangeSet: as a pass
    does, with the sources' selectors (from sources.yaml, else as the catalog knows them)."""
    declared = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    sources = {s.id: s for s in declared}
    loaded: list[RuleSet] = []

    def reextract(snapshot: Snapshot) -> Document | str:
        source = sources.get(snapshot.source_id) or archive.source(snapshot.source_id)
        if source is None:
            return f"{snapshot.source_id} is neither in sources.yaml nor in the catalog"
        if snapshot.content_type == MULTIPART and not source.pages:
            # a document of several pages whose source no longer lists them (it left
            # sources.yaml, and the catalog keeps no selectors): its pages as the snapshot
            # recorded them, each read whole, as a one-page source without selectors is
            try:
                source = dataclasses.replace(source, pages=recorded_pages(snapshot.content))
            except ValueError as exc:
                return str(exc)
        document = readers.extract(snapshot, source, min_chars=settings.min_clause_chars)
        return document.detail if isinstance(document, FetchFailure) else document

    def rediff(
        old: Document, new: Document, old_id: int, new_id: int, origin: Origin
    ) -> tuple[ChangeSet, tuple[Flag, ...]]:
        changeset = diff(old, new, old_id, new_id)
        if origin is Origin.TECHNICAL:  # a technical change is never flagged
            return changeset, ()
        if not loaded:
            loaded.append(load_rules(settings.rules or None))
        return changeset, flag_changes(changeset, loaded[0], (old, new))

    return reextract, rediff


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
                "select": _selectors_json(s.select),
                "remove": _selectors_json(s.remove),
                "schedule": s.schedule,
                "audiences": list(s.audiences),
                "enabled": s.enabled,
                "fetch": s.fetch.value,
                "pages": [
                    {
                        "url": p.url,
                        "select": _selectors_json(p.select),
                        "remove": _selectors_json(p.remove),
                        "fetch": p.fetch.value,
                    }
                    for p in s.pages
                ],
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


def pick_versions(
    archive: Archive, source_id: str, old: int | None, new: int | None
) -> tuple[Version, Version]:
    """Two versions of a source by their numbers within it (1, 2, ...): NEW defaults to the
    latest, OLD to the one before NEW."""
    versions = archived_versions(archive, source_id)
    by_number = {v.number: v for v in versions}
    for wanted in (old, new):
        if wanted is not None and wanted not in by_number:
            raise UsageError(
                f"source {source_id!r} has no version {wanted} (versions: {version_numbers(versions)})"
            )
    newer = by_number[new] if new is not None else versions[-1]
    if old is not None:
        return by_number[old], newer
    earlier = [v for v in versions if v.number < newer.number]
    if not earlier:
        raise UsageError(
            f"version {newer.number} is the first version of {source_id!r}: nothing to compare it with"
        )
    return earlier[-1], newer


# Deleted and inserted words in plain text (a pipe, a file, --no-color), as git's word diff
# marks them: without colour they would run together ("non-members Members")
MARKS = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}


def _marked(text: str, op: str) -> str:
    """A span's words between its marks; the spaces around them stay outside."""
    start, end = MARKS.get(op, ("", ""))
    words = text.strip()
    if not start or not words:
        return text
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    return f"{lead}{start}{words}{end}{trail}"


def changeset_text(changeset: ChangeSet, marked: bool = False) -> Text:
    """A ChangeSet for the terminal: deletions red and struck, insertions green; `marked`
    (no colour) shows them as [-deleted-]{+inserted+} instead. No markup parsing; what is
    shown of each change is publish.render's change_view, as everywhere."""
    from monitor.publish.render import change_view

    styles = {"insert": "bold green", "delete": "red strike", "omitted": "dim italic"}
    out = Text()
    for note in changeset.notes:
        out.append(f"Note: {plain(note)}\n\n", "italic")
    if not changeset.changes:
        out.append("No changes.\n")
    for change in changeset.changes:
        view = change_view(change)
        out.append(plain(view.heading), "bold")
        out.append(f"  {view.kind}{' (cosmetic)' if view.cosmetic else ''}\n", "cyan")
        if view.moved_text is not None:
            if view.renumbered:
                old, new = view.renumbered
                out.append(f"  number {plain(old)} -> {plain(new)}\n", "yellow")
            out.append("  " + plain(view.moved_text) + "\n\n", "dim")
            continue
        out.append("  ")
        if view.label:
            out.append(plain(view.label) + " ")
        for span in view.spans:
            text = _marked(plain(span.text), span.op) if marked else plain(span.text)
            out.append(text, styles.get(span.op, ""))
        out.append("\n\n")
    return Text(out.plain) if marked else out  # marked: no colour, no bold


def cmd_diff(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    from monitor.publish.render import render_changeset_html, render_markdown

    stored_data: dict[str, object] | None = None
    status: str | None = None  # what became of a stored change: its alert, or why none
    with open_archive(settings) as archive, archive.lock(shared=True):
        old, new = pick_versions(archive, args.source_id, args.old, args.new)
        stored = {(c.old_version_id, c.new_version_id): c for c in archive.changes(args.source_id)}
        if (old.id, new.id) in stored:
            status = alert_statuses(archive, args.source_id).get(stored[(old.id, new.id)].id)
            changeset = archive.read_changeset(stored[(old.id, new.id)])
            if args.json:
                stored_data = archive.read_change_file(stored[(old.id, new.id)])
        else:
            old_document, new_document = archive.read_version(old), archive.read_version(new)
            changeset = diff(old_document, new_document, old.id, new.id)
            if args.json:  # two versions with no stored change between them: flagged now
                flags = flag_changes(
                    changeset, load_rules(settings.rules or None), (old_document, new_document)
                )
        versions = archive.versions(args.source_id)
    title = f"{args.source_id}: version {old.number} ({old.recorded_at:%Y-%m-%d}) -> {new.number} ({new.recorded_at:%Y-%m-%d})"
    if status and not args.json:  # the alert's title, "not alerted: ..." or "held: ..."
        changeset = dataclasses.replace(
            changeset,
            notes=(
                *changeset.notes,
                status if status.startswith(("not alerted", "held")) else f"Alerted: {status}",
            ),
        )
    if args.json:
        if stored_data is not None:  # the ChangeSet as stored, flags and recorded_at included
            data: dict[str, object] = {"stored": True, **stored_data, "alert": status or None}
        else:
            data = {
                "source_id": args.source_id,
                "stored": False,
                "recorded_at": None,
                "technical": False,
                **changeset_to_dict(changeset),
                "flags": [flag_to_dict(f) for f in flags],
            }
        data["old_version"], data["new_version"] = old.number, new.number
        data["versions"] = [
            {
                "version": v.number,
                "id": v.id,
                "recorded_at": v.recorded_at.isoformat(),
                "technical": v.technical,
            }
            for v in versions
        ]
        env.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif args.markdown:
        env.stdout.write(render_markdown(changeset, title))
    elif args.html:
        env.stdout.write(render_changeset_html(changeset, title))
    else:
        # colour only on a terminal that wants it (NO_COLOR: https://no-color.org)
        marked = args.no_color or bool(env.env.get("NO_COLOR")) or not console.is_terminal
        console.print(Text(title + "\n", "" if marked else "bold underline"))
        console.print(changeset_text(changeset, marked))
    return ExitStatus.OK


def cmd_run(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    # Imported here, not at the top: only the daemon needs the scheduler and the publishers.
    from monitor.config import cron_trigger
    from monitor.publish.digest import period_of_send
    from monitor.publish.feed import publish_feeds
    from monitor.publish.mail import send_period_digest
    from monitor.schedule import Daemon, DaemonLock, previous_fire

    sources = load_sources(settings.sources_file)
    titles = {s.id: s.title for s in sources}

    def publish(archive: Archive) -> None:
        publish_feeds(archive, settings, titles)
        for problem in dict.fromkeys(archive.skipped):  # damaged files: skipped, and told
            logging.getLogger("monitor.publish").warning("skipped a damaged file: %s", problem)
        archive.skipped.clear()

    def send_digest() -> None:
        with Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive:
            with archive.lock():
                record_alerts(archive, settings.tag_authority)
            # never holding the lock while a server is talked to: it is taken for each record
            # the period of the last scheduled time (the one missed, when started late)
            now = datetime.now(UTC)
            fired = previous_fire(cron_trigger(settings.digest_schedule), now) or now
            period = period_of_send(fired, settings.digest_days)
            send_period_digest(archive, settings, period, now)

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
