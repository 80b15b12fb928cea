"""Benchmark: clause diff speed (issue 4 targets: <= 50 ms for the longest corpus pair, and
<= 2.3x time per doubling of document size), side by side with whole-text diffs.

For the longest labelled pair in ../shared/corpus/cases.yaml (by characters) and for the
heaviest rewrite (Zoom, March 2023), it prints the median of repeated runs of monitor.diff,
of diff-match-patch over the whole text (line mode, its default 1 s timeout) and of difflib's unified diff
over lines, with ratios; then the scaling of monitor.diff over 1x/2x/4x/8x copies of the
longest pair. Usage: `.venv/bin/python bench/diff.py`.
"""

from __future__ import annotations

import difflib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from diff_match_patch import diff_match_patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import corpus_dir  # noqa: E402
from monitor.diff import diff  # noqa: E402
from monitor.extract.markdown import parse  # noqa: E402
from monitor.model import Document  # noqa: E402

CORPUS = corpus_dir()


def median_ms(work: Callable[[], object], repeats: int = 7) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def whole_text_dmp(old: str, new: str) -> None:
    """diff-match-patch as a page watcher would run it: whole text, line mode, default 1 s
    timeout (with no timeout the Zoom rewrite runs for minutes, char by char in long lines)."""
    engine = diff_match_patch()
    engine.diff_cleanupSemantic(engine.diff_main(old, new, True))


def whole_text_difflib(old: str, new: str) -> None:
    list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm=""))


def copies(document: Document, times: int) -> Document:
    return parse("\n\n".join(f"# Copy {n}\n\n" + _body(document) for n in range(times)))


def _body(document: Document) -> str:
    from monitor.extract.markdown import render

    return render(document).split("---\n", 2)[2]


def main() -> None:
    data = yaml.safe_load((CORPUS / "cases.yaml").read_text())
    cases = data["cases"]
    longest = max(cases, key=lambda c: c["diff_size"]["old_chars"] + c["diff_size"]["new_chars"])
    rewrite = next(c for c in cases if c["id"] == "zoom-tos-2023-03-ml-licence")
    for label, case in (("longest pair", longest), ("heaviest rewrite", rewrite)):
        old_text = (CORPUS / case["old_file"]).read_text()
        new_text = (CORPUS / case["new_file"]).read_text()
        old, new = parse(old_text), parse(new_text)
        ours = median_ms(lambda old=old, new=new: diff(old, new))
        dmp = median_ms(lambda o=old_text, n=new_text: whole_text_dmp(o, n))
        lib = median_ms(lambda o=old_text, n=new_text: whole_text_difflib(o, n))
        print(
            f"{label}: {case['id']} ({len(old_text):,} -> {len(new_text):,} chars, {len(old.clauses)} -> {len(new.clauses)} clauses)"
        )
        print(f"  clause diff (monitor.diff)          {ours:8.1f} ms")
        print(
            f"  whole-text dmp (lines, 1 s timeout) {dmp:8.1f} ms   clause diff / dmp    = {ours / dmp:5.2f}x"
        )
        print(
            f"  whole-text difflib unified (lines)  {lib:8.1f} ms   clause diff / difflib = {ours / lib:5.2f}x"
        )
    old = parse((CORPUS / longest["old_file"]).read_text())
    new = parse((CORPUS / longest["new_file"]).read_text())
    print(f"\nscaling on {longest['id']} (document repeated k times):")
    previous = None
    for times in (1, 2, 4, 8):
        big_old, big_new = copies(old, times), copies(new, times)
        took = median_ms(lambda a=big_old, b=big_new: diff(a, b), repeats=5)
        growth = f"{took / previous:5.2f}x per doubling" if previous else ""
        print(f"  {times}x  {len(big_new.clauses):6} clauses  {took:8.1f} ms  {growth}")
        previous = took
    print("targets: longest pair <= 50 ms; <= 2.3x per doubling")


if __name__ == "__main__":
    main()
