"""The browsing commands of the command line: check, history, show, site build, serve.

Owns: what these commands print (rich, with every piece of fetched text stripped of control
characters and markup) and their exit statuses. Thin like cli.py, which registers them: the
work is done by the library. Must never: hold pipeline logic.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.archive import Archive
from monitor.cli.base import (
    Environment,
    ExitStatus,
    alert_statuses,
    archived_versions,
    is_file,
    open_archive,
    plain,
    safe,
    version_numbers,
)
from monitor.config import Settings
from monitor.diff import diff
from monitor.errors import ClausewatchError, UsageError
from monitor.extract.document import normalize_text
from monitor.extract.markdown import render as markdown_render
from monitor.extract.readers import extract
from monitor.fetch import fetchers_for
from monitor.fetch.auto import render_instead
from monitor.flag import assess, flag_changes
from monitor.model import (
    Category,
    Document,
    FetchFailure,
    FetchMode,
    Match,
    NotModified,
    Selector,
    Snapshot,
    Source,
)
from monitor.rules.files import load_rules
from monitor.rules.policy import CREATOR_CATEGORIES, is_alarming
from monitor.sources import load_sources, parse_selectors
from monitor.trust import SUSPECT_NOTE

HOW_TO_READ = {
    Category.AI_TRAINING: "the platform may train AI on users' content or data: a threat to creators",
    Category.THIRD_PARTY_AI: "content or data may go to others for their AI: a threat to creators",
    Category.CONTENT_LICENSE: "the licence you grant over your work: check how broad it is",
    Category.DATA_SHARING: "data shared with AI, chatbot or search partners",
    Category.OPT_OUT: "a way to object or opt out: use it if you do not want your work used",
    Category.PROTECTIVE: "a promise not to train on or share your work: good news",
    Category.OTHERS_MAY_NOT_TRAIN: "others may not scrape or train on the platform's content: protects your work",
}


# A file's media type by its suffix; any other suffix is read as HTML
FILE_TYPES = {".pdf": "application/pdf", ".md": "text/markdown", ".txt": "text/plain"}


def load_document(
    target: str,
    select: tuple[Selector, ...],
    settings: Settings,
    tracked: Source | None = None,
    cwd: Path | None = None,
) -> tuple[Document, str]:
    """The Document of a file or URL, and what to call it. A missing file or a target that is
    no URL is a UsageError; a failed fetch or extraction a ClausewatchError."""
    path = cwd / target if cwd is not None else Path(target)  # an absolute target stays
    if is_file(path):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
        # read as tracking reads a snapshot, by the same readers and the same "not terms"
        # judgement: a script-built shell or a few bytes is a failure, never an all-clear
        media_type = FILE_TYPES.get(path.suffix.lower(), "text/html")
        snapshot = Snapshot(
            source_id="check",
            fetched_at=datetime.now(UTC),
            url=path.resolve().as_uri(),
            status=200,
            content=data,
            content_type=media_type,
            encoding=None if media_type == "application/pdf" else "utf-8",
        )
        source = Source(
            id="check", platform=path.name, document_type="", url=snapshot.url, select=select
        )
        read = extract(snapshot, source, min_chars=settings.min_clause_chars)
        if isinstance(read, FetchFailure):
            raise ClausewatchError(f"{target}: {read.reason.value}: {read.detail}")
        return read, target
    if not target.startswith(("http://", "https://")):
        raise UsageError(f"{target!r} is neither a file nor an http(s) URL")
    source = Source(id="check", platform="", document_type="", url=target, select=select)
    if tracked and not select:
        source = tracked  # its own selectors and pages, as when it is tracked
    elif tracked:
        source = replace(source, fetch=tracked.fetch, ignore_robots=tracked.ignore_robots)
    with fetchers_for(settings.fetch) as fetchers:  # as tracking does, the browser included
        result = fetchers.fetch(source)
        document = (
            extract(result, source, min_chars=settings.min_clause_chars)
            if isinstance(result, Snapshot)
            else None
        )
        if render_instead(source, result, document):
            result = fetchers.fetch(source, mode=FetchMode.BROWSER)
    if isinstance(result, FetchFailure):
        raise ClausewatchError(f"{target}: {result.reason.value}: {result.detail}")
    if isinstance(result, NotModified):
        raise ClausewatchError(
            f"{target}: the server answered 304 Not Modified to an unconditional request"
        )
    document = extract(result, source, min_chars=settings.min_clause_chars)
    if isinstance(document, FetchFailure):
        raise ClausewatchError(f"{target}: {document.reason.value}: {document.detail}")
    return document, result.url


def check_report(
    args: argparse.Namespace,
    settings: Settings,
    console: Console,
    safe: Any,
    cwd: Path | None = None,
) -> tuple[int, dict[str, Any]]:
    """Flag every clause of a document; compare with the archive if its URL is tracked."""
    shown = _shown_categories(args)  # before any fetch: a bad --category is bad usage
    tracked = _tracked_source(args.target, settings)
    select = parse_selectors(args.select or (), "--select")
    document, where = load_document(args.target, select, settings, tracked, cwd)
    rules = load_rules(settings.rules or None)
    findings: list[tuple[str, Match]] = []
    for clause in document.clauses:
        for match in rules.match(clause.text):
            findings.append((clause.key, match))
    report: dict[str, Any] = {
        "target": where,
        "title": document.title,
        "clauses": len(document.clauses),
        "counts": {
            category.value: count
            for category, count in Counter(m.category for _, m in findings).items()
        },
        "findings": [
            {
                "clause": key,
                "rule_id": m.rule_id,
                "category": m.category.value,
                "severity": m.severity.value,
                "words": list(m.words),
                "sentence": m.sentence,
            }
            for key, m in findings
            if args.category is None or m.category in shown
        ],
        "tracked": None,
    }
    if tracked and (settings.archive_dir / "catalog.sqlite").exists():
        with Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive:
            last = archive.latest_version(tracked.id)
            if last is not None:
                old = archive.read_version(last)
                changeset = diff(old, document, last.id)
                verdict = assess(flag_changes(changeset, rules, (old, document)))
                report["tracked"] = {
                    "source_id": tracked.id,
                    "compared_with_version": last.number,
                    "recorded_at": last.recorded_at.isoformat(),
                    "changes": len(changeset.changes),
                    "alert": verdict.alert,
                    "severity": verdict.severity.value if verdict.severity else None,
                    "threats": [
                        f"{f.category.value} {f.direction.value}: {f.evidence}"
                        for f in verdict.threats
                    ],
                }
    # exit 3 on language that lets the platform or others use creators' work (the one policy)
    alarming = any(is_alarming(m.category, m.severity) for _, m in findings)
    report["alarming"] = alarming
    if not args.json:
        _print_check(report, findings, shown, console, safe)
    return (3 if alarming else 0), report


def _tracked_source(target: str, settings: Settings) -> Source | None:
    if not settings.sources_file.exists() or not target.startswith(("http://", "https://")):
        return None
    for source in load_sources(settings.sources_file):
        if source.url.rstrip("/") == target.rstrip("/"):
            return source
    return None


# The categories `check` details by default, in the order feeds list them: the one alert
# policy's creator categories. The others (CLAUDETTE's) only with --all or --category.
CREATOR_ORDER = tuple(c for c in Category if c in CREATOR_CATEGORIES)
GOOD_NEWS = frozenset({Category.PROTECTIVE, Category.OTHERS_MAY_NOT_TRAIN, Category.OPT_OUT})


def _shown_categories(args: argparse.Namespace) -> tuple[Category, ...]:
    """The categories whose findings `check` lists: --category NAME (repeatable), every one
    with --all, else the creator categories. An unknown name is bad usage."""
    if args.category:
        known = {c.value: c for c in Category}
        unknown = [name for name in args.category if name not in known]
        if unknown:
            near = difflib.get_close_matches(unknown[0], list(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise UsageError(
                f"--category: unknown {', '.join(map(repr, unknown))}{hint} (creator categories:"
                f" {', '.join(c.value for c in CREATOR_ORDER)}; others:"
                f" {', '.join(c.value for c in Category if c not in CREATOR_CATEGORIES)})"
            )
        return tuple(known[name] for name in dict.fromkeys(args.category))
    return tuple(Category) if args.all else CREATOR_ORDER


def _print_check(
    report: dict[str, Any],
    findings: list[tuple[str, Match]],
    shown: tuple[Category, ...],
    console: Console,
    safe: Any,
) -> None:
    console.print(
        f"[bold]{safe(report['title'] or report['target'])}[/] ({report['clauses']} clauses, {safe(report['target'])})"
    )
    # the summary: one screen, whatever the document's length
    counts = Counter(m.category for _, m in findings)
    worrying = Counter(m.category for _, m in findings if is_alarming(m.category, m.severity))
    found = [c.value for c in CREATOR_ORDER if worrying[c]]
    if report["alarming"]:
        console.print(f"Verdict: [bold red]alarming[/] (exit status 3): {', '.join(found)}")
    else:
        console.print("Verdict: nothing alarming for creators (exit status 0)")
    console.print("Creator categories (what alerts are about):")
    width = max(len(c.value) for c in CREATOR_ORDER)
    for category in CREATOR_ORDER:
        count = counts[category]
        note = ""
        if worrying[category]:
            some = "" if worrying[category] == count else f"{worrying[category]} "
            note = f"  [bold red]{some}alarming[/]"
        elif count and category in GOOD_NEWS:
            note = "  [green]protects you[/]"
        console.print(f"  {category.value:<{width}} {count:>4}{note}")
    others = sorted(((c, n) for c, n in counts.items() if c not in CREATOR_CATEGORIES), key=_order)
    if others:
        hidden = sum(n for c, n in others if c not in shown)
        listed = ", ".join(f"{c.value} {n}" for c, n in others)
        console.print(f"Other categories (CLAUDETTE, never alerted on): {listed}")
        if hidden:
            console.print(
                f"  {hidden} of these not listed below: `--all` lists every category,"
                " `--category NAME` one"
            )
    console.print("Exit status: 0 nothing alarming, 3 alarming, 1 no terms read, 2 bad usage.")
    if not findings:
        console.print(
            "\nNothing flagged: no AI-training, content-licence, sharing or opt-out language found."
        )
    grouped: dict[Category, list[tuple[str, Match]]] = defaultdict(list)
    for key, match in findings:
        if match.category in shown:
            grouped[match.category].append((key, match))
    for category, items in sorted(grouped.items(), key=_order):
        console.print(
            f"\n[bold underline]{category.value.replace('_', ' ')}[/] — {HOW_TO_READ.get(category, 'a clause type that is often unfair to users')}"
        )
        for key, match in items:
            line = Text("  ")
            line.append(f"{match.rule_id} ({match.severity.value})", "bold")
            line.append(f' in {normalize_text(key)}\n    "')
            line.append(normalize_text(match.sentence))
            line.append('"\n    fired on: ' + ", ".join(match.words), "yellow")
            console.print(line)
    tracked = report["tracked"]
    if tracked:
        verdict = "[bold red]would alert[/]" if tracked["alert"] else "no alert"
        console.print(
            f"\nTracked as {safe(tracked['source_id'])}: {tracked['changes']} clause changes since version "
            f"{tracked['compared_with_version']} ({tracked['recorded_at'][:10]}); {verdict}"
        )
        for threat in tracked["threats"]:
            console.print(f"  {safe(threat)}")
    if grouped:
        console.print(
            "\nHow to read this: each finding names the rule that fired, the clause, the sentence"
            " and the words that fired it."
        )


def _order(item: tuple[Category, Any]) -> int:
    return list(Category).index(item[0])


def history_rows(archive: Archive, source_id: str) -> list[dict[str, Any]]:
    versions = archived_versions(archive, source_id)
    changes = {c.new_version_id: c for c in archive.changes(source_id)}
    alerts = {a.change_id: a for a in archive.alerts()}
    statuses = alert_statuses(archive, source_id)
    rows = []
    for version in versions:
        change = changes.get(version.id)
        alert = alerts.get(change.id) if change else None
        changeset = archive.or_skip(archive.read_changeset, change) if change else None
        suspect = [n for n in changeset.notes if n.startswith(SUSPECT_NOTE)] if changeset else []
        rows.append(
            {
                "version": version.number,
                "version_id": version.id,
                "recorded_at": version.recorded_at.isoformat(),
                "technical": version.technical,
                "change": change.id if change else None,
                "cosmetic": change.cosmetic if change else None,
                "suspect": suspect[0] if suspect else None,
                "alert": alert.title if alert else None,
                "threat": alert.threat if alert else None,
                # why it was not alerted, or that it waits ("held: ..."); None when alerted
                "not_alerted": statuses.get(change.id) or None if change and not alert else None,
                "path": version.path,
            }
        )
    return rows


def print_history(rows: list[dict[str, Any]], source_id: str, console: Console, safe: Any) -> None:
    table = Table(title=f"{source_id}: {len(rows)} versions", title_justify="left")
    for column in ("version", "recorded (UTC)", "change", "alert"):
        table.add_column(column, overflow="fold")
    for row in rows:
        note = (
            "first version"
            if row["change"] is None and row is rows[0]
            else ("technical" if row["technical"] else "")
        )
        change = (
            f"{row['change']}{' (cosmetic)' if row['cosmetic'] else ''}" if row["change"] else note
        )
        if row["suspect"]:
            change += " (suspect capture)"
        alert = safe(row["alert"]) if row["alert"] else ""
        if row["alert"]:
            alert = f"[{'red' if row['threat'] else 'green'}]{alert}[/]"
        elif row["not_alerted"]:
            alert = f"[dim]{safe(row['not_alerted'])}[/]"
        table.add_row(str(row["version"]), row["recorded_at"][:16].replace("T", " "), change, alert)
    console.print(table)


def show_version(archive: Archive, source_id: str, number: int | None) -> tuple[Document, str]:
    """A source's version by its number within the source (default the latest)."""
    versions = archived_versions(archive, source_id)
    chosen = (
        versions[-1] if number is None else next((v for v in versions if v.number == number), None)
    )
    if chosen is None:
        raise UsageError(
            f"source {source_id!r} has no version {number} (versions: {version_numbers(versions)})"
        )
    document = archive.read_version(chosen)
    return document, markdown_render(document)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def cmd_check(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    code, report = check_report(args, settings, console, safe, env.cwd)
    if args.json:
        env.stdout.write(as_json(report))
    return ExitStatus.FLAGGED if code == ExitStatus.FLAGGED else ExitStatus.OK


def cmd_history(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    with open_archive(settings) as archive, archive.lock(shared=True):
        rows = history_rows(archive, args.source_id)
    if args.json:
        env.stdout.write(as_json({"source_id": args.source_id, "versions": rows}))
    else:
        print_history(rows, args.source_id, console, safe)
    return ExitStatus.OK


def cmd_show(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    with open_archive(settings) as archive, archive.lock(shared=True):
        document, text = show_version(archive, args.source_id, args.version)
    if args.json:
        clauses = [
            {"key": c.key, "heading_path": list(c.heading_path), "label": c.label, "text": c.text}
            for c in document.clauses
        ]
        env.stdout.write(
            as_json(
                {
                    "title": document.title,
                    "effective_date": document.effective_date,
                    "clauses": clauses,
                }
            )
        )
    else:
        env.stdout.write(plain(text))
    return ExitStatus.OK
