"""Browser fetching against real pages on 127.0.0.1, rendered by Debian's headless Chromium.

Each test runs a real pass (or a real fetch) with short timeouts; the pages are served by a
threaded HTTP server whose handlers never wait longer than a few seconds. The faults (a browser
killed mid-pass, a page that never finishes, one that navigates away, an alert, a download)
must each fail their own source and no other.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.archive import Archive
from monitor.config import Settings
from monitor.fetch import Fetchers, fetchers_for
from monitor.fetch.browser import BrowserFetcher
from monitor.model import FailureReason, FetchFailure, FetchMode, Page, Snapshot, Source
from monitor.track import PassSummary, run_pass
from tests.conftest import terms_html, write_sources

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="Debian's chromium is not installed"
)


def clauses(word: str, count: int = 8) -> str:
    return "".join(
        f"<h2>{n}. {word} section {n}</h2><p>{n}.1 The {word} rules say that you keep the "
        f"rights to what you upload, and that we may show it to other people ({n}).</p>"
        for n in range(1, count + 1)
    )


def scripted(inner: str, delay_ms: int = 300, extra_script: str = "") -> str:
    """A page whose terms a script puts into <main id=terms> after `delay_ms`."""
    return (
        "<!doctype html><html><head><title>Scripted Terms</title></head><body>"
        "<main id='terms'></main><script>"
        f"{extra_script}"
        f"setTimeout(() => {{ document.getElementById('terms').innerHTML = {inner!r}; }}, "
        f"{delay_ms});</script></body></html>"
    )


Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


class Site:
    """A threaded HTTP server on 127.0.0.1 with a route per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: dict[str, int] = {}
        site = self

        class Serve(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                site.hits[path] = site.hits.get(path, 0) + 1
                route = site.routes.get(path)
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def page(self, path: str, html: str, status: int = 200, **headers: str) -> None:
        body = html.encode()

        def send(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Content-Type", headers.pop("ctype", "text/html; charset=utf-8"))
            for name, value in headers.items():
                handler.send_header(name.replace("_", "-"), value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        self.routes[path] = send

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture
def browser_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, fetch=dataclasses.replace(settings.fetch, browser_timeout=4.0, retries=0)
    )


def source(sid: str, url: str, fetch: FetchMode = FetchMode.AUTO, **extra: object) -> Source:
    return Source(sid, "Example", "Terms", url, fetch=fetch, **extra)  # type: ignore[arg-type]


def track(
    settings: Settings, sources: list[Source], fetchers: Fetchers | None = None
) -> PassSummary:
    own = fetchers is None
    fetchers = fetchers or fetchers_for(settings.fetch)
    try:
        with Archive(settings.archive_dir) as archive, archive.lock():
            return run_pass(sources, archive, fetchers, settings)
    finally:
        if own:
            fetchers.close()


def outcomes(summary: PassSummary) -> dict[str, tuple[str, str]]:
    return {
        r.source_id: (r.outcome.value, r.failure.reason.value if r.failure else "")
        for r in summary.results
    }


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(settings.archive_dir / "catalog.sqlite") as db:
        return db.execute(sql).fetchall()


@needs_chromium
def test_terms_a_script_inserts_need_the_browser(site: Site, browser_settings: Settings) -> None:
    site.page("/terms", scripted(clauses("Scripted")))
    url = site.url("/terms")
    sources = [
        source("plain", url, FetchMode.HTTP, select=("#terms",)),
        source("auto", url, FetchMode.AUTO, select=("#terms",)),
        source("rendered", url, FetchMode.BROWSER, select=("#terms",)),
    ]
    summary = track(browser_settings, sources)
    assert outcomes(summary) == {
        "plain": ("failed", "not_terms"),
        "auto": ("new", ""),
        "rendered": ("new", ""),
    }
    assert rows(browser_settings, "SELECT source_id, fetched_with FROM snapshots ORDER BY 1") == [
        ("auto", "browser"),
        ("rendered", "browser"),
    ]
    with Archive(browser_settings.archive_dir) as archive:
        version = archive.latest_version("auto")
        assert version is not None
        text = archive.read_version(version).text
    assert "The Scripted rules say" in text and "(8)" in text


@needs_chromium
def test_auto_renders_directly_once_a_page_needed_the_browser(
    site: Site, browser_settings: Settings
) -> None:
    """First pass: the plain page has no terms, so it is rendered (two requests). Next pass:
    rendered at once (one request), and unchanged."""
    site.page("/terms", scripted(clauses("Shell")))
    doc = source("shell", site.url("/terms"), FetchMode.AUTO, select=("#terms",))
    assert outcomes(track(browser_settings, [doc])) == {"shell": ("new", "")}
    assert site.hits["/terms"] == 2
    assert outcomes(track(browser_settings, [doc])) == {"shell": ("unchanged", "")}
    assert site.hits["/terms"] == 3


@needs_chromium
def test_no_browser_starts_when_no_source_needs_one(site: Site, browser_settings: Settings) -> None:
    site.page("/terms", terms_html())
    with fetchers_for(browser_settings.fetch) as fetchers:
        summary = track(browser_settings, [source("auto", site.url("/terms"))], fetchers)
        assert outcomes(summary) == {"auto": ("new", "")}
        assert not fetchers.made(FetchMode.BROWSER)


@needs_chromium
def test_auto_renders_a_page_refused_over_plain_http(
    site: Site, browser_settings: Settings
) -> None:
    """403 to the plain request (as bot filters do to non-browsers), terms to the browser."""

    def by_agent(handler: http.server.BaseHTTPRequestHandler) -> None:
        browser = "HeadlessChrome" in handler.headers.get("User-Agent", "") or handler.headers.get(
            "Sec-Fetch-Mode"
        )
        body = terms_html().encode() if browser else b"Forbidden"
        handler.send_response(200 if browser else 403)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    site.routes["/terms"] = by_agent
    summary = track(browser_settings, [source("auto", site.url("/terms"), select=("main",))])
    assert outcomes(summary) == {"auto": ("new", "")}
    assert rows(browser_settings, "SELECT fetched_with FROM snapshots") == [("browser",)]


@needs_chromium
def test_a_page_fetched_another_way_never_raises_a_change(
    site: Site, browser_settings: Settings
) -> None:
    """Plain text first, then the rendered page (one more clause a script adds): the new
    version is kept, as technical, with no alert."""
    plain = terms_html()
    site.page("/terms", plain)
    url = site.url("/terms")
    assert outcomes(track(browser_settings, [source("doc", url, FetchMode.HTTP)])) == {
        "doc": ("new", "")
    }
    extra = "<p>9.1 We may use your uploads to train artificial intelligence models.</p>"
    site.page(
        "/terms",
        plain.replace(
            "</body>",
            f"<script>document.querySelector('main').insertAdjacentHTML('beforeend', {extra!r})"
            "</script></body>",
        ),
    )
    summary = track(browser_settings, [source("doc", url, FetchMode.BROWSER)])
    assert outcomes(summary) == {"doc": ("changed", "")}
    assert rows(browser_settings, "SELECT technical FROM versions ORDER BY id") == [(0,), (1,)]
    assert rows(browser_settings, "SELECT technical FROM changes") == [(1,)]
    with Archive(browser_settings.archive_dir) as archive:
        from monitor.track import record_alerts

        record_alerts(archive)
    assert rows(browser_settings, "SELECT alert_id FROM alerts") == [(None,)]


@needs_chromium
def test_a_document_of_three_pages_and_one_failing(site: Site, browser_settings: Settings) -> None:
    site.page("/one", terms_html("One", clauses=2))
    site.page("/two", scripted(clauses("Second", 3)))
    site.page("/three", f"<html><body><div id='rules'>{clauses('Third', 3)}</div></body></html>")
    doc = source(
        "doc",
        site.url("/one"),
        select=("main",),
        pages=(
            Page(site.url("/one"), ("main",)),
            Page(site.url("/two"), ("#terms",), (), FetchMode.BROWSER),
            Page(site.url("/three"), ("#rules",), (), FetchMode.HTTP),
        ),
    )
    assert outcomes(track(browser_settings, [doc])) == {"doc": ("new", "")}
    with Archive(browser_settings.archive_dir) as archive:
        version = archive.latest_version("doc")
        assert version is not None
        document = archive.read_version(version)
    text = document.text
    assert (
        text.index("You keep ownership")
        < text.index("The Second rules")
        < text.index("The Third rules")
    )
    assert len({c.key for c in document.clauses}) == len(document.clauses)
    assert rows(browser_settings, "SELECT fetched_with, content_type FROM snapshots") == [
        ("browser", "multipart/mixed")
    ]
    good = rows(browser_settings, "SELECT id, sha256 FROM versions")

    del site.routes["/two"]  # 404: the check fails, the version stays
    summary = track(browser_settings, [doc])
    assert outcomes(summary) == {"doc": ("failed", "http_error")}
    assert "page 2 of 3" in summary.results[0].detail
    assert rows(browser_settings, "SELECT id, sha256 FROM versions") == good
    assert site.hits["/three"] == 1  # not fetched after the failing page


def _cli(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    from monitor.cli.main import Environment, main

    out, err = io.StringIO(), io.StringIO()
    env = {"CLAUSEWATCH_HOST_DELAY": "0", "CLAUSEWATCH_RESPECT_ROBOTS": "false"}
    code = main(list(argv), Environment(stdout=out, stderr=err, env=env, cwd=tmp_path))
    return code, out.getvalue(), err.getvalue()


def test_verify_repair_re_extracts_a_document_of_several_pages(site: Site, tmp_path: Path) -> None:
    """A lost version of a `pages:` document is extracted again from its one multipart
    snapshot, page by page with each page's selectors, to the very bytes it had; and still
    (with the pages' default selectors) once the source has left sources.yaml."""
    site.page("/one", terms_html("One", clauses=2))
    site.page("/two", f"<html><body><div id='rules'>{clauses('Second', 3)}</div></body></html>")
    entry = {
        "id": "doc",
        "platform": "Example",
        "document_type": "Terms",
        "fetch": "http",
        "pages": [
            {"url": site.url("/one"), "select": "main"},
            {"url": site.url("/two"), "select": "#rules"},
        ],
    }
    write_sources(tmp_path / "sources.yaml", [entry])
    code, out, err = _cli(tmp_path, "track", "--json")
    assert code == 0, err
    assert json.loads(out)["counts"]["new"] == 1
    with Archive(tmp_path / "archive") as archive:
        version = archive.latest_version("doc")
        assert version is not None
    lost = tmp_path / "archive" / version.path
    original = lost.read_bytes()
    assert b"Second rules" in original and b"You keep ownership" in original

    lost.unlink()
    assert _cli(tmp_path, "verify")[0] == 1
    code, out, err = _cli(tmp_path, "verify", "--repair", "--json")
    assert code == 0, out + err
    assert json.loads(out)["repair"]["unrepaired"] == []
    assert lost.read_bytes() == original
    assert _cli(tmp_path, "verify")[0] == 0

    write_sources(tmp_path / "sources.yaml", [])  # the source has left: the catalog's pages
    lost.unlink()
    code, out, err = _cli(tmp_path, "verify", "--repair", "--json")
    assert code == 0, out + err
    report = json.loads(out)["repair"]
    assert report["unrepaired"] == [] and len(report["repaired"]) == 1
    assert _cli(tmp_path, "verify")[0] == 0


@needs_chromium
def test_a_browser_killed_mid_pass_fails_that_source_only(
    site: Site, browser_settings: Settings
) -> None:
    fetchers = fetchers_for(browser_settings.fetch)
    killed: list[int] = []

    def crash(handler: http.server.BaseHTTPRequestHandler) -> None:
        browser = fetchers.get(FetchMode.BROWSER)
        assert isinstance(browser, BrowserFetcher)
        pid = browser.browser_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        time.sleep(1)
        handler.send_response(200)
        handler.end_headers()

    site.routes["/crash"] = crash
    site.page("/terms", scripted(clauses("Live")))
    sources = [
        source("crash", site.url("/crash"), FetchMode.BROWSER, select=("#terms",)),
        source("after", site.url("/terms"), FetchMode.BROWSER, select=("#terms",)),
    ]
    try:
        summary = track(browser_settings, sources, fetchers)
    finally:
        fetchers.close()
    assert killed
    assert outcomes(summary) == {"crash": ("failed", "browser"), "after": ("new", "")}


@needs_chromium
def test_pages_that_misbehave_fail_their_own_source(site: Site, browser_settings: Settings) -> None:
    """A page that never finishes loading, one that navigates away and a download fail; an
    alert() is dismissed and its terms are kept. The good page beside them is archived."""

    def never_settles(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        handler.wfile.write(b"<html><body><main id='terms'>" + b" " * 2048)
        handler.wfile.flush()
        time.sleep(8)  # past the 4 s browser_timeout; bounded

    site.routes["/hang"] = never_settles
    site.page(
        "/away",
        scripted(clauses("Away"), 800, "setTimeout(() => location.assign('/elsewhere'), 100);"),
    )
    site.page("/elsewhere", "<html><body><p>Somewhere else entirely.</p></body></html>")
    site.page("/alert", scripted(clauses("Alert"), 300, "alert('Accept our cookies');"))
    site.page(
        "/download",
        "%PDF-1.4 not really",
        ctype="application/octet-stream",
        Content_Disposition='attachment; filename="terms.bin"',
    )
    site.page("/good", scripted(clauses("Good")))
    sources = [
        source(name, site.url(f"/{name}"), FetchMode.BROWSER, select=("#terms",))
        for name in ("hang", "away", "alert", "download", "good")
    ]
    started = time.monotonic()
    summary = track(browser_settings, sources)
    assert time.monotonic() - started < 60
    assert outcomes(summary) == {
        "hang": ("failed", "timeout"),
        "away": ("failed", "redirect"),
        "alert": ("new", ""),
        "download": ("failed", "content_type"),
        "good": ("new", ""),
    }


def test_a_missing_browser_is_a_clear_failure(site: Site, browser_settings: Settings) -> None:
    site.page("/terms", scripted(clauses("Lost")))
    settings = dataclasses.replace(
        browser_settings,
        fetch=dataclasses.replace(browser_settings.fetch, chromium="/nonexistent/chromium"),
    )
    with fetchers_for(settings.fetch) as fetchers:
        result = fetchers.fetch(source("lost", site.url("/terms"), FetchMode.BROWSER))
    assert isinstance(result, FetchFailure)
    assert result.reason is FailureReason.BROWSER
    assert "apt-get install chromium" in result.detail
    assert "playwright install chromium" in result.detail


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@needs_chromium
def test_no_chromium_outlives_a_pass_killed_with_sigkill(
    site: Site, browser_settings: Settings, tmp_path: Path
) -> None:
    site.page("/terms", scripted(clauses("Slow"), 20_000))  # still rendering when killed
    write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "id": "slow",
                "platform": "Example",
                "document_type": "Terms",
                "url": site.url("/terms"),
                "select": "#terms",
                "fetch": "browser",
            }
        ],
    )
    env = {
        **os.environ,
        "CLAUSEWATCH_RESPECT_ROBOTS": "false",
        "CLAUSEWATCH_BROWSER_TIMEOUT": "30",
        "CLAUSEWATCH_HOST_DELAY": "0",
    }
    pass_ = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--archive", str(tmp_path / "archive"), "track"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        browsers: set[int] = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and site.hits.get("/terms", 0) == 0:
            time.sleep(0.1)
        assert site.hits.get("/terms"), "the browser never asked for the page"
        time.sleep(0.5)
        browsers = {
            p
            for p in _descendants(pass_.pid)
            if "chrom" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
        }
        assert browsers
        pass_.kill()
        pass_.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in browsers):
            time.sleep(0.2)
        assert not [p for p in browsers if _alive(p)]
    finally:
        if pass_.poll() is None:
            pass_.kill()
            pass_.wait(timeout=10)


