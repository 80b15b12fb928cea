"""Benchmark: building the history site from a sizeable archive of real terms, in full and again
with nothing new (issue 20: 40 s for 4,029 pages, and 36 s again with nothing new).

Makes an Open Terms Archive versions repository (one commit per version, in date order) from
the corpus's real versions (../shared/corpus/<service>/<document>/<date>.md), `--copies N`
times under different service names so that the archive is the size of a real one, imports it
with `clausewatch import-history`, then times `clausewatch site build` (a subprocess each, as a
user runs it): a full build into an empty folder, a rebuild with nothing new, and a rebuild
after one new version. Prints the page counts, sizes and times. Usage:

    .venv/bin/python bench/site.py                 # 7 copies: about 4,000 pages
    .venv/bin/python bench/site.py --copies 2      # smaller
    .venv/bin/python bench/site.py --keep DIR      # keep the repository, archive and site in DIR

Target: a rebuild with nothing new <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import corpus_dir  # noqa: E402

CORPUS = corpus_dir()


def git(repo: Path, *args: str, when: str | None = None) -> None:
    env = {**os.environ}
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=b@example.org", *args],
        check=True,
        capture_output=True,
        env=env,
    )


def versions() -> list[tuple[str, str, Path]]:
    """(date, "<service>/<document>", file) of every real version in the corpus, oldest first."""
    found = []
    for file in CORPUS.glob("*/*/*.md"):
        service, document = file.parent.parent.name, file.parent.name
        if service == "html":
            continue
        found.append((file.stem, f"{service}/{document}", file))
    return sorted(found)


def make_repo(repo: Path, copies: int) -> int:
    """The versions repository: every corpus version `copies` times, one commit per date."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    count = 0
    by_date: dict[str, list[tuple[str, Path]]] = {}
    for date, name, file in versions():
        by_date.setdefault(date, []).append((name, file))
    for date, files in sorted(by_date.items()):
        for copy in range(copies):
            for name, file in files:
                service, document = name.split("/")
                target = repo / f"{service}-{copy}" / f"{document}.md"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(file.read_bytes())
                count += 1
        day = date[:10]
        git(repo, "add", "-A")
        git(
            repo,
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            f"versions of {day}",
            when=f"{day}T12:00:00+00:00",
        )
    return count


def clausewatch(work: Path, *argv: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--archive", str(work / "archive"), *argv],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"bench: clausewatch {' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return elapsed, done.stdout.strip()


def site_figures(site: Path) -> tuple[int, int, Path, Path]:
    pages = list(site.rglob("*.html"))
    largest = max(pages, key=lambda p: p.stat().st_size)
    changes = max((p for p in pages if p.parent.name == "changes"), key=lambda p: p.stat().st_size)
    return len(pages), sum(p.stat().st_size for p in pages), largest, changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=7, help="times the corpus is imported")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-site-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        repo = work / "versions"
        if not (work / "archive").exists():
            started = time.perf_counter()
            files = make_repo(repo, args.copies)
            print(f"repository: {files} version files in {time.perf_counter() - started:.1f} s")
            elapsed, out = clausewatch(work, "import-history", str(repo))
            print(f"import-history: {elapsed:.1f} s ({out.splitlines()[-1] if out else ''})")
        site = work / "public"
        shutil.rmtree(site, ignore_errors=True)
        elapsed, out = clausewatch(work, "site", "build", "--out", str(site))
        pages, size, largest, change = site_figures(site)
        print(
            f"full build: {elapsed:.2f} s, {out.split(' under ')[0]}; {pages} pages, "
            f"{size / 1e6:.1f} MB; largest page {largest.stat().st_size / 1e6:.2f} MB "
            f"({largest.relative_to(site)}), largest change page "
            f"{change.stat().st_size / 1e6:.2f} MB ({change.relative_to(site)})"
        )
        for attempt in (1, 2, 3):
            elapsed, out = clausewatch(work, "site", "build", "--out", str(site))
            print(
                f"rebuild with nothing new ({attempt}): {elapsed:.2f} s, {out.split(' under ')[0]}"
            )
        started = time.perf_counter()
        _, out = clausewatch(work, "--version")
        print(f"(starting clausewatch alone: {time.perf_counter() - started:.2f} s)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
