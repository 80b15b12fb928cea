"""Commands about rules and imports: rules list/test, import-ota, import-history.

Owns: what these commands print and their exit statuses. Must never: hold rule or import
logic (that is monitor.rules.language, monitor.rules.files, monitor.rules.learn and monitor.importers.ota).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from monitor.archive import Archive
from monitor.cli.base import (
    CONTROL_RE,
    Environment,
    ExitStatus,
    is_file,
    safe,
)
from monitor.config import Settings
from monitor.errors import UsageError
from monitor.extract.document import normalize_text
from monitor.extract.markdown import parse as markdown_parse
from monitor.importers.ota import (
    ImportProgress,
    convert_declarations,
    declared_documents,
    import_history,
)
from monitor.rules.files import load_rules
from monitor.rules.language import RuleSet
from monitor.sources import AUDIENCES, load_sources, parse_sources
from monitor.track import record_alerts


def _learn(args: argparse.Namespace, rules: RuleSet, env: Environment) -> ExitStatus:
    from monitor.rules import learn

    try:
        import sklearn  # noqa: F401  (learn imports it when fitting)
    except ImportError:
        raise UsageError(
            "rules learn needs scikit-learn: pip install 'clausewatch[learn]'"
        ) from None
    documents = None
    if args.documents:
        try:
            lines = args.documents.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"{args.documents}: cannot read: {exc}") from None
        documents = [Path(line.strip()).stem for line in lines if line.strip()]
    evidence = [r for r in rules.rules if r.weights is None]
    rows = learn.read_claudette(args.corpus, documents)
    samples = [learn.featurize(*row, evidence) for row in rows]
    learned = learn.learn(samples, evidence)
    out = args.out if args.out.is_absolute() else env.cwd / args.out
    learned_from = (
        f"{len(documents)} documents listed in {args.documents.name}"
        if documents
        else "all its documents"
    )
    learn.write_pack(
        learned,
        out,
        f"Weighted rules learned by `clausewatch rules learn` from {len(samples)} sentences of\n"
        f"{args.corpus.name} ({learned_from}); do not edit by hand, learn again.\n"
        f"Fit: L2 logistic regression per category, C={learn.STRENGTH}, balanced classes, weights\n"
        f"under {learn.SMALLEST} dropped, fires at p >= {learn.THRESHOLD}. Evidence: the"
        f" {len(evidence)} hand-written rules\nloaded alongside.\n"
        "CLAUDETTE corpus: Galassi, Lagioia, Jablonowska, Lippi (AI & Law 2024), CC BY 4.0.",
    )
    sizes = ", ".join(f"{r.id} {len(r.weights.terms) if r.weights else 0}" for r in learned)
    env.stdout.write(f"wrote {len(learned)} weighted rules to {out} (weights: {sizes})\n")
    return ExitStatus.OK


def cmd_rules(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    rules = load_rules(settings.rules or None)
    if args.rules_command == "learn":
        return _learn(args, rules, env)
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
    target = env.cwd / args.target  # an absolute path stays as it is
    if "\n" not in args.target and is_file(target):
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
    converted = len(conversion.entries)
    left_out = conversion.documents - converted - conversion.duplicates
    unread = f"; {conversion.unreadable} files not read" if conversion.unreadable else ""
    again = (
        f"; {conversion.duplicates} left out as converted from an earlier file"
        if conversion.duplicates
        else ""
    )
    errors.print(
        f"{conversion.documents} documents: {converted} converted ({conversion.browser} fetched"
        f" with the browser), {left_out} not converted;"
        f" {conversion.filtered} converted without their OTA JavaScript filters{again}{unread}"
    )
    if args.out:
        out = args.out if args.out.is_absolute() else env.cwd / args.out
        out.write_text(text, encoding="utf-8")
        console.print(
            f"{len(conversion.entries)} sources written to {safe(str(out))};"
            f" {len(conversion.problems)} problems (see above)"
        )
    else:
        env.stdout.write(text)
    return ExitStatus.OK if conversion.entries or not conversion.problems else ExitStatus.ERROR


@contextlib.contextmanager
def _import_progress(env: Environment) -> Iterator[Callable[[ImportProgress], None] | None]:
    """On a terminal, a progress bar on stderr (commits and documents done of all, rate,
    time left, the document being read); elsewhere nothing."""
    if not env.interactive:
        yield None
        return
    bar = Progress(
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} commits, {task.fields[documents]} documents"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=Console(file=env.stderr),
        transient=True,
    )
    started = time.monotonic()
    with bar:
        task = bar.add_task("", total=None, documents="0/0", rate="")

        def show(done: ImportProgress) -> None:
            elapsed = time.monotonic() - started
            bar.update(
                task,
                completed=done.commits,
                total=done.commits_total,
                documents=f"{done.documents}/{done.documents_total}",
                rate=f"{done.commits / elapsed:.0f} commits/s" if elapsed >= 1 else "",
                description=safe(done.source_id),
            )

        yield show


def cmd_import_history(
    args: argparse.Namespace, settings: Settings, console: Console, env: Environment
) -> ExitStatus:
    repo = args.repo if args.repo.is_absolute() else env.cwd / args.repo
    if not repo.is_dir():
        raise UsageError(f"{repo}: no such folder")

    def given(path: Path | None) -> Path | None:
        return None if path is None else path if path.is_absolute() else env.cwd / path

    # documents go to the sources.yaml entry with their URL (OTA's declarations give it),
    # or their platform and document type: one history per source, tracked or imported
    sources = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    declared = (
        declared_documents([given(p) or p for p in args.declarations])
        if args.declarations
        else None
    )
    tally: Counter[str] = Counter()
    alerts = 0
    with (
        Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive,
        archive.lock(),
        _import_progress(env) as progress,
    ):
        decided: set[str] = set()

        def decide(source_id: str) -> None:
            """A document's alerts, decided once it is stored (while the next are planned)."""
            nonlocal alerts
            alerts += record_alerts(archive, settings.tag_authority, tally, source_id=source_id)
            decided.add(source_id)

        report = import_history(
            repo,
            archive,
            load_rules(settings.rules or None),
            only=set(args.source) if args.source else None,
            sources=sources,
            declared=declared,
            map_file=given(args.map),
            only_file=given(args.only),
            progress=progress,
            min_chars=settings.min_clause_chars,
            stored=decide,
        )
        with archive.batch():  # one commit for all of them, not one (and its fsyncs) each
            # other sources' changes not yet decided (a pass stopped before its alerts)
            alerts += record_alerts(archive, settings.tag_authority, tally, decided=decided)
    for chosen in report.picked:
        if chosen.how == "created":
            console.print(
                f"{safe(chosen.path)}: id [bold]{safe(chosen.source.id)}[/] created (no entry of"
                f" {safe(str(settings.sources_file.name))} has its URL, or its platform and"
                " document type; --map FILE names one)"
            )
    mapped = Counter(chosen.how for chosen in report.picked if chosen.how != "created")
    if mapped:
        how = {"map": "by --map", "url": "by URL", "platform": "by platform and document type"}
        console.print(
            f"{sum(mapped.values())} documents go to sources of"
            f" {safe(str(settings.sources_file.name))}: "
            + ", ".join(f"{n} {how.get(k, 'by id')}" for k, n in sorted(mapped.items()))
        )
    for sid, older in report.older.items():
        first, last = older.first, older.last
        assert first is not None and last is not None
        console.print(
            f"[yellow]not imported[/]: {older.commits} versions of {safe(older.path)}"
            f" ({first:%Y-%m-%d} to {last:%Y-%m-%d}) are older than the latest archived"
            f" version of {safe(sid)} ({older.latest:%Y-%m-%d %H:%M}): a source's versions are"
            " one history in date order, so import a document's history before tracking it"
        )
    for problem in report.problems:
        console.print(f"[yellow]skipped[/]: {safe(problem)}")
    console.print(
        f"{report.sources} documents, {report.versions} versions imported ({report.technical} technical), "
        f"{report.skipped} skipped as already there, unchanged or older; {alerts} alerts"
        + (
            f"; {report.not_terms} captures left out as too short to be terms (not_terms,"
            f" under {settings.min_clause_chars} characters)"
            if report.not_terms
            else ""
        )
        + (
            f"; {tally['cancel']} changes not alerted (undone by the next capture, restoring"
            " an earlier text, or seen before: `clausewatch history` says why)"
            if tally["cancel"]
            else ""
        )
        + (f"; {tally['hold']} held until a later capture confirms them" if tally["hold"] else "")
    )
    return ExitStatus.OK