@needs_chromium
def test_a_page_renders_in_one_renderer_process(site: Site, browser_settings: Settings) -> None:
    """Chromium starts no process of its own beside the page's (its omnibox popup, a spare
    renderer): each would cost a page's worth of memory and CPU."""
    site.page("/terms", scripted(clauses("Lean"), 1500))  # still rendering while counted
    with fetchers_for(browser_settings.fetch) as fetchers:
        browser = fetchers.get(FetchMode.BROWSER)
        assert isinstance(browser, BrowserFetcher)
        results: list[object] = []
        fetching = threading.Thread(
            target=lambda: results.append(
                browser.fetch(
                    source("lean", site.url("/terms"), FetchMode.BROWSER, select=("#terms",))
                )
            )
        )
        fetching.start()
        counts: list[int] = []
        deadline = time.monotonic() + 20
        while fetching.is_alive() and time.monotonic() < deadline:
            pid = browser.browser_pid()
            if pid is not None and site.hits.get("/terms"):
                renderers = 0
                for child in _descendants(pid):
                    try:
                        command = Path(f"/proc/{child}/cmdline").read_bytes()
                    except OSError:
                        continue
                    renderers += b"--type=renderer" in command
                counts.append(renderers)
            time.sleep(0.1)
        fetching.join(timeout=20)
    assert isinstance(results[0], Snapshot)
    assert counts, "the page was never seen rendering"
    assert max(counts) == 1


