"""Benchmark: pages that need a browser, Clausewatch against Open Terms Archive and a bare
Playwright loop, in one run (issue 19).

Serves 50 pages from 8 loopback addresses (127.0.0.1-8) whose ~60 KB of terms a script
inserts into `<main id=terms>` 300 ms after the page loads (the plain HTML holds no terms
text). Times, for each tool, a first pass and an unchanged pass, and the peak PSS of its
whole process tree (the browser's processes included, sampled every 100 ms):

- `clausewatch track` over 50 sources with `fetch: browser` and `select: "#terms"`;
- a bare Playwright loop (render, wait for the text, `content()`, nothing stored), one page at
  a time and 4 at once, in the same Chromium with the same flags (monitor.fetch.browser's);
- the Open Terms Archive engine 9.1.0 (`npx ota track`, twice) with 50 declarations with
  `executeClientScripts: true`, installed by this script into bench/.ota with
  `PUPPETEER_SKIP_DOWNLOAD=true npm install @opentermsarchive/engine@9.1.0`, Puppeteer
  running Debian's chromium through a wrapper that adds --no-sandbox. Without node/npm or
  network the script says so and compares with the bare loops only.

Usage: .venv/bin/python bench/browser.py [--repeats N] [--no-ota]
Targets: Clausewatch's first and unchanged passes <= 0.4x OTA's and <= 1.5x the 4-at-once
bare loop; peak PSS <= 800 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loopback  # noqa: E402
from bench.loopback import HOSTS  # noqa: E402
from monitor.fetch.browser import CHROMIUM_ARGS  # noqa: E402  (the bare loops get ours)

PAGES = 50
TERMS_BYTES = 60_000
DELAY_MS = 300
OTA_DIR = ROOT / "bench" / ".ota"
OTA_VERSION = "9.1.0"
CHROMIUM = "/usr/bin/chromium"
WORDS = [
    "licence",
    "content",
    "service",
    "account",
    "users",
    "rights",
    "data",
    "models",
    "training",
    "partners",
    "platform",
    "upload",
    "publish",
    "share",
    "remove",
    "terminate",
    "notice",
    "law",
    "agreement",
    "privacy",
]


def terms(n: int) -> str:
    """About TERMS_BYTES of clause-structured terms HTML, unique to page n."""
    parts, size, section = [], 0, 0
    while size < TERMS_BYTES:
        section += 1
        heading = f"<h2>{section}. {WORDS[(n + section) % len(WORDS)].title()} terms</h2>"
        parts.append(heading)
        size += len(heading)
        for clause in range(1, 6):
            words = " ".join(
                WORDS[(n * 7 + section * 3 + clause + i) % len(WORDS)] for i in range(24)
            )
            text = f"<p>{section}.{clause} For service {n}, the {words}.</p>"
            parts.append(text)
            size += len(text)
    return "".join(parts)


def page(n: int) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Terms {n}</title></head>"
        f"<body><nav>Home</nav><main id='terms'></main><script>const TERMS = {json.dumps(terms(n))};"
        f"setTimeout(() => {{ document.getElementById('terms').innerHTML = TERMS; }}, {DELAY_MS});"
        "</script><footer>Footer</footer></body></html>"
    ).encode()


def serve(port: int) -> list[http.server.ThreadingHTTPServer]:
    bodies = {f"/terms/{n}": page(n) for n in range(PAGES)}

    def respond(path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        body = bodies.get(path)
        return (
            200 if body is not None else 404,
            {"Content-Type": "text/html; charset=utf-8"},
            body if body is not None else b"not found",
        )

    return loopback.serve(respond, port, keep_alive=True)


def _pss_kb(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        return int(rollup.split("\nPss:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return 0


def run(
    command: list[str], cwd: Path, env: dict[str, str], limit: float = 600
) -> tuple[float, float, float]:
    """Seconds, peak PSS (MB, summed over the process tree) and CPU seconds (user + system,
    of the command and every descendant it waited for: the browser's processes too) of one
    command. CPU seconds say more than the time on a machine whose other load varies."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    peak_kb, status, cpu = 0, None, 0.0
    try:
        while status is None:
            if time.perf_counter() - started > limit:
                raise SystemExit(f"{command[0]} took more than {limit:.0f}s")
            peak_kb = max(peak_kb, sum(_pss_kb(pid) for pid in loopback.tree(process.pid)))
            pid, code, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                status, cpu = os.waitstatus_to_exitcode(code), usage.ru_utime + usage.ru_stime
            else:
                time.sleep(0.1)
    finally:
        if status is None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, 9)
            process.wait(timeout=10)
    process.returncode = status
    elapsed = time.perf_counter() - started
    if status not in (0, 1):
        error = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
        raise SystemExit(f"{' '.join(command[:3])} exited {status}: {error}")
    return elapsed, peak_kb / 1024, cpu


