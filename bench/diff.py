"""Benchmark: clause diff speed (issue 4 targets: <= 50 ms for the longest corpus pair, and
<= 2.3x time per doubling of document size), side by side with whole-text diffs.

For the longest labelled pair in ../shared/corpus/cases.yaml (by characters) and for the
heaviest rewrite (Zoom, March 2023), it prints the median of repeated runs of monitor.diff,
of diff-match-patch over the whole text (line mode, its default 1 s timeout) and of difflib's unified diff
over lines, with ratios; then the scaling of monitor.diff over 1x/2x/4x/8x copies of the
longest pair. Then the two hostile shapes of issue 18 (7), which need no corpus: one clause
of 50 KB (and 1 MB) whose sentences are reshuffled, and 8,000 clauses each reworded, over a
vocabulary of mid-frequency words; for each, the time and whether the bounded fallback was
taken (its note in the ChangeSet). Usage: `.venv/bin/python bench/diff.py`
(`--hostile` for the hostile shapes only, which is all that runs without ../shared).
"""

from __future__ import annotations

import difflib
import random
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
from monitor.model import Clause, Document  # noqa: E402

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


def reshuffled_clause(size: int, seed: int = 7) -> tuple[Document, Document]:
    """One clause of about `size` characters, and the same clause with its sentences in
    another order: every sentence moved, so a word diff has nothing long in common."""
    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(2000)]
    sentences = []
    total = 0
    while total < size:
        sentence = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 14))) + ". "
        sentences.append(sentence)
        total += len(sentence)
    shuffled = list(sentences)
    rng.shuffle(shuffled)

    def document(text: str) -> Document:
        return Document("Terms", (Clause("Terms #1", ("Terms",), None, text.strip()),))

    return document("".join(sentences)), document("".join(shuffled))


def reworded_clauses(count: int, seed: int = 7) -> tuple[Document, Document]:
    """`count` clauses of 15 words drawn from 100 (each word in about 15% of clauses: too
    rare to be left out of the candidate index, too common to tell clauses apart), and each
    clause again with one word replaced."""
    rng = random.Random(seed)
    vocabulary = [f"term{n}" for n in range(100)]
    old, new = [], []
    for n in range(count):
        chosen = [rng.choice(vocabulary) for _ in range(15)]
        old.append(Clause(f"Terms #{n + 1}", ("Terms",), None, " ".join(chosen)))
        chosen[rng.randrange(15)] = f"changed{n}"
        new.append(Clause(f"Terms #{n + 1}", ("Terms",), None, " ".join(chosen)))
    return Document("Terms", tuple(old)), Document("Terms", tuple(new))


def hostile() -> None:
    print("hostile shapes (issue 18, 7): time, and the notes of the bounded fallback")
    shapes = [
        ("one 50 KB clause, sentences reshuffled", reshuffled_clause(50_000)),
        ("one 1 MB clause, sentences reshuffled", reshuffled_clause(1_000_000)),
        ("8,000 clauses, each reworded (mid-frequency words)", reworded_clauses(8000)),
    ]
    for label, (old, new) in shapes:
        started = time.perf_counter()
        changeset = diff(old, new)
        took = time.perf_counter() - started
        kinds = {}
        for change in changeset.changes:
            kinds[change.kind.value] = kinds.get(change.kind.value, 0) + 1
        print(f"  {label}: {took:7.2f} s, changes {kinds}")
        for note in changeset.notes:
            print(f"    note: {note}")


def main() -> None:
    if "--hostile" in sys.argv or not (CORPUS / "cases.yaml").exists():
        if not (CORPUS / "cases.yaml").exists():
            print(f"{CORPUS}: absent; corpus figures skipped (pass nothing else to need it)")
        hostile()
        return
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
    print("targets: longest pair <= 50 ms; <= 2.3x per doubling\n")
    hostile()


if __name__ == "__main__":
    main()