def test_sources_yaml_takes_fetch_and_pages(tmp_path: Path) -> None:
    from monitor.errors import ConfigError
    from monitor.sources import load_sources

    path = write_sources(
        tmp_path / "sources.yaml",
        [
            {"id": "one", "platform": "P", "document_type": "Terms", "url": "https://p.example/t"},
            {
                "id": "many",
                "platform": "P",
                "document_type": "Guidelines",
                "select": "main",
                "fetch": "browser",
                "pages": [
                    "https://p.example/a",
                    {"url": "https://p.example/b", "select": "#rules", "fetch": "http"},
                ],
            },
        ],
    )
    one, many = load_sources(path)
    assert one.fetch is FetchMode.AUTO and one.pages == ()
    assert many.url == "https://p.example/a"
    assert many.pages == (
        Page("https://p.example/a", ("main",), (), FetchMode.BROWSER),
        Page("https://p.example/b", ("#rules",), (), FetchMode.HTTP),
    )
    bad = write_sources(
        tmp_path / "bad.yaml",
        [
            {
                "id": "x",
                "platform": "P",
                "document_type": "T",
                "url": "https://p.example/",
                "fetch": "chrome",
            }
        ],
    )
    with pytest.raises(
        ConfigError, match=r"bad.yaml:6: source 'x': fetch must be one of http, browser, auto"
    ):
        load_sources(bad)


