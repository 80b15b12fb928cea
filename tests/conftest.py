"""Shared test parts: real servers on 127.0.0.1, fast settings, and the fixture corpus.

The tests never read ../shared: CORPUS is tests/fixtures/corpus, a few Open Terms Archive
versions copied from it (see tests/fixtures/README.md); corpus-wide checks are in bench/.
Nothing here reaches beyond loopback. pytest-httpserver gives an HTTP server per session;
RawServer is a bounded TCP server for faults HTTP servers will not produce (resets, cut bodies).
"""

from __future__ import annotations

import dataclasses
import io
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.cli.main import Environment, main
from monitor.config import FetchSettings, Settings
from monitor.fetch import fetchers_for
from monitor.model import Source
from monitor.track import run_pass

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = FIXTURES / "corpus"


def fast_fetch_settings(**changes: object) -> FetchSettings:
    """Politeness turned down for loopback: no host delay, tiny backoff, short timeouts."""
    base = FetchSettings(
        connect_timeout=2.0,
        read_timeout=1.0,
        retries=2,
        backoff_base=0.01,
        backoff_max=0.05,
        host_delay=0.0,
        respect_robots=False,
        max_bytes=1024 * 1024,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        archive_dir=tmp_path / "archive",
        sources_file=tmp_path / "sources.yaml",
        workers=4,
        lock_timeout=2.0,
        fetch=fast_fetch_settings(),
    )


def terms_html(title: str = "Example Terms", extra: str = "", clauses: int = 6) -> str:
    """A small but realistic terms page: chrome around numbered clauses."""
    body = "".join(
        f"<h2>{n}. Section {n}</h2><p>{n}.1 You keep ownership of the content you upload in "
        f"section {n}. We may use it to operate the service as described here.</p>"
        f"<p>{n}.2 These rules apply to every account holder in section {n} without exception.</p>"
        for n in range(1, clauses + 1)
    )
    return (
        f"<!doctype html><html><head><title>{title}</title><meta charset='utf-8'></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/blog'>Blog</a></nav></header>"
        "<div class='cookie-banner'>We use cookies. Accept all?</div>"
        f"<main><h1>{title}</h1><p>Last updated: March 3, 2025</p>{body}{extra}</main>"
        "<footer>© Example Inc. All rights reserved. Careers Press</footer></body></html>"
    )


class RawServer:
    """A TCP server on 127.0.0.1 that answers each connection with a scripted behaviour.

    `behaviour(conn)` gets the accepted socket after the request has been read. The server
    serves at most `limit` connections, so no test can loop forever.
    """

    def __init__(self, behaviour: Callable[[socket.socket], None], limit: int = 20) -> None:
        self.behaviour = behaviour
        self.limit = limit
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/terms") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set() and self.connections < self.limit:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(2)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.behaviour(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=2)


def reset(conn: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(behaviour: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def write_sources(path: Path, entries: list[dict[str, object]]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"sources": entries}, sort_keys=False), encoding="utf-8")
    return path


HOSTILE = "&lt;script&gt;alert('x')&lt;/script&gt;\r\nInjected: &lt;img src=x onerror=alert(1)&gt;"
TRAINING = (
    f"<p>5.3 We may use your content to train our artificial intelligence models. {HOSTILE}</p>"
)
PROMISE = (
    "<p>5.4 We will never sell your songs to AI companies or let them train models on them.</p>"
)


def run_cli(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`clausewatch ARGV` in `tmp_path` (no per-host delay unless `env` says otherwise):
    (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(
        stdout=out, stderr=err, env={"CLAUSEWATCH_HOST_DELAY": "0", **(env or {})}, cwd=tmp_path
    )
    code = main(list(argv), environment)
    return code, out.getvalue(), err.getvalue()


def track_versions(
    httpserver: HTTPServer,
    settings: Settings,
    tmp_path: Path,
    *extras: str,
    source_id: str = "example-terms",
    platform: str = "Example",
    confirm: bool = False,
) -> Source:
    """One source tracked once with a plain terms page, then once per `extra` added to it;
    `confirm`: once more with the last page, a check that confirms a change held for one
    (removals and good news wait for it, monitor.trust)."""
    source = Source(
        id=source_id,
        platform=platform,
        document_type="Terms of Service",
        url=httpserver.url_for("/terms"),
        audiences=("musicians",),
    )
    write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "id": source.id,
                "platform": source.platform,
                "document_type": source.document_type,
                "url": source.url,
                "audiences": ["musicians"],
                "ignore_robots": True,
            }
        ],
    )
    for extra in ("", *extras, *(extras[-1:] if confirm else ())):
        httpserver.clear()
        httpserver.expect_request("/terms").respond_with_data(
            terms_html(extra=extra).encode("utf-8"), content_type="text/html; charset=utf-8"
        )
        pass_once(settings, source)
    return source


def pass_once(settings: Settings, source: Source) -> None:
    """One tracking pass over `source`, as `clausewatch track` runs it."""
    with (
        fetchers_for(settings.fetch) as fetchers,
        Archive(settings.archive_dir) as archive,
        archive.lock(),
    ):
        run_pass([source], archive, fetchers, settings)


@pytest.fixture
def archive_with_alerts(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> Settings:
    """Three versions of one source: the first, then AI training added, then a promise added."""
    track_versions(httpserver, settings, tmp_path, TRAINING, TRAINING + PROMISE, confirm=True)
    return settings
