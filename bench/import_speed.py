"""Benchmark: how fast `import-history` reads real history (issue 21 item 5).

Picks documents of ../shared/corpus/history-dev.yaml by a seeded shuffle until about
--commits commits (default 5,000), imports each repository's picked documents into a fresh
temporary archive with `import_history` (the code behind `clausewatch import-history REPO
--source ID ...`), giving each document's changes their alerts (`monitor.track.record_alerts`)
as soon as it is stored, as the command does. Prints commits/s, the wall time, peak RSS (this process and, separately,
its children: git) and the split of the time between git (reading the repository), parse
(Markdown into a Document), diff, flag, store (files and catalog rows, the commits included)
and alerts; "other" is the rest of the loop (reading the archive back, flip checks).

The split is measured by wrapping the functions `monitor.importers.ota` calls by name, so it
measures the code of the day with no hooks in it; a name that is not there is left out. It
times this process only: an import of 100 commits or more plans its documents (reads, parses,
diffs, flags) in worker processes, so those parts are then near 0 and the wait for the
workers is part of "other".

Usage: `PYTHONPATH=. .venv/bin/python bench/import_speed.py [--commits N] [--seed N]
[--corpus DIR] [--keep DIR] [--profile FILE]` (`--profile` writes cProfile stats of the whole
import; read them with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import monitor.importers.ota as ota  # noqa: E402
from monitor.archive import Archive  # noqa: E402
from monitor.rules.files import load_rules  # noqa: E402
from monitor.track import record_alerts  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
MIRROR = Path("/work/.mirror")

spent: dict[str, float] = defaultdict(float)
_active: list[str] = []  # the part being timed; a part called inside another counts once


def timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _active:
            return function(*args, **kwargs)
        _active.append(part)
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[part] += time.perf_counter() - started
            _active.pop()

    return wrapper


def instrument() -> None:
    """Wrap what the import calls, by name, in the module that calls it."""
    for name, part in (
        ("_git", "git"),
        ("diff", "diff"),
        ("flag_changes", "flag"),
        ("parse_markdown", "parse"),
    ):
        if hasattr(ota, name):
            setattr(ota, name, timed(part, getattr(ota, name)))
    reader = getattr(ota, "GitReader", None)  # one `git cat-file --batch` for the import
    if reader is not None:
        for name in ("blob", "log", "files"):
            if hasattr(reader, name):
                setattr(reader, name, timed("git", getattr(reader, name)))
    Archive.store = timed("store", Archive.store)  # type: ignore[method-assign]
    Archive.commit = timed("store", Archive.commit)  # type: ignore[method-assign]


def pick(corpus: Path, commits: int, seed: int) -> list[dict[str, Any]]:
    listed = yaml.safe_load((corpus / "history-dev.yaml").read_text(encoding="utf-8"))
    documents = list(listed["documents"])
    random.Random(seed).shuffle(documents)
    picked, total = [], 0
    for document in documents:
        if total >= commits:
            break
        picked.append(document)
        total += document["commits"]
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--keep", type=Path, help="archive folder to import into (kept)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats here")
    args = parser.parse_args()
    documents = pick(args.corpus, args.commits, args.seed)
    by_repo: dict[str, set[str]] = defaultdict(set)
    for document in documents:
        service, _, filename = document["path"].rpartition("/")
        by_repo[document["repo"]].add(ota.source_id(service, filename.removesuffix(".md")))
    repos = {name: MIRROR / name.replace("/", "+") / "repo" for name in by_repo}
    missing = [name for name, path in repos.items() if not (path / "HEAD").exists()]
    if missing:
        print(f"missing repositories (fetch them first): {', '.join(missing)}", file=sys.stderr)
        return 2
    instrument()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="import-speed-"))
    rules = load_rules()
    profile = cProfile.Profile() if args.profile else None
    versions = skipped = not_terms = alerts = 0
    decided: set[str] = set()
    started = time.perf_counter()
    try:
        with Archive(folder) as archive:

            def decide(source_id: str) -> None:  # as the command does
                nonlocal alerts
                alert_started = time.perf_counter()
                alerts += record_alerts(archive, source_id=source_id)
                decided.add(source_id)
                spent["alerts"] += time.perf_counter() - alert_started

            if profile:
                profile.enable()
            for name, sids in sorted(by_repo.items()):
                with archive.lock():
                    report = ota.import_history(
                        repos[name], archive, rules, only=sids, stored=decide
                    )
                versions += report.versions
                skipped += report.skipped
                not_terms += report.not_terms
            imported = time.perf_counter()
            with archive.lock():
                alert_started = time.perf_counter()
                with archive.batch():  # as the command does
                    alerts += record_alerts(archive, decided=decided)
                spent["alerts"] += time.perf_counter() - alert_started
            if profile:
                profile.disable()
                profile.dump_stats(args.profile)
        finished = time.perf_counter()
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    commits = sum(d["commits"] for d in documents)
    wall = finished - started
    own_usage = resource.getrusage(resource.RUSAGE_SELF)
    child_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own, children = own_usage.ru_maxrss / 1024, child_usage.ru_maxrss / 1024
    cpu = sum(u.ru_utime + u.ru_stime for u in (own_usage, child_usage))
    print(
        f"{len(documents)} documents, {commits} commits from {len(by_repo)} repositories"
        f" (seed {args.seed}): {versions} versions, {skipped} skipped, {not_terms} left out as not terms, {alerts} alerts"
    )
    print(
        f"wall {wall:.1f} s (import and alerts {imported - started:.1f} s, alerts left after it"
        f" {finished - imported:.1f} s)"
        f" = {commits / wall:.1f} commits/s; peak RSS {own:.0f} MB (git children {children:.0f} MB)"
    )
    measured = sum(spent.values())
    parts = [*spent.items(), ("other", max(wall - measured, 0.0))]
    # the machine is shared: CPU time says what the import costs when others run too
    print(f"CPU {cpu:.1f} s (this process and git); load average {os.getloadavg()[0]:.1f}")
    print("split: " + ", ".join(f"{p} {s:.1f} s ({100 * s / wall:.0f} %)" for p, s in parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