def test_a_multi_page_snapshot_keeps_every_page_as_served() -> None:
    from datetime import UTC, datetime

    from monitor.pages import combine, split

    at = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [
        Snapshot(
            "d",
            at,
            "https://a.example/1",
            200,
            b"<p>caf\xc3\xa9</p>\r\n\r\n--x",
            "text/html",
            "utf-8",
        ),
        Snapshot("d", at, "https://a.example/2", 200, b"%PDF-1.4\x00\xff", "application/pdf", None),
    ]
    combined = combine("d", pages)
    assert combined == combine("d", pages)  # the same pages, the same bytes
    parts = split(combined.content)
    assert [(p.url, p.content_type, p.encoding, p.content) for p in parts] == [
        (s.url, s.content_type, s.encoding, s.content) for s in pages
    ]


@needs_chromium
def test_check_renders_a_page_whose_terms_a_script_inserts(site: Site, tmp_path: Path) -> None:
    import io
    import json

    from monitor.cli.main import Environment, ExitStatus, main

    extra = "<p>9.1 We may use your uploads to train our artificial intelligence models.</p>"
    site.page("/terms", scripted(clauses("Checked") + extra))
    out, err = io.StringIO(), io.StringIO()
    env = {"CLAUSEWATCH_HOST_DELAY": "0", "CLAUSEWATCH_RESPECT_ROBOTS": "false"}
    code = main(
        ["check", site.url("/terms"), "--select", "#terms", "--json"],
        Environment(stdout=out, stderr=err, env=env, cwd=tmp_path),
    )
    assert code == ExitStatus.FLAGGED, err.getvalue()
    report = json.loads(out.getvalue())
    assert any("train" in json.dumps(f) for f in report["findings"]), report
