"""Benchmark: whole tracking passes against urlwatch, on the same pages, in one run (issue 10).

Serves N synthetic terms pages (~150 KB each, clause-structured, real Zoom ToS text made
unique per page) from 8 loopback addresses (127.0.0.1-8, so that both tools fetch hosts in
parallel), with ETag/If-None-Match support. Times, for Clausewatch (`clausewatch track`) and
for urlwatch (installed from PyPI into bench/.urlwatch-venv by this script, each job with an
html2text filter): a first pass, an unchanged pass and a pass with 10% of the pages changed,
each three times with the two tools alternating (the median time is printed), and the highest
peak RSS. Prints the ratios. Usage:

    .venv/bin/python bench/pass.py            # N = 200 and 1000
    .venv/bin/python bench/pass.py 200        # one size

Targets: unchanged <= 1.0x urlwatch; first pass <= 2x; 10% changed <= 1.5x; peak RSS <= 150 MB
at 1000 sources.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loopback  # noqa: E402
from bench.corpus import corpus_dir  # noqa: E402
from bench.loopback import HOSTS  # noqa: E402

CORPUS = corpus_dir()
REPEATS = 3  # each pass is timed 3 times per tool; the median is printed (this VM's load varies)
URLWATCH_VENV = ROOT / "bench" / ".urlwatch-venv"


class Pages:
    """The served pages: path -> (body, etag); `change()` rewrites a share of them."""

    def __init__(self, count: int) -> None:
        from markdown_it import MarkdownIt

        text = (CORPUS / "zoom/terms-of-service/2023-08-07.md").read_text(encoding="utf-8")
        body = MarkdownIt("commonmark").render(text)
        while len(body) < 140_000:
            body += body
        self.template = body[:150_000]
        self.pages: dict[str, tuple[bytes, str]] = {}
        for n in range(count):
            self.set(n, f"<p>Document {n}: these terms apply to service number {n}.</p>")

    def set(self, n: int, extra: str) -> None:
        html = (
            f"<html><head><title>Terms {n}</title></head><body><nav>Home</nav><main><h1>Terms of Service {n}</h1>"
            f"{extra}{self.template}</main><footer>Footer</footer></body></html>"
        ).encode()
        self.pages[f"/terms/{n}"] = (html, '"' + hashlib.sha1(html).hexdigest() + '"')

    def change(self, share: float, round_: int) -> None:
        count = len(self.pages)
        for n in range(0, count, max(1, round(1 / share))):
            self.set(
                n,
                f"<p>Document {n}: revision {round_}. We may use your content to train our AI models.</p>",
            )


def serve(pages: Pages, port: int) -> list[http.server.ThreadingHTTPServer]:
    def respond(path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        entry = pages.pages.get(path)
        if entry is None:
            return 404, {}, b""
        body, etag = entry
        if headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": etag}, body

    return loopback.serve(respond, port)


def _kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(status.split(f"{field}:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return 0


BROWSERS: set[str] = set()  # commands under which a browser process was seen (none expected)


def _is_browser(pid: int) -> bool:
    try:
        return "chrom" in Path(f"/proc/{pid}/comm").read_text().lower()
    except OSError:
        return False


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one command, its worker processes included. A browser
    among them is noted in BROWSERS: no source of this benchmark needs one.

    The peak is the highest sum, over samples every 20 ms, of the resident memory of the
    command and its descendants (and at least the command's own VmHWM). getrusage's ru_maxrss
    would also count this script's served pages, copied into the child at fork time.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak_kb = 0
    while process.poll() is None:  # bounded by the child's own run
        pids = loopback.tree(process.pid)
        total = sum(_kb(pid, "VmRSS") for pid in pids)
        peak_kb = max(peak_kb, total, _kb(process.pid, "VmHWM"))
        if any(_is_browser(pid) for pid in pids):
            BROWSERS.add(Path(command[0]).name)
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise SystemExit(
            f"{command[0]} failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    return elapsed, peak_kb / 1024


def urlwatch_bin() -> Path:
    binary = URLWATCH_VENV / "bin" / "urlwatch"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(URLWATCH_VENV)], check=True)
        subprocess.run(
            [str(URLWATCH_VENV / "bin" / "pip"), "install", "--quiet", "urlwatch"], check=True
        )
    return binary


def bench(count: int, port: int) -> dict[str, tuple[float, float]]:
    pages = Pages(count)
    servers = serve(pages, port)
    work = Path(tempfile.mkdtemp(prefix="clausewatch-bench-"))
    try:
        urls = [f"http://{HOSTS[n % len(HOSTS)]}:{port}/terms/{n}" for n in range(count)]
        (work / "sources.yaml").write_text(
            "sources:\n"
            + "".join(
                f"  - id: doc-{n}\n    platform: P{n}\n    document_type: Terms\n    url: {url}\n    ignore_robots: true\n"
                for n, url in enumerate(urls)
            )
        )
        (work / "urls.yaml").write_text(
            "\n---\n".join(
                f"name: doc-{n}\nurl: {url}\nfilter:\n  - html2text\n" for n, url in enumerate(urls)
            )
        )
        (work / "urlwatch.yaml").write_text(
            "display: {new: true, error: true, unchanged: false}\n"
            "report:\n  text: {details: true, footer: false, line_length: 75}\n"
            "  stdout: {enabled: true, color: false}\n"
            "  html: {diff: unified}\n"
        )
        env = {**os.environ, "CLAUSEWATCH_HOST_DELAY": "0", "CLAUSEWATCH_WORKERS": str(len(HOSTS))}
        clausewatch, env = loopback.clausewatch(env)
        ours = [*clausewatch, "track", "--json"]
        theirs = [
            str(urlwatch_bin()),
            "--urls",
            "urls.yaml",
            "--config",
            "urlwatch.yaml",
            "--cache",
            "cache.db",
        ]
        runs: dict[str, list[tuple[float, float]]] = {}
        for label in ("first", "unchanged", "changed"):
            for round_ in range(1, REPEATS + 1):  # the two tools alternate: same machine load
                if label == "first":  # from nothing again
                    shutil.rmtree(work / "archive", ignore_errors=True)
                    (work / "cache.db").unlink(missing_ok=True)
                if label == "changed":
                    pages.change(0.10, round_)  # 10% differ from the pass before
                runs.setdefault(f"clausewatch {label}", []).append(run(ours, work, env))
                runs.setdefault(f"urlwatch {label}", []).append(run(theirs, work, env))
        return {
            key: (statistics.median(t for t, _ in found), max(m for _, m in found))
            for key, found in runs.items()
        }
    finally:
        for server in servers:
            server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [200, 1000]
    targets = {"first": 2.0, "unchanged": 1.0, "changed": 1.5}
    for index, count in enumerate(sizes):
        results = bench(count, 18_080 + index)
        print(f"\nN = {count} pages of ~150 KB on {len(HOSTS)} loopback hosts")
        print(
            f"  {'pass':10} {'clausewatch':>12} {'urlwatch':>10} {'ratio':>7} {'target':>7}   peak RSS MB (ours / urlwatch)"
        )
        for label, target in targets.items():
            ours, our_rss = results[f"clausewatch {label}"]
            theirs, their_rss = results[f"urlwatch {label}"]
            print(
                f"  {label:10} {ours:11.1f}s {theirs:9.1f}s {ours / theirs:6.2f}x {target:6.1f}x   {our_rss:6.0f} / {their_rss:6.0f}"
            )
        print(f"  browser processes started by: {', '.join(sorted(BROWSERS)) or 'none'}")


if __name__ == "__main__":
    main()