BARE_LOOP = textwrap.dedent(
    """
    import asyncio, json, sys
    from playwright.async_api import async_playwright

    async def main(urls, at_once, executable, args):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=executable, args=args)
            slots = asyncio.Semaphore(at_once)

            async def one(url):
                async with slots:
                    page = await browser.new_page()
                    await page.goto(url, wait_until="domcontentloaded")
                    await page.wait_for_function(
                        "document.querySelector('#terms').innerText.trim().length > 0",
                        timeout=30000,
                    )
                    await page.content()
                    await page.close()

            await asyncio.gather(*(one(u) for u in urls))
            await browser.close()

    urls, at_once, executable, args = json.loads(sys.argv[1])
    asyncio.run(main(urls, at_once, executable, args))
    """
)


def ota_install(log: list[str]) -> Path | None:
    """The OTA engine's `ota` command, installed into bench/.ota if needed; None if it cannot."""
    binary = OTA_DIR / "node_modules" / ".bin" / "ota"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        log.append("Open Terms Archive: npm is not installed here; not compared.")
        return None
    OTA_DIR.mkdir(parents=True, exist_ok=True)
    (OTA_DIR / "package.json").write_text('{"name": "ota-bench", "private": true}\n')
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "true"}
    try:
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                f"@opentermsarchive/engine@{OTA_VERSION}",
            ],
            cwd=OTA_DIR,
            env=env,
            check=True,
            timeout=900,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log.append(f"Open Terms Archive: npm install failed ({exc}); not compared.")
        return None
    return binary if binary.exists() else None


def ota_folder(work: Path, urls: list[str]) -> Path:
    """An OTA instance folder: declarations, config, and a chromium wrapper for Puppeteer."""
    folder = work / "ota"
    declarations = folder / "declarations"
    declarations.mkdir(parents=True)
    for n, url in enumerate(urls):
        (declarations / f"Service {n}.json").write_text(
            json.dumps(
                {
                    "name": f"Service {n}",
                    "terms": {
                        "Terms of Service": {
                            "fetch": url,
                            "select": "#terms",
                            "executeClientScripts": True,
                        }
                    },
                }
            )
        )
    (folder / "config").mkdir()
    (folder / "config" / "default.json").write_text(  # merged over the engine's own default
        json.dumps(
            {
                "@opentermsarchive/engine": {
                    "collectionPath": str(folder),
                    "recorder": {
                        "versions": {
                            "storage": {
                                "type": "git",
                                "git": {
                                    "path": str(folder / "data/versions"),
                                    "publish": False,
                                    "snapshotIdentiferTemplate": "%SNAPSHOT_ID",
                                    "author": {"name": "bench", "email": "bench@example.invalid"},
                                },
                            }
                        },
                        "snapshots": {
                            "storage": {
                                "type": "git",
                                "git": {
                                    "path": str(folder / "data/snapshots"),
                                    "publish": False,
                                    "author": {"name": "bench", "email": "bench@example.invalid"},
                                },
                            }
                        },
                    },
                    "fetcher": {
                        "waitForElementsTimeout": 10000,
                        "navigationTimeout": 30000,
                        "language": "en",
                    },
                    "logger": {"sendMailOnError": False},
                }
            }
        )
    )
    (folder / "metadata.yml").write_text("id: bench\nname: Bench\n")
    wrapper = folder / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec {CHROMIUM} --no-sandbox "$@"\n')
    wrapper.chmod(0o755)
    for kind in ("versions", "snapshots"):
        repo = folder / "data" / kind
        repo.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    return folder


