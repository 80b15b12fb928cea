"""Hostile pages, servers and disks (issue 18): each case a loopback server or a crafted file,
every loop bounded. Helpers add their cases in clearly separated sections."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import io
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.archive.files import TMP_PREFIX
from monitor.cli.main import ExitStatus
from monitor.config import Settings
from monitor.errors import ArchiveError
from monitor.extract.html import html_document
from monitor.fetch import fetchers_for
from monitor.fetch.http import HttpFetcher
from monitor.model import Clause, Document, FailureReason, FetchFailure, FetchMode, Outcome, Source
from monitor.track import run_pass
from tests.conftest import (
    ROOT,
    fast_fetch_settings,
    run_cli,
    terms_html,
    track_versions,
    write_sources,
)


def track_hostile(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path, *extras: str
) -> Source:
    return track_versions(
        httpserver, settings, tmp_path, *extras, source_id="hostile", platform="Hostile"
    )


# --- publish: control and bidi characters (issue 18 items 3 and 20) ---------------------------

CONTROLS = "\x1b[31m\x07\x08\x7f"
BIDI = "\u202e\u2066\u2067\u2068\u2069\u200f\u061c"
SHOWN_NEVER = set(CONTROLS.replace("[31m", "") + BIDI)


def test_control_and_bidi_characters_never_reach_feeds_pages_or_mail(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    training = (
        f"<p>5.3 We may use your {CONTROLS}content to train our {BIDI}artificial "
        f"intelligence models.{CONTROLS}</p>"
    )
    source = track_hostile(httpserver, settings, tmp_path, training)
    with Archive(settings.archive_dir) as archive:
        latest = archive.latest_version(source.id)
        assert latest is not None
        text = " ".join(c.text for c in archive.read_version(latest).clauses)
    raw = " ".join(
        gzip.decompress(p.read_bytes()).decode("utf-8")
        for p in settings.archive_dir.rglob("*.html.gz")
    )
    assert not SHOWN_NEVER & set(text), "extracted text keeps no control or bidi character"
    assert "train our" in text and "artificial intelligence" in text
    assert "\u202e" in raw and "\x1b" in raw, "the raw snapshot keeps the page as served"
    for _ in range(2):  # the failure was on every later run too
        code, out, err = run_cli(tmp_path, "feeds")
        assert code == ExitStatus.OK, out + err
    code, out, err = run_cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK, out + err
    code, out, err = run_cli(tmp_path, "digest", "--until", "today", "--to-dir", "mail")
    assert code == ExitStatus.OK, out + err
    feed = feedparser.parse(tmp_path / "public" / "feeds" / "all.atom")
    assert not feed.bozo and "artificial intelligence" in feed.entries[0].content[0].value
    written = [*(tmp_path / "public").rglob("*.*"), *(tmp_path / "mail").iterdir()]
    assert len(written) > 10
    for path in written:
        shown = path.read_text(encoding="utf-8")
        assert not SHOWN_NEVER & set(shown), path


def test_text_archived_before_the_fix_is_cleaned_when_shown() -> None:
    """Versions stored by an older Clausewatch still hold the characters: rendering cleans."""
    from monitor.diff import diff
    from monitor.model import Clause, Document
    from monitor.publish.render import render_changeset_html

    old = Document("T", (Clause("a #1", ("Use",), None, "We may use your content."),))
    new = Document(
        "T", (Clause("a #1", ("Use\u202e",), "5.3", f"We may {CONTROLS}train on{BIDI} it."),)
    )
    html = render_changeset_html(diff(old, new), f"title{CONTROLS}")
    assert not SHOWN_NEVER & set(html) and "train on" in html


# --- publish: evidence and clause text are capped when shown (issue 18 item 9) -----------------


def test_a_huge_clause_makes_small_feeds_pages_and_digest(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    filler = "lorem ipsum dolor sit amet consectetur " * 7_500  # 300 KB each side, one sentence
    training = f"<p>5.3 {filler}We may use your content to train our AI models {filler}</p>"
    track_hostile(httpserver, settings, tmp_path, training)
    assert run_cli(tmp_path, "feeds")[0] == ExitStatus.OK
    assert run_cli(tmp_path, "site", "build")[0] == ExitStatus.OK
    assert run_cli(tmp_path, "digest", "--until", "today", "--to-dir", "mail")[0] == ExitStatus.OK
    change_pages = list((tmp_path / "public" / "sources" / "hostile" / "changes").glob("*.html"))
    shown = [
        tmp_path / "public" / "feeds" / "all.atom",
        *change_pages,
        *(tmp_path / "mail").iterdir(),
    ]
    assert change_pages and len(shown) > 3
    for path in shown:
        size = path.stat().st_size
        assert size < 100_000, f"{path.name}: {size} bytes"
        if path.suffix != ".eml":  # the .eml is the .txt and .html, encoded
            text = path.read_text(encoding="utf-8")
            assert "train our AI models" in text and "\N{HORIZONTAL ELLIPSIS}" in text, path


def test_every_changeset_renderer_shows_the_same_capped_change() -> None:
    """HTML, Markdown and the terminal walk one change_view: one cap, one set of words."""
    from rich.console import Console

    from monitor.cli.track import changeset_text
    from monitor.diff import diff
    from monitor.model import Clause, Document
    from monitor.publish.render import render_changeset_html, render_markdown

    filler = "lorem ipsum dolor sit amet " * 4_000  # 108 KB each side
    old = Document("T", (Clause("a #1", ("Use",), "5.3", f"{filler}We keep it. {filler}"),))
    new = Document("T", (Clause("a #1", ("Use",), "5.3", f"{filler}We train AI. {filler}"),))
    changeset = diff(old, new)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(changeset_text(changeset))
    outputs = {
        "html": render_changeset_html(changeset),
        "markdown": render_markdown(changeset),
        "terminal": console.file.getvalue(),  # type: ignore[attr-defined]
    }
    for name, text in outputs.items():
        assert len(text) < 20_000, name
        assert "train" in text and "characters not shown" in text, name


# --- publish: a full disk (issue 18 item 19) ---------------------------------------------------


@pytest.mark.parametrize("command", [("feeds",), ("site", "build")])
def test_a_full_disk_is_a_clear_error_and_leaves_no_temp_files(
    archive_with_alerts: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple
) -> None:
    import errno
    import os

    real_replace = os.replace
    calls = {"n": 0}

    def replace_fails_after_three(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace_fails_after_three)
    code, out, err = run_cli(tmp_path, *command)
    assert code == ExitStatus.ERROR, out + err
    assert "No space left on device" in err and "Traceback" not in err + out
    assert not [p for p in (tmp_path / "public").rglob("*") if p.name.startswith(TMP_PREFIX)]
    monkeypatch.setattr(os, "replace", real_replace)
    code, out, err = run_cli(tmp_path, *command)
    assert code == ExitStatus.OK, out + err


# --- settings and sources that pass loading but break later (issue 18 items 13, 14, 16) -------


def _source_entry(**changes: object) -> dict[str, object]:
    return {
        "id": "example-terms",
        "platform": "Example",
        "document_type": "Terms of Service",
        "url": "https://example.org/terms",
        **changes,
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_source_entry(id="a" * 300), "at most 64"),
        (_source_entry(schedule="0 6 * * 8"), "the scheduler cannot run it"),
        (_source_entry(schedule="99 99 99 99 99"), "the scheduler cannot run it"),
        (_source_entry(schedule="every 99999999999999999999d"), "schedule"),
        (_source_entry(schedule="every 99999999d"), "longer than a year"),
        (_source_entry(schedule="0 0 30 2 *"), "never fires"),
    ],
)
def test_sources_the_pass_or_daemon_cannot_run_exit_2_with_file_and_line(
    tmp_path: Path, entry: dict[str, object], message: str
) -> None:
    write_sources(tmp_path / "sources.yaml", [_source_entry(id="first"), entry])
    code, out, err = run_cli(tmp_path, "sources")
    assert code == ExitStatus.USAGE, out + err
    assert "sources.yaml:" in err and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("toml", "where", "message"),
    [
        ("fetch = 5\n", "clausewatch.toml:1", "must be a table"),
        ("[fetch]\nretries = -1\n", "clausewatch.toml:2 [fetch]", "'retries' must be"),
        ("[fetch]\nread_timeout = 0\n", "clausewatch.toml:2 [fetch]", "'read_timeout'"),
        ("[fetch]\nread_timeout = inf\n", "clausewatch.toml:2 [fetch]", "'read_timeout'"),
        ("[fetch]\nretries = true\n", "clausewatch.toml:2 [fetch]", "'retries'"),
        ("workers = 0\n", "clausewatch.toml:1", "'workers'"),
        ('digest_schedule = "bad"\n', "clausewatch.toml:1", "digest_schedule 'bad'"),
        ('digest_schedule = "0 6 * * 8"\n', "clausewatch.toml:1", "cannot run it"),
        ('digest_schedule = "every 1d"\n', "clausewatch.toml:1", "5-field cron line"),
        ('feed_min_severity = "urgent"\n', "clausewatch.toml:1", "one of high, medium, low, info"),
        ('[smtp]\nsecurity = "ssl"\n', "clausewatch.toml:2 [smtp]", "one of starttls, tls, none"),
        ("[smtp]\nport = 70000\n", "clausewatch.toml:2 [smtp]", "'port'"),
        (
            '[digest]\nsender = "a@x.org\\r\\nBcc: all@x.org"\n',
            "clausewatch.toml:2 [digest]",
            "one line of text",
        ),
        ('[digest]\nsender = "nobody"\n', "clausewatch.toml:2 [digest]", "e-mail address"),
        (
            '[digest]\nunsubscribe = "mailto:u@x.org\\r\\nX: y"\n',
            "clausewatch.toml:2 [digest]",
            "one line of text",
        ),
        (
            '[[digest.subscribers]]\nemail = "ana@x.org\\r\\nBcc: all@x.org"\n',
            "clausewatch.toml:2 (subscriber #1)",
            "plain email address",
        ),
        (
            '[[digest.subscribers]]\nemail = "ana@x.org"\n'
            '[[digest.subscribers]]\nemail = "Ana@X.org"\n',
            "clausewatch.toml:4 (subscriber #2)",
            "subscriber #1 already",
        ),
        (
            '[[digest.subscribers]]\nemail = "ana@x.org"\ncategories = ["ai-training"]\n',
            "clausewatch.toml:3 (subscriber #1)",
            "unknown categories",
        ),
    ],
)
def test_bad_settings_exit_2_with_file_line_and_key(
    tmp_path: Path, toml: str, where: str, message: str
) -> None:
    (tmp_path / "clausewatch.toml").write_text(toml, encoding="utf-8")
    code, out, err = run_cli(tmp_path, "sources")
    assert code == ExitStatus.USAGE, out + err
    assert where in err and message in err and "Traceback" not in err, err


def test_bad_settings_from_the_environment_exit_2_naming_the_variable(tmp_path: Path) -> None:
    code, out, err = run_cli(tmp_path, "sources", env={"CLAUSEWATCH_RETRIES": "-1"})
    assert code == ExitStatus.USAGE and "CLAUSEWATCH_RETRIES" in err, out + err
    code, out, err = run_cli(
        tmp_path, "sources", env={"CLAUSEWATCH_SMTP_SENDER": "a@x.org\nBcc: b"}
    )
    assert code == ExitStatus.USAGE and "CLAUSEWATCH_SMTP_SENDER" in err, out + err


# --- mail: hostile SMTP servers and duplicate sends (issue 18 items 8 and 17) -----------------


class ScriptedSmtp:
    """A raw SMTP server on 127.0.0.1 that speaks just enough SMTP, with faults on demand.
    At most `limit` connections, each read bounded by a socket timeout."""

    def __init__(self, *, ehlo_flood: float = 0.0, lose_data_reply: bool = False) -> None:
        self.ehlo_flood = ehlo_flood  # > 0: answer EHLO with "250-" lines, one per this many s
        self.lose_data_reply = lose_data_reply  # take the message, then close without a reply
        self.messages: list[bytes] = []
        self.talking = threading.Event()  # set once a client has said EHLO
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self, limit: int = 10) -> None:
        served = 0
        while not self._stop.is_set() and served < limit:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            served += 1
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                self._dialogue(conn, conn.makefile("rb"))

    def _flood(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + 15  # bounded: the old client read for as long as this
        sent = 0
        while time.monotonic() < deadline and sent < 8_000_000 and not self._stop.is_set():
            line = b"250-" + b"x" * 60 + b"\r\n"
            conn.sendall(line * (1 if self.ehlo_flood > 0 else 1000))
            sent += len(line) * (1 if self.ehlo_flood > 0 else 1000)
            if self.ehlo_flood > 0:
                time.sleep(self.ehlo_flood)

    def _dialogue(self, conn: socket.socket, reader: Any) -> None:
        conn.sendall(b"220 scripted ESMTP\r\n")
        while True:
            line = reader.readline(1000)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.talking.set()
                if self.ehlo_flood:
                    self._flood(conn)
                    return
                conn.sendall(b"250 scripted\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                conn.sendall(b"250 OK\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                body = b""
                while not body.endswith(b"\r\n.\r\n"):
                    chunk = reader.readline(100_000)
                    if not chunk:
                        return
                    body += chunk
                self.messages.append(body)
                if self.lose_data_reply:
                    return  # the message is here; the client never hears so
                conn.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"500 unknown\r\n")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=20)


def mail_settings(tmp_path: Path, port: int, *emails: str, deadline: float = 3) -> None:
    subscribers = "".join(f"[[digest.subscribers]]\nemail = '{e}'\n" for e in emails)
    (tmp_path / "clausewatch.toml").write_text(
        f"[smtp]\nhost = '127.0.0.1'\nport = {port}\nsecurity = 'none'\ntimeout = 5\n"
        f"deadline = {deadline}\n"
        "[digest]\nsender = 'Clausewatch <digest@watch.example.org>'\n" + subscribers
    )


@pytest.mark.parametrize("drip", [0.05, -1.0], ids=["slow-endless-reply", "fast-endless-reply"])
def test_an_endless_smtp_reply_ends_within_the_deadline_without_holding_the_lock(
    archive_with_alerts: Settings, tmp_path: Path, drip: float
) -> None:
    server = ScriptedSmtp(ehlo_flood=drip)
    try:
        mail_settings(tmp_path, server.port, "ana@example.org", deadline=2)
        outcome: dict[str, Any] = {}
        started = time.monotonic()

        def send() -> None:
            outcome["result"] = run_cli(tmp_path, "digest", "--until", "today", "--send")
            outcome["took"] = time.monotonic() - started

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        assert server.talking.wait(10)
        if drip > 0:  # while the server talks, others may write to the archive
            archive = Archive(archive_with_alerts.archive_dir, lock_timeout=0.5)
            with archive, archive.lock():
                archive.record_notice("probe", datetime.now(UTC), "probe", "the lock is free")
        sender.join(timeout=30)
        assert not sender.is_alive()
        code, out, err = outcome["result"]
        assert code == ExitStatus.ERROR and "ana@example.org: failed" in out, out + err
        expected = "more than 2s in all" if drip > 0 else "longer than 65536 bytes"
        assert expected in " ".join(out.split()), out
        assert outcome["took"] < 10
    finally:
        server.close()


def test_a_lost_reply_to_data_is_unconfirmed_and_never_sent_again(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    server = ScriptedSmtp(lose_data_reply=True)
    try:
        mail_settings(tmp_path, server.port, "ana@example.org", "bo@example.org")
        code, out, err = run_cli(tmp_path, "digest", "--until", "today", "--send")
        assert code == ExitStatus.OK, out + err
        assert "ana@example.org: sent, unconfirmed" in out and "2 unconfirmed" in out, out
        code, out, err = run_cli(tmp_path, "digest", "--until", "today", "--send")
        assert "0 sent, 0 failed, 2 already sent before" in out, out + err
        recipients = sorted(m.split(b"\r\nTo: ")[1].split(b"\r\n")[0] for m in server.messages)
        assert recipients == [b"ana@example.org", b"bo@example.org"]  # one copy each
    finally:
        server.close()


def test_to_dir_writes_one_set_of_files_per_subscriber(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    # two addresses whose file names were the same ("+" and "_" both became "_")
    mail_settings(tmp_path, 25, "a+b@example.org", "a_b@example.org")
    code, out, err = run_cli(tmp_path, "digest", "--until", "today", "--to-dir", "out")
    assert code == ExitStatus.OK and "2 digest(s)" in out, out + err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(written) == 6, written
    recipients = {
        line
        for p in (tmp_path / "out").glob("*.eml")
        for line in p.read_text().splitlines()
        if line.startswith("To: ")
    }
    assert recipients == {"To: a+b@example.org", "To: a_b@example.org"}


def test_a_send_killed_during_data_is_not_repeated(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    from tests.test_digest import Inbox, free_port

    class SlowInbox(Inbox):
        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            reply = await super().handle_DATA(server, session, envelope)
            for _ in range(200):  # at most 10 s: the client is killed meanwhile
                if self.release.is_set():
                    break
                await asyncio.sleep(0.05)
            return reply

    inbox = SlowInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail_settings(tmp_path, port, "ana@example.org", deadline=30)
        child = subprocess.Popen(
            [sys.executable, "-m", "monitor", "digest", "--until", "today", "--send"],
            cwd=tmp_path,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):  # the server has the message, the client waits for its reply
                if inbox.messages:
                    break
                time.sleep(0.05)
            assert inbox.messages, "the child never sent its message"
            child.kill()  # kill -9
        finally:
            child.wait(timeout=10)
        inbox.release.set()
        code, out, err = run_cli(tmp_path, "digest", "--until", "today", "--send")
        assert code == ExitStatus.OK and "1 already sent before" in out, out + err
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


# --- serve: symlinks, listings, idle connections (issue 18 item 18) ---------------------------


@pytest.fixture
def served(tmp_path: Path) -> Any:
    from monitor.publish.serve import make_server

    public = tmp_path / "public"
    (public / "feeds").mkdir(parents=True)
    (public / "index.html").write_text("<p>home</p>")
    (public / "feeds" / "all.atom").write_text("<feed/>")
    (public / "feeds" / ".all.atom.tmp").write_text("half written")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    (public / "etclink").symlink_to(outside)
    (public / "inside").symlink_to(public / "feeds")  # a link that stays inside is fine
    server = make_server(public, "127.0.0.1", 0, idle_timeout=1.0, max_connections=8)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _get(port: int, path: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serve_stays_inside_public_and_lists_nothing(served: int) -> None:
    assert _get(served, "/index.html") == (200, b"<p>home</p>")
    assert _get(served, "/feeds/all.atom") == (200, b"<feed/>")
    assert _get(served, "/inside/all.atom") == (200, b"<feed/>")
    status, body = _get(served, "/etclink/passwd")
    assert status == 404 and b"root:x" not in body
    for path in ("/feeds/", "/etclink/", "/feeds/.all.atom.tmp", "/../outside/passwd"):
        status, body = _get(served, path)
        assert status == 404 and b"all.atom" not in body and b"root:x" not in body, path


def test_serve_closes_idle_connections_and_caps_threads(served: int) -> None:
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", served), timeout=5) for _ in range(40)]
    try:
        time.sleep(0.3)
        assert threading.active_count() <= before + 8  # at most max_connections handlers
        started = time.monotonic()
        for sock in idle[:8]:  # the ones that got a handler are closed after 1 s of silence
            assert sock.recv(100) == b""
        assert time.monotonic() - started < 4
    finally:
        for sock in idle:
            sock.close()
    assert _get(served, "/index.html")[0] == 200


# --- fetch and track: a slow server; total deadlines, timed commits, SIGTERM (item 2) ----------

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
    fetcher = HttpFetcher(settings)
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
    fetcher = HttpFetcher(fast_fetch_settings(total_timeout=1.0, retries=0))
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
        with (
            fetchers_for(settings.fetch) as fetchers,
            Archive(settings.archive_dir) as archive,
            archive.lock(),
        ):
            summaries.append(run_pass(sources, archive, fetchers, settings))

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
def test_a_track_killed_while_a_server_hangs_keeps_what_it_had_fetched(
    raw_server, httpserver: HTTPServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    slow = raw_server(trickle("body", seconds=25))
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    entries = [
        {"id": f"fast-{n}", "platform": "P", "document_type": f"T{n}", "ignore_robots": True}
        | {"url": httpserver.url_for("/terms")}
        for n in range(5)
    ] + [{"id": "slow", "platform": "P", "document_type": "T", "url": slow.url()}]
    write_sources(tmp_path / "sources.yaml", entries)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CLAUSEWATCH_HOST_DELAY": "0",
        "CLAUSEWATCH_RESPECT_ROBOTS": "false",
        "CLAUSEWATCH_TOTAL_TIMEOUT": "60",
    }
    track = subprocess.Popen(
        [sys.executable, "-m", "monitor", "track"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        stored: list[str] = []
        while time.monotonic() < deadline and len(stored) < 5:  # bounded
            time.sleep(0.2)
            if (tmp_path / "archive" / "catalog.sqlite").exists():
                with Archive(tmp_path / "archive") as reader:
                    stored = [f"fast-{n}" for n in range(5) if reader.versions(f"fast-{n}")]
        assert track.poll() is None, "the pass ended: the slow server did not hold it"
        track.kill()  # kill -9: nothing is flushed on the way out
        track.wait(timeout=10)
    finally:
        if track.poll() is None:
            track.kill()
            track.wait(timeout=10)
    assert stored == [f"fast-{n}" for n in range(5)], "fetched sources were not committed"
    with Archive(tmp_path / "archive") as archive:
        assert all(archive.versions(f"fast-{n}") for n in range(5))
        assert archive.verify().ok


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


# --- extract: deep nesting; read past depth 256, a parser that gave up fails (item 5) ----------

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
    # the plain page, as served: a browser's own parser flattens what nests past 512 levels
    source = dataclasses.replace(
        _source("deep", httpserver.url_for("/terms")), fetch=FetchMode.HTTP
    )
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(extra=TRAINING_AFTER), content_type="text/html"
    )
    fetcher = fetchers_for(settings.fetch)
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


# --- archive and diff (h-archive): damaged archives, unsafe ids, bounded diffs -------------


# --- archive: damaged files and catalog (issue 18: 1, 4, 10, 11, 12, 19) ----------------------


def _entry(url: str, sid: str) -> dict[str, object]:
    return {
        "id": sid,
        "platform": "Example",
        "document_type": "Terms of Service",
        "url": url,
        "ignore_robots": True,
    }


SIDS = ("alpha-terms", "beta-terms", "gamma-terms")


def _tracked_twice(httpserver: HTTPServer, tmp_path: Path) -> Path:
    """Three sources tracked twice, the second time with a change: each has two versions and
    one change. Returns the archive folder."""
    for sid in SIDS:
        httpserver.expect_request(f"/{sid}").respond_with_data(
            terms_html(sid), content_type="text/html"
        )
    write_sources(
        tmp_path / "sources.yaml", [_entry(httpserver.url_for(f"/{sid}"), sid) for sid in SIDS]
    )
    assert run_cli(tmp_path, "track")[0] == 0
    httpserver.clear()
    for sid in SIDS:
        extra = "<p>99.1 We may use your content to train artificial intelligence models.</p>"
        httpserver.expect_request(f"/{sid}").respond_with_data(
            terms_html(sid, extra=extra), content_type="text/html"
        )
    code, out, err = run_cli(tmp_path, "track", "--json")
    assert code == 0, err
    assert json.loads(out)["counts"]["changed"] == 3
    return tmp_path / "archive"


def _one_more_change(httpserver: HTTPServer) -> None:
    httpserver.clear()
    for sid in SIDS:
        extra = "<p>99.1 We may use your content to train models, and sell it to partners.</p>"
        httpserver.expect_request(f"/{sid}").respond_with_data(
            terms_html(sid, extra=extra), content_type="text/html"
        )


def _latest(archive_dir: Path, sid: str, kind: str) -> Path:
    with Archive(archive_dir) as archive:
        if kind == "versions":
            version = archive.latest_version(sid)
            assert version is not None
            return archive_dir / version.path
        if kind == "changes":
            return archive_dir / archive.changes(sid)[-1].path
        snapshot = archive.latest_snapshot(sid)
        assert snapshot is not None
        return archive_dir / snapshot.path


def test_archive_missing_version_file_fails_that_source_only(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    archive_dir = _tracked_twice(httpserver, tmp_path)
    lost = _latest(archive_dir, "beta-terms", "versions")
    lost.unlink()
    _one_more_change(httpserver)
    code, out, err = run_cli(tmp_path, "track", "--json")
    assert code == 0, err
    results = {s["id"]: s for s in json.loads(out)["sources"]}
    assert results["alpha-terms"]["outcome"] == "changed"
    assert results["gamma-terms"]["outcome"] == "changed"
    assert results["beta-terms"]["outcome"] == "failed"
    assert "verify --repair" in results["beta-terms"]["detail"]
    assert str(lost.name) in results["beta-terms"]["detail"]
    # show and the site report the damaged source and go on
    code, out, err = run_cli(tmp_path, "show", "beta-terms")
    assert code == 1 and lost.name in err and "Traceback" not in err
    code, out, err = run_cli(tmp_path, "site", "build")
    assert code == 0, err
    assert lost.name in err and (tmp_path / "public" / "index.html").exists()
    # verify names it, verify --repair re-extracts it from its snapshot
    code, out, _ = run_cli(tmp_path, "verify")
    assert code == 1 and "beta-terms" in out and lost.name in out
    code, out, err = run_cli(tmp_path, "verify", "--repair")
    assert code == 0, out + err
    assert lost.exists() and "re-extracted" in out
    assert run_cli(tmp_path, "verify")[0] == 0
    _one_more_change(httpserver)  # the same page again: beta catches up, the others unchanged
    code, out, _ = run_cli(tmp_path, "track", "--json")
    results = {s["id"]: s for s in json.loads(out)["sources"]}
    assert results["beta-terms"]["outcome"] == "changed"


def test_archive_version_whose_snapshot_is_gone_is_marked_and_not_fatal(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    archive_dir = _tracked_twice(httpserver, tmp_path)
    _latest(archive_dir, "beta-terms", "versions").unlink()
    _latest(archive_dir, "beta-terms", "snapshots").unlink()
    code, out, _ = run_cli(tmp_path, "verify", "--repair", "--json")
    assert code == 1
    unrepaired = json.loads(out)["repair"]["unrepaired"]
    assert any("version" in u and "cannot be re-extracted" in u for u in unrepaired)
    assert all("beta-terms" in u for u in unrepaired)
    assert run_cli(tmp_path, "track")[0] == 0  # the other sources go on


def test_archive_verify_reports_a_bit_flipped_snapshot(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    archive_dir = _tracked_twice(httpserver, tmp_path)
    snapshot = _latest(archive_dir, "alpha-terms", "snapshots")
    data = bytearray(snapshot.read_bytes())
    data[10] ^= 0xFF  # the first byte of the deflate stream: zlib.error, not BadGzipFile
    snapshot.write_bytes(bytes(data))
    code, out, err = run_cli(tmp_path, "verify")
    assert code == 1 and "Traceback" not in err
    assert snapshot.name in out and "unreadable" in out


def test_archive_missing_change_file_is_skipped_and_rebuilt(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    archive_dir = _tracked_twice(httpserver, tmp_path)
    # the three changes are one event (one platform, one quote): its feed entry shows the
    # clause diff of its first alert, so that is the change file the feeds read
    with sqlite3.connect(archive_dir / "catalog.sqlite") as db:
        (first,) = db.execute(
            "SELECT source_id FROM alerts WHERE alert_id IS NOT NULL"
            " ORDER BY recorded_at, change_id LIMIT 1"
        ).fetchone()
    lost = _latest(archive_dir, str(first), "changes")
    original = lost.read_bytes()
    lost.unlink()
    code, _, err = run_cli(tmp_path, "feeds")
    assert code == 0 and lost.name in err
    code, _, err = run_cli(tmp_path, "site", "build")
    assert code == 0 and lost.name in err
    code, out, _ = run_cli(tmp_path, "verify")
    assert code == 1 and lost.name in out
    code, out, _ = run_cli(tmp_path, "verify", "--repair")
    assert code == 0 and "rebuilt" in out
    assert json.loads(lost.read_bytes()) == json.loads(original)
    assert run_cli(tmp_path, "verify")[0] == 0


def test_archive_corrupt_catalog_is_never_written(httpserver: HTTPServer, tmp_path: Path) -> None:
    archive_dir = _tracked_twice(httpserver, tmp_path)
    catalog = archive_dir / "catalog.sqlite"
    with sqlite3.connect(catalog) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 3
    with open(catalog, "r+b") as handle:  # random bytes over a page in the middle
        handle.seek(page_size * (pages // 2))
        handle.write(bytes(range(256)) * (page_size // 256))  # no valid page header
    before = catalog.read_bytes()
    _one_more_change(httpserver)
    code, out, err = run_cli(tmp_path, "track")
    assert code != 0 and "Traceback" not in err
    assert "damaged" in err and "clausewatch verify" in err
    assert catalog.read_bytes() == before  # nothing written into it
    for argv in (("history", "alpha-terms"), ("feeds",), ("site", "build")):
        code, _, err = run_cli(tmp_path, *argv)
        assert code != 0 and "damaged" in err and "Traceback" not in err, argv
    code, out, _ = run_cli(tmp_path, "verify")
    assert code == 1 and "catalog" in out


def test_archive_verify_repair_removes_orphans_of_killed_runs(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    archive_dir = _tracked_twice(httpserver, tmp_path)
    orphan = archive_dir / "alpha-terms" / "versions" / "2026-01-01T00-00-00Z-deadbeef.md"
    orphan.write_text("left by a run killed before its commit")
    tmp = archive_dir / "beta-terms" / "snapshots" / ".tmp-x.html.gz.999999"
    tmp.write_bytes(b"half")
    old = time.time() - 3 * 3600
    os.utime(tmp, (old, old))
    kept = {p for p in archive_dir.rglob("*") if p.is_file()} - {orphan, tmp}
    code, out, _ = run_cli(tmp_path, "verify")
    assert code == 0 and orphan.name in out
    code, out, _ = run_cli(tmp_path, "verify", "--repair")
    assert code == 0 and "removed" in out
    assert not orphan.exists() and not tmp.exists()
    assert all(p.exists() for p in kept)  # every file a row names, and the lock, stay


def test_archive_catalog_that_is_not_a_database_is_reported_with_the_repair(
    tmp_path: Path,
) -> None:
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    (archive_dir / "catalog.sqlite").write_bytes(b"not a catalog " * 600)
    write_sources(tmp_path / "sources.yaml", [_entry("http://127.0.0.1:9/terms", "alpha-terms")])
    for argv in (("verify",), ("track",), ("history", "alpha-terms")):
        code, _, err = run_cli(tmp_path, *argv)
        assert code == 1 and "damaged" in err and ".recover" in err, (argv, err)


def _document() -> Document:
    return Document("Example", (Clause(" #1", (), None, "We may use your content."),))


def test_archive_refuses_paths_outside_itself(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from monitor.model import Snapshot, Source

    archive = Archive(tmp_path / "archive")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("", "..", "../escape", "/abs", "a/b", "."):
        with pytest.raises(ArchiveError, match="unsafe source id"):
            archive.sync_sources([Source(bad, "P", "T", "https://e.org/")], now)
        snapshot = Snapshot(bad, now, "https://e.org/", 200, b"<p>x</p>", "text/html", "utf-8")
        with pytest.raises(ArchiveError, match="unsafe source id"):
            archive.store(snapshot, _document())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive"]
    assert not Path("/snapshots").exists()


def test_archive_refuses_to_follow_a_symlink_out(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from monitor.model import Snapshot, Source

    outside = tmp_path / "outside"
    outside.mkdir()
    archive = Archive(tmp_path / "archive")
    (archive.root / "evil-terms").symlink_to(outside)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    archive.sync_sources([Source("evil-terms", "P", "T", "https://e.org/")], now)
    snapshot = Snapshot("evil-terms", now, "https://e.org/", 200, b"<p>x</p>", "text/html", "utf-8")
    with pytest.raises(ArchiveError, match="outside the archive"):
        archive.store(snapshot, _document())
    assert list(outside.iterdir()) == []
    archive.sync_sources([Source("ok-terms", "P", "T", "https://e.org/")], now)
    sound = Snapshot("ok-terms", now, "https://e.org/", 200, b"<p>x</p>", "text/html", "utf-8")
    assert archive.store(sound, _document()).outcome is Outcome.NEW  # sound ids still store


# --- diff: bounded work on hostile shapes (issue 18: 7) ---------------------------------------


def _reshuffled_clause(size: int) -> tuple[Document, Document]:
    rng = random.Random(7)
    sentences: list[str] = []
    while sum(map(len, sentences)) < size:
        words = " ".join(f"w{rng.randrange(2000)}" for _ in range(rng.randint(6, 14)))
        sentences.append(words + ". ")
    shuffled = list(sentences)
    rng.shuffle(shuffled)
    return tuple(  # type: ignore[return-value]
        Document("Terms", (Clause("Terms #1", ("Terms",), None, "".join(order).strip()),))
        for order in (sentences, shuffled)
    )


def test_diff_reshuffled_50kb_clause_falls_back_to_a_coarse_diff_and_says_so() -> None:
    from monitor.diff import diff
    from monitor.model import ChangeKind, SpanOp

    old, new = _reshuffled_clause(50_000)
    changeset = diff(old, new)
    assert [c.kind for c in changeset.changes] == [ChangeKind.MODIFIED]
    spans = changeset.changes[0].spans
    # the coarse diff is still a diff: it turns the old text into the new one
    assert "".join(s.text for s in spans if s.op is not SpanOp.INSERT) == old.clauses[0].text
    assert "".join(s.text for s in spans if s.op is not SpanOp.DELETE) == new.clauses[0].text
    assert any("too much to be diffed word by word" in note for note in changeset.notes)
    from monitor.publish.render import render_changeset_html, render_markdown

    for shown in (render_markdown(changeset), render_changeset_html(changeset)):
        assert "Note: 1 clauses changed too much to be diffed word by word" in shown


def test_diff_small_rewording_takes_no_fallback() -> None:
    from monitor.diff import diff
    from monitor.model import SpanOp

    old = Document("T", (Clause("T #1", ("T",), None, "We may use your content. " * 200),))
    new_text = (
        "We may use your content. " * 100
        + "We may train on it. "
        + "We may use your content. " * 99
    )
    new = Document("T", (Clause("T #1", ("T",), None, new_text.strip()),))
    changeset = diff(old, new)
    assert changeset.notes == ()
    changed = [s for s in changeset.changes[0].spans if s.op is not SpanOp.EQUAL]
    assert "train on it" in "".join(s.text for s in changed)
    assert sum(len(s.text) for s in changed) < 100  # word by word, not the clause replaced


def test_diff_thousands_of_reworded_clauses_over_common_words_are_all_paired() -> None:
    from monitor.diff import diff
    from monitor.model import ChangeKind

    rng = random.Random(7)
    vocabulary = [f"term{n}" for n in range(100)]
    old_clauses, new_clauses = [], []
    for n in range(3000):  # each word in about 450 clauses: more than a lookup may read
        chosen = [rng.choice(vocabulary) for _ in range(15)]
        old_clauses.append(Clause(f"T #{n + 1}", ("T",), None, " ".join(chosen)))
        chosen[rng.randrange(15)] = f"changed{n}"
        new_clauses.append(Clause(f"T #{n + 1}", ("T",), None, " ".join(chosen)))
    changeset = diff(Document("T", tuple(old_clauses)), Document("T", tuple(new_clauses)))
    assert all(c.kind is ChangeKind.MODIFIED for c in changeset.changes)
    assert [(c.old.key, c.new.key) for c in changeset.changes if c.old and c.new] == [
        (c.key, c.key) for c in old_clauses
    ]
    assert any("rarest words" in note for note in changeset.notes)
