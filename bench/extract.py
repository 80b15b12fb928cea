"""Benchmark: extraction time per page (issue 3 target: <= 30 ms for a 300 KB page).

Runs html_document() on every raw HTML snapshot in ../shared/corpus/html (with the Open Terms
Archive selectors that produced them) and on a generated, clause-dense 300 KB terms page, and
prints the median and worst of repeated runs. Usage: `.venv/bin/python bench/extract.py`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import corpus_dir  # noqa: E402
from monitor.extract.html import html_document  # noqa: E402

CORPUS = corpus_dir()
REPEATS = 15


def real_text_page(target_bytes: int = 300_000) -> str:
    """About 300 KB of real terms: Zoom's 2023 ToS (OTA Markdown) as HTML, repeated, with chrome."""
    from markdown_it import MarkdownIt

    body = (
        MarkdownIt("commonmark")
        .enable("table")
        .render(
            (CORPUS / "zoom" / "terms-of-service" / "2023-08-07.md").read_text(encoding="utf-8")
        )
    )
    parts = [
        "<html><head><title>Zoom Terms</title></head><body><header><nav>Home</nav></header><main>"
    ]
    copy = 0
    while sum(len(p) for p in parts) < target_bytes:
        copy += 1
        parts.append(f"<section><h1>Copy {copy}</h1>{body}</section>")
    parts.append("</main><footer>Company</footer></body></html>")
    return "".join(parts)


def synthetic_page(target_bytes: int = 300_000) -> str:
    """A stress case: 300 KB of very short clauses (list items of a few words), ~3,800 clauses."""
    parts = ["<html><head><title>Synthetic Terms</title></head><body><nav>Home Blog</nav><main>"]
    section = 0
    while sum(len(p) for p in parts) < target_bytes:
        section += 1
        parts.append(f"<h2>{section}. Section about content and licences</h2>")
        for sub in range(1, 6):
            parts.append(
                f"<h3>{section}.{sub} Licence terms</h3><p>{section}.{sub}.1 You grant us a "
                "worldwide, non-exclusive, royalty-free licence to host, store, reproduce and "
                "display the content you upload, solely to operate and improve the service.</p>"
                "<ol type='a'><li>to make backups;</li><li>to show your content to others;</li>"
                "<li>to comply with the law.</li></ol>"
            )
        parts.append(
            "<table><tr><th>Data</th><th>Purpose</th></tr>"
            "<tr><td>Posts</td><td>Service operation</td></tr></table>"
        )
    parts.append("</main><footer>Company</footer></body></html>")
    return "".join(parts)


def timed(html: str, select: tuple[str, ...], remove: tuple[str, ...]) -> tuple[float, float, int]:
    runs = []
    clauses = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        clauses = len(html_document(html, select, remove).clauses)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), max(runs), clauses


def as_tuple(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]


def main() -> None:
    print(f"{'page':58} {'KB':>6} {'clauses':>7} {'median ms':>10} {'max ms':>8}")
    items = yaml.safe_load((CORPUS / "html" / "snapshots.yaml").read_text())["items"]
    medians = []
    for item in items:
        declaration = item["declaration"]["entry"]
        for part, snapshot in zip(
            declaration.get("combine") or [declaration], item["snapshots"], strict=True
        ):
            html = (CORPUS / "html" / snapshot["file"]).read_text(encoding="utf-8")
            select = as_tuple({**declaration, **part}.get("select"))
            remove = as_tuple({**declaration, **part}.get("remove"))
            median, worst, clauses = timed(html, select, remove)
            medians.append(median)
            name = snapshot["file"][-58:]
            print(f"{name:58} {len(html) / 1000:6.0f} {clauses:7} {median:10.1f} {worst:8.1f}")
    page = real_text_page()
    real, worst, clauses = timed(page, (), ())
    print(
        f"{'300 KB of real terms text (Zoom ToS x3, auto main content)':58} {len(page) / 1000:6.0f} {clauses:7} {real:10.1f} {worst:8.1f}"
    )
    page = synthetic_page()
    dense, worst, clauses = timed(page, (), ())
    print(
        f"{'stress: 300 KB of very short clauses (auto main content)':58} {len(page) / 1000:6.0f} {clauses:7} {dense:10.1f} {worst:8.1f}"
    )
    print(
        f"\ncorpus pages: median of medians {statistics.median(medians):.1f} ms; "
        f"300 KB real terms page: {real:.1f} ms (target <= 30 ms); stress page: {dense:.1f} ms"
    )


if __name__ == "__main__":
    main()