def bench(
    repeats: int, with_ota: bool, port: int
) -> tuple[dict[str, tuple[float, float, float]], list[str]]:
    log: list[str] = []
    servers = serve(port)
    work = Path(tempfile.mkdtemp(prefix="clausewatch-browser-bench-"))
    urls = [f"http://{HOSTS[n % len(HOSTS)]}:{port}/terms/{n}" for n in range(PAGES)]
    try:
        (work / "sources.yaml").write_text(
            "sources:\n"
            + "".join(
                f"  - id: doc-{n}\n    platform: P{n}\n    document_type: Terms\n    url: {url}\n"
                "    select: '#terms'\n    fetch: browser\n    ignore_robots: true\n"
                for n, url in enumerate(urls)
            )
        )
        env = {
            **os.environ,
            "CLAUSEWATCH_HOST_DELAY": "0",
            "CLAUSEWATCH_WORKERS": str(len(HOSTS)),
        }
        clausewatch, env = loopback.clausewatch(env)
        ours = [*clausewatch, "track", "--json"]
        executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else None
        bare_script = work / "bare.py"
        bare_script.write_text(BARE_LOOP)

        def bare(at_once: int) -> list[str]:
            spec = json.dumps([urls, at_once, executable, list(CHROMIUM_ARGS)])
            return [sys.executable, str(bare_script), spec]

        ota = ota_install(log) if with_ota else None
        if not with_ota:
            log.append("Open Terms Archive: left out (--no-ota).")
        ota_env = dict(env)
        ota_cmd: list[str] = []
        if ota is not None:
            folder = ota_folder(work, urls)
            ota_env |= {
                "PUPPETEER_EXECUTABLE_PATH": str(folder / "chromium"),
                "PUPPETEER_SKIP_DOWNLOAD": "true",
            }
            ota_cmd = [str(ota), "track"]
        runs: dict[str, list[tuple[float, float, float]]] = {}
        for round_ in range(repeats):
            shutil.rmtree(work / "archive", ignore_errors=True)
            runs.setdefault("clausewatch first", []).append(run(ours, work, env))
            runs.setdefault("clausewatch unchanged", []).append(run(ours, work, env))
            runs.setdefault("bare 1 at a time", []).append(run(bare(1), work, env))
            runs.setdefault("bare 4 at once", []).append(run(bare(4), work, env))
            if ota_cmd:
                folder = work / "ota"
                for kind in ("versions", "snapshots"):
                    repo = folder / "data" / kind
                    shutil.rmtree(repo)
                    repo.mkdir(parents=True)
                    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
                try:
                    runs.setdefault("ota first", []).append(run(ota_cmd, folder, ota_env))
                    runs.setdefault("ota unchanged", []).append(run(ota_cmd, folder, ota_env))
                except SystemExit as exc:
                    log.append(f"Open Terms Archive failed to run: {exc}")
                    ota_cmd = []
            print(f"round {round_ + 1} of {repeats} done", file=sys.stderr)
        summary = json.loads(
            subprocess.run(ours, cwd=work, env=env, capture_output=True, check=False).stdout
            or b"{}"
        ).get("counts", {})
        log.append(f"a third Clausewatch pass counted: {summary}")
        return (
            {
                key: (
                    statistics.median(t for t, _, _ in found),
                    max(m for _, m, _ in found),
                    statistics.median(c for _, _, c in found),
                )
                for key, found in runs.items()
            },
            log,
        )
    finally:
        for server in servers:
            server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-ota", action="store_true")
    args = parser.parse_args()
    results, log = bench(args.repeats, not args.no_ota, 18_180)
    print(
        f"\n{PAGES} pages, ~{TERMS_BYTES // 1000} KB of terms inserted by a script after "
        f"{DELAY_MS} ms, {len(HOSTS)} loopback hosts; median of {args.repeats} run(s)"
    )
    print(f"  {'run':24} {'seconds':>8} {'CPU s':>8} {'peak PSS MB':>12}")
    for key, (seconds, pss, cpu) in results.items():
        print(f"  {key:24} {seconds:8.1f} {cpu:8.1f} {pss:12.0f}")
    print(f"  load average when done: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    four = results["bare 4 at once"]
    for label in ("first", "unchanged"):
        ours = results[f"clausewatch {label}"]
        line = (
            f"  clausewatch {label}: {ours[0] / four[0]:.2f}x the 4-at-once loop's time "
            f"(target <= 1.5; CPU {ours[2] / four[2]:.2f}x)"
        )
        if f"ota {label}" in results:
            ota = results[f"ota {label}"]
            line += (
                f", {ours[0] / ota[0]:.2f}x OTA's time (target <= 0.4; CPU {ours[2] / ota[2]:.2f}x)"
            )
        print(line)
    peak = max(results["clausewatch first"][1], results["clausewatch unchanged"][1])
    print(f"  clausewatch peak PSS {peak:.0f} MB (target <= 800)")
    for line in log:
        print(f"  note: {line}")


if __name__ == "__main__":
    main()
