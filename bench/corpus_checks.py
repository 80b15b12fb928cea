"""Corpus-wide checks that are too big for the tests: every file of ../shared/corpus.

1. Every Markdown version round-trips through the archived format: parse(render(d)) == d.
2. Every raw HTML snapshot (with OTA's selectors) gives the text OTA recorded, and without
   selectors the main-content choice finds it (shares of words covered, as tests/test_extract.py
   does on its DeepSeek fixture).
3. Every labelled pair alerts exactly when a creator should be alerted.

Prints each failure and a summary; exits 1 when something failed, 2 when there is no corpus.
Usage: `.venv/bin/python bench/corpus_checks.py [--corpus DIR]`.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import corpus_dir  # noqa: E402
from monitor.diff import diff  # noqa: E402
from monitor.extract.html import html_document  # noqa: E402
from monitor.extract.markdown import parse, render  # noqa: E402
from monitor.flag import assess, flag_changes  # noqa: E402
from monitor.rules.files import load_rules  # noqa: E402

CHROME = ("Skip to main content", "Research Residency", "Back to main menu", "Explore ChatGPT")


def as_tuple(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]


def covered(words: list[str], within: list[str]) -> float:
    """Share of `words` that appear, in order, in `within`."""
    matcher = difflib.SequenceMatcher(None, words, within, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(words))


def round_trips(corpus: Path) -> list[str]:
    failures = []
    files = sorted(corpus.glob("*/*/*.md"))
    for path in files:
        document = parse(path.read_text(encoding="utf-8"))
        name = str(path.relative_to(corpus))
        if not document.clauses:
            failures.append(f"{name}: no clauses")
        elif parse(render(document)) != document:
            failures.append(f"{name}: parse(render(d)) != d")
    print(f"1. Markdown round trip: {len(files) - len(failures)}/{len(files)} files")
    return failures


def snapshot_text(corpus: Path, item: dict, use_selectors: bool) -> str:
    declaration = item["declaration"]["entry"]
    parts = declaration.get("combine") or [declaration]
    texts = []
    for part, snapshot in zip(parts, item["snapshots"], strict=True):
        html = (corpus / "html" / snapshot["file"]).read_text(encoding="utf-8")
        merged = {**declaration, **part}
        select, remove = (
            (as_tuple(merged.get("select")), as_tuple(merged.get("remove")))
            if use_selectors
            else ((), ())
        )
        texts.append(html_document(html, select, remove).text)
    return " ".join(texts)


def snapshots(corpus: Path) -> list[str]:
    failures = []
    items = yaml.safe_load((corpus / "html" / "snapshots.yaml").read_text())["items"]
    for item in items:
        name = f"{item['case_id']}-{item['role']}"
        expected = parse((corpus / item["expected_markdown"]).read_text()).text.split()
        ours = snapshot_text(corpus, item, use_selectors=True).split()
        kept = covered(ours, expected)  # nothing we keep is chrome OTA dropped
        # Le Chat: OTA ran the page's scripts, which render the policy a second time.
        found = covered(expected[: len(ours)] if item["service"] == "Le Chat" else expected, ours)
        if kept < 0.98 or found < 0.98:
            failures.append(f"{name}: with selectors {kept:.3f} kept, {found:.3f} found (< 0.98)")
        if item["role"] == "new":
            auto = snapshot_text(corpus, item, use_selectors=False)
            share = covered(expected[: len(auto.split())], auto.split())
            chrome = [c for c in CHROME if c in auto]
            if share < 0.95 or chrome:
                failures.append(f"{name}: main content {share:.3f} found (< 0.95), chrome {chrome}")
    print(f"2. HTML snapshots: {len(items)} checked, {len(failures)} failures")
    return failures


def alerts(corpus: Path) -> list[str]:
    rules = load_rules()
    failures = []
    cases = yaml.safe_load((corpus / "cases.yaml").read_text())["cases"]
    for case in cases:
        verdict = assess(
            flag_changes(
                diff(
                    parse((corpus / case["old_file"]).read_text()),
                    parse((corpus / case["new_file"]).read_text()),
                ),
                rules,
            )
        )
        if verdict.alert is not (case["labels"]["alert"] == "yes"):
            failures.append(
                f"{case['id']}: alert {verdict.alert}, labelled {case['labels']['alert']}"
            )
    print(f"3. Labelled pairs: {len(cases) - len(failures)}/{len(cases)} alert as labelled")
    return failures


def main() -> None:
    corpus = corpus_dir()
    print(f"corpus: {corpus}")
    failures = round_trips(corpus) + snapshots(corpus) + alerts(corpus)
    for failure in failures:
        print(f"   FAIL {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
