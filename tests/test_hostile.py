"""Hostile servers and pages (issue 18): each case a loopback server or a crafted page, every
loop and wait bounded, and each failed on the code before its fix. Sections per case, so that
each can grow on its own."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.config import Settings
from monitor.extract.html import html_document
from monitor.fetch.http import Fetcher
from monitor.model import FailureReason, FetchFailure, Outcome, Source
from monitor.track import run_pass
from tests.conftest import ROOT, fast_fetch_settings, terms_html, write_sources

# --- 2. A slow server: a total deadline per request, commits on a timer, SIGTERM ---------------

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"


def trickle(phase: str, seconds: float) -> Callable[[socket.socket], None]:
    """A server that sends one byte every 0.25 s, in the headers or in the body, for `seconds`
    at most: every read succeeds, so no per-read timeout ever fires."""

    def behaviour(conn: socket.socket) -> None:
        data = HEAD[:40] if phase == "headers" else HEAD
        if phase == "body":
            conn.sendall(HEAD)
            data = b"<html><body>" + b" " * 200
        for n in range(int(seconds / 0.25)):  # bounded
            conn.sendall(data[n % len(data) : n % len(data) + 1])
            time.sleep(0.25)

    return behaviour


def _source(sid: str, url: str) -> Source:
    return Source(id=sid, platform="Example", document_type="Terms", url=url)


@pytest.mark.parametrize(("phase", "robots"), [("headers", False), ("body", False), ("body", True)])
def test_a_server_sending_a_byte_at_a_time_meets_the_total_deadline(
    phase: str, robots: bool, raw_server
) -> None:  # type: ignore[no-untyped-def]
    server = raw_server(trickle(phase, seconds=6))  # robots.txt trickles too when asked for
    settings = fast_fetch_settings(
        read_timeout=1.0, total_timeout=1.0, retries=1, respect_robots=robots
    )
    fetcher = Fetcher(settings)
    started = time.monotonic()
    result = fetcher.fetch(_source("slow", server.url()))
    elapsed = time.monotonic() - started
    assert isinstance(result, FetchFailure), result
    assert result.reason is FailureReason.TIMEOUT and "total_timeout" in result.detail, result
    assert elapsed < 3.5, f"a fetch with total_timeout = 1 s took {elapsed:.1f} s"
    assert server.connections == 1, "a request past its deadline is not tried again"


def test_the_total_deadline_holds_through_a_proxy(
    raw_server, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    proxy = raw_server(trickle("body", seconds=6))  # the proxy is the slow one
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url("/"))
    monkeypatch.setenv("http_proxy", proxy.url("/"))
    fetcher = Fetcher(fast_fetch_settings(total_timeout=1.0, retries=0))
    started = time.monotonic()
    result = fetcher.fetch(_source("slow", "http://terms.invalid/terms"))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.TIMEOUT, result
    assert time.monotonic() - started < 3.5


def test_what_a_pass_stored_is_committed_while_a_slow_server_holds_it(
    raw_server, httpserver: HTTPServer, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    slow = raw_server(trickle("body", seconds=12))
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    settings = dataclasses.replace(
        settings, fetch=dataclasses.replace(settings.fetch, total_timeout=6.0, retries=0)
    )
    sources = [_source("fast", httpserver.url_for("/terms")), _source("slow", slow.url())]
    summaries = []

    def track() -> None:
        with Archive(settings.archive_dir) as archive, archive.lock():
            summaries.append(run_pass(sources, archive, Fetcher(settings.fetch), settings))

    settings.archive_dir.mkdir(parents=True)
    started = time.monotonic()
    thread = threading.Thread(target=track, daemon=True)
    thread.start()
    committed_after = None
    while time.monotonic() - started < 5.5 and committed_after is None:  # bounded
        time.sleep(0.1)
        with Archive(settings.archive_dir) as reader:
            if reader.versions("fast"):
                committed_after = time.monotonic() - started
    assert committed_after is not None, "the fast source was not committed while the slow one ran"
    thread.join(timeout=10)
    assert not thread.is_alive(), "the pass outlived the slow source's total_timeout"
    (summary,) = summaries
    outcomes = {
        r.source_id: (r.outcome, r.failure.reason if r.failure else None) for r in summary.results
    }
    assert outcomes == {
        "fast": (Outcome.NEW, None),
        "slow": (Outcome.FAILED, FailureReason.TIMEOUT),
    }


@pytest.mark.slow
def test_sigterm_ends_the_daemon_within_seconds_while_a_fetch_is_stuck(
    raw_server, httpserver: HTTPServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    slow = raw_server(trickle("body", seconds=25))
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    entries = [
        {"id": sid, "platform": "P", "document_type": "T", "url": url, "ignore_robots": True}
        for sid, url in (("fast", httpserver.url_for("/terms")), ("slow", slow.url()))
    ]
    write_sources(tmp_path / "sources.yaml", entries)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CLAUSEWATCH_HOST_DELAY": "0",
        "CLAUSEWATCH_TOTAL_TIMEOUT": "60",  # the stuck fetch would hold on for a minute
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        fast_committed = False
        while time.monotonic() < deadline and not fast_committed:  # bounded
            time.sleep(0.2)
            if slow.connections and (tmp_path / "archive" / "catalog.sqlite").exists():
                with Archive(tmp_path / "archive") as reader:
                    fast_committed = bool(reader.versions("fast"))
        assert fast_committed, "the fast source was not committed while the slow one hung"
        daemon.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, err = daemon.communicate(timeout=20)
        took = time.monotonic() - stopped
        # 0: the pass ended and the daemon shut down cleanly, well before schedule.STOP_DEADLINE
        # (exit 1); the stuck fetch alone would have held it for 25 s
        assert daemon.returncode == 0 and took < 12, (daemon.returncode, took, err.decode())
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
    with Archive(tmp_path / "archive") as archive:
        assert archive.versions("fast") and not archive.versions("slow")
        assert archive.verify().ok


# --- 5. Deep nesting: the parser reads past depth 256, and a parser that gave up is a failure --

TRAINING_AFTER = "<p>9.1 We may use your content to train our artificial intelligence models.</p>"


def nested_page(depth: int) -> str:
    nest = "<div>" * depth + "<span>deep</span>" + "</div>" * depth
    return terms_html(extra=nest + TRAINING_AFTER)


def test_a_clause_after_a_block_nested_300_deep_is_kept() -> None:
    document = html_document(nested_page(300))
    assert any("train our artificial intelligence" in c.text for c in document.clauses)


@pytest.mark.parametrize(
    ("depth", "why"), [(1500, "nests its elements too deeply"), (5000, "parser gave up")]
)
def test_a_page_nested_past_what_can_be_read_is_a_failed_fetch_not_a_version(
    depth: int, why: str, httpserver: HTTPServer, settings: Settings
) -> None:
    source = _source("deep", httpserver.url_for("/terms"))
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(extra=TRAINING_AFTER), content_type="text/html"
    )
    fetcher = Fetcher(settings.fetch)
    settings.archive_dir.mkdir(parents=True)
    with Archive(settings.archive_dir) as archive, archive.lock():
        first = run_pass([source], archive, fetcher, settings)
    assert [r.outcome for r in first.results] == [Outcome.NEW]
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data(
        nested_page(depth), content_type="text/html"
    )
    with Archive(settings.archive_dir) as archive, archive.lock():
        (result,) = run_pass([source], archive, fetcher, settings).results
        assert result.outcome is Outcome.FAILED and result.failure is not None
        assert result.failure.reason is FailureReason.NOT_TERMS
        assert why in result.failure.detail, result.failure.detail
        assert len(archive.versions("deep")) == 1 and archive.alerts() == []
