"""fetch.py against real servers on 127.0.0.1: politeness, conditional GET and every fault."""

from __future__ import annotations

import gzip
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.fetch.bot_walls import BOT_MARKERS, detect_block, has_long_text, visible_text
from monitor.fetch.http import Fetcher, choose_encoding, retry_after_seconds
from monitor.model import Conditional, FailureReason, FetchFailure, NotModified, Snapshot, Source
from tests.conftest import fast_fetch_settings, reset, terms_html


def source_for(url: str, **extra: object) -> Source:
    return Source(id="example-terms", platform="Example", document_type="Terms", url=url, **extra)  # type: ignore[arg-type]


class Sleeps:
    """Records what the fetcher wanted to wait, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_snapshot_carries_bytes_validators_and_identity(httpserver: HTTPServer) -> None:
    page = terms_html()
    httpserver.expect_request("/terms").respond_with_data(
        page,
        content_type="text/html; charset=utf-8",
        headers={"ETag": '"v1"', "Last-Modified": "Mon, 03 Mar 2025 10:00:00 GMT"},
    )
    fetcher = Fetcher(
        fast_fetch_settings(user_agent="Clausewatch-test/1 (+https://example.org/contact)")
    )
    result = fetcher.fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, Snapshot)
    assert result.content == page.encode()
    assert result.content_type == "text/html" and result.encoding == "utf-8"
    assert result.etag == '"v1"' and result.last_modified.startswith("Mon, 03 Mar 2025")
    request, _ = httpserver.log[-1]
    assert request.headers["User-Agent"] == "Clausewatch-test/1 (+https://example.org/contact)"
    assert len(result.sha256) == 64


def test_conditional_get_gives_not_modified(httpserver: HTTPServer) -> None:
    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(terms_html(), content_type="text/html", headers={"ETag": '"v1"'})

    httpserver.expect_request("/terms").respond_with_handler(handler)
    fetcher = Fetcher(fast_fetch_settings())
    url = httpserver.url_for("/terms")
    assert isinstance(fetcher.fetch(source_for(url)), Snapshot)
    result = fetcher.fetch(source_for(url), Conditional(etag='"v1"'))
    assert isinstance(result, NotModified)
    assert httpserver.log[-1][0].headers["If-None-Match"] == '"v1"'


def test_if_modified_since_is_sent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms").respond_with_data("", status=304)
    result = Fetcher(fast_fetch_settings()).fetch(
        source_for(httpserver.url_for("/terms")),
        Conditional(last_modified="Mon, 03 Mar 2025 10:00:00 GMT"),
    )
    assert isinstance(result, NotModified)
    assert httpserver.log[-1][0].headers["If-Modified-Since"] == "Mon, 03 Mar 2025 10:00:00 GMT"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff_then_fail(
    httpserver: HTTPServer, status: int
) -> None:
    httpserver.expect_request("/terms").respond_with_data("oops", status=status)
    sleeps = Sleeps()
    fetcher = Fetcher(
        fast_fetch_settings(retries=3, backoff_base=1.0, backoff_max=10.0), sleep=sleeps
    )
    result = fetcher.fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, FetchFailure)
    assert result.reason is FailureReason.HTTP_ERROR and result.status == status
    assert [request.path for request, _ in httpserver.log] == ["/terms"] * 4  # 1 + 3 retries
    # exponential: 1, 2, 4 seconds, each with up to 50% jitter below
    assert [
        0.5 <= sleeps.calls[0] <= 1.0,
        1.0 <= sleeps.calls[1] <= 2.0,
        2.0 <= sleeps.calls[2] <= 4.0,
    ] == [True] * 3


def test_server_error_then_success_recovers(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/terms").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/terms").respond_with_data(
        terms_html(), content_type="text/html"
    )
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, Snapshot)


def test_429_honours_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/terms").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/terms").respond_with_data(
        terms_html(), content_type="text/html"
    )
    sleeps = Sleeps()
    result = Fetcher(fast_fetch_settings(), sleep=sleeps).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, Snapshot)
    assert sleeps.calls == [7.0]


def test_429_with_a_retry_after_too_long_fails_without_waiting(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms").respond_with_data(
        "later", status=429, headers={"Retry-After": "86400"}
    )
    sleeps = Sleeps()
    result = Fetcher(fast_fetch_settings(max_retry_after=60), sleep=sleeps).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.HTTP_ERROR
    assert "Retry-After" in result.detail and sleeps.calls == []


def test_retry_after_as_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 3, 3, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 03 Mar 2025 10:00:30 GMT", now) == 30
    assert retry_after_seconds("garbage", now) is None


def test_timeout_is_a_failure(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(terms_html(), content_type="text/html")

    httpserver.expect_request("/terms").respond_with_handler(slow)
    result = Fetcher(fast_fetch_settings(read_timeout=0.2, retries=1)).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.TIMEOUT


def test_connection_reset_is_a_failure(raw_server) -> None:  # type: ignore[no-untyped-def]
    server = raw_server(reset)
    result = Fetcher(fast_fetch_settings(retries=1)).fetch(source_for(server.url()))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.CONNECTION
    assert server.connections == 2  # first try and one retry


def test_connection_refused_is_a_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        result = Fetcher(fast_fetch_settings(retries=0)).fetch(
            source_for(f"http://127.0.0.1:{port}/terms")
        )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.CONNECTION


def test_truncated_body_is_a_failure(raw_server) -> None:  # type: ignore[no-untyped-def]
    def cut(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html><body>only part"
        )

    server = raw_server(cut)
    result = Fetcher(fast_fetch_settings(retries=1)).fetch(source_for(server.url()))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.TRUNCATED


def test_oversized_body_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms").respond_with_data("x" * 300_000, content_type="text/html")
    result = Fetcher(fast_fetch_settings(max_bytes=100_000)).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.TOO_LARGE


def test_oversized_streamed_body_without_length_is_cut_off(raw_server) -> None:  # type: ignore[no-untyped-def]
    def endless(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"<p>" + b"y" * 8000 + b"</p>"
        for _ in range(100):  # bounded: 800 KB at most
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    server = raw_server(endless)
    result = Fetcher(fast_fetch_settings(max_bytes=100_000)).fetch(source_for(server.url()))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.TOO_LARGE


def test_compression_bomb_stops_early(httpserver: HTTPServer) -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100_000
    httpserver.expect_request("/terms").respond_with_data(
        bomb, content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    started = time.monotonic()
    result = Fetcher(fast_fetch_settings(max_bytes=1024 * 1024)).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.TOO_LARGE
    assert "after decompression" in result.detail
    assert time.monotonic() - started < 5


def test_gzip_pages_are_decompressed(httpserver: HTTPServer) -> None:
    page = terms_html()
    httpserver.expect_request("/terms").respond_with_data(
        gzip.compress(page.encode()), content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, Snapshot) and result.content == page.encode()


def test_wrong_content_type_is_a_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms").respond_with_json({"terms": "not a page"})
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.CONTENT_TYPE
    assert "application/json" in result.detail


def test_bytes_invalid_in_declared_charset_are_a_failure(httpserver: HTTPServer) -> None:
    body = terms_html(extra="<p>" + "Café résumé naïve " * 200 + "</p>").replace(
        "<meta charset='utf-8'>", ""
    )
    httpserver.expect_request("/terms").respond_with_data(
        body.encode("latin-1"), content_type="text/html; charset=utf-8"
    )
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.DECODE
    assert "utf-8" in result.detail


def test_unknown_charset_is_a_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(), content_type="text/html; charset=klingon-8"
    )
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.DECODE
    assert "klingon-8" in result.detail


def test_charset_from_meta_when_header_has_none(httpserver: HTTPServer) -> None:
    body = terms_html(extra="<p>Café</p>").replace(
        "<meta charset='utf-8'>", "<meta charset='windows-1252'>"
    )
    httpserver.expect_request("/terms").respond_with_data(
        body.encode("cp1252"), content_type="text/html"
    )
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, Snapshot) and result.encoding == "cp1252" and "Café" in result.text


def test_latin1_declaration_decodes_as_windows_1252() -> None:
    assert choose_encoding("“quoted”".encode("cp1252"), "iso-8859-1", "text/html") == (
        "cp1252",
        "",
        "“quoted”",
    )


def test_redirects_are_followed_and_loops_fail(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": "/terms"}
    )
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    fetcher = Fetcher(fast_fetch_settings())
    moved = fetcher.fetch(source_for(httpserver.url_for("/old")))
    assert isinstance(moved, Snapshot) and moved.url.endswith("/terms")
    loop = fetcher.fetch(source_for(httpserver.url_for("/a")))
    assert isinstance(loop, FetchFailure) and loop.reason is FailureReason.REDIRECT


CLOUDFLARE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    "<div id='challenge-form'><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script>"
    "Checking your browser before accessing example.com.</div></body></html>"
)
LOGIN = (
    "<html><head><title>Log in | Example</title></head><body><form><input name='user'>"
    "<input type='password' name='pw'><button>Sign in</button></form></body></html>"
)


@pytest.mark.parametrize(
    ("status", "page", "headers"),
    [
        (200, CLOUDFLARE, {}),
        (403, CLOUDFLARE, {}),
        (503, CLOUDFLARE, {}),
        (
            200,
            "<html><body><div class='g-recaptcha'></div>Please verify you are a human</body></html>",
            {},
        ),
        (200, LOGIN, {}),
        (403, "<html><body>x</body></html>", {"cf-mitigated": "challenge"}),
    ],
)
def test_bot_walls_and_login_pages_are_blocked(
    httpserver: HTTPServer, status: int, page: str, headers: dict[str, str]
) -> None:
    httpserver.expect_request("/terms").respond_with_data(
        page, status=status, content_type="text/html", headers=headers
    )
    sleeps = Sleeps()
    result = Fetcher(fast_fetch_settings(), sleep=sleeps).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.BLOCKED
    assert sleeps.calls == []  # a bot wall is not retried


def test_long_terms_page_mentioning_captcha_is_not_a_bot_wall() -> None:
    from requests.structures import CaseInsensitiveDict

    page = terms_html(
        extra="<p>You may not bypass any CAPTCHA or g-recaptcha check.</p>", clauses=40
    )
    assert detect_block(200, CaseInsensitiveDict(), page) is None


# Pieces of pages: text with all kinds of spacing, tags with attributes, scripts and styles
# (closed, unclosed, in other case), comments, a stray ">" and a tag that never ends.
PAGE_PIECES = [
    "Terms ",
    "of\n\tuse",
    " \u00a0 ",
    "a > b",
    "<p>",
    "</p>",
    '<div class="x" data-n=1>',
    "<br/>",
    "<script>var t = '<p>not text</p>';</script>",
    "<SCRIPT type=x>hidden</Script >",
    "<style>p { color: red }</style>",
    "<noscript>enable js</noscript>",
    "<script>never closed",
    "<!-- a comment -->",
    "<scripts>shown</scripts>",
    "<p",
]


@given(st.lists(st.sampled_from(PAGE_PIECES), max_size=40).map("".join), st.integers(0, 60))
def test_has_long_text_counts_what_visible_text_shows(page: str, chars: int) -> None:
    shown = visible_text(page)
    if has_long_text(page, chars):
        assert len(shown) >= chars
    if len(shown.replace(" ", "")) >= chars:
        assert has_long_text(page, chars)


def test_long_page_is_not_scanned_for_markers_unless_the_status_is_a_challenge() -> None:
    from requests.structures import CaseInsensitiveDict

    page = terms_html(extra="<p>Please verify you are human.</p>", clauses=40)
    assert has_long_text(page)
    assert detect_block(200, CaseInsensitiveDict(), page) is None
    found = detect_block(403, CaseInsensitiveDict(), page)
    assert found is not None and "verify you are human" in found


def test_robots_txt_is_honoured_unless_overridden(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /private/\n"
    )
    httpserver.expect_request("/private/terms").respond_with_data(
        terms_html(), content_type="text/html"
    )
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    fetcher = Fetcher(fast_fetch_settings(respect_robots=True))
    refused = fetcher.fetch(source_for(httpserver.url_for("/private/terms")))
    assert isinstance(refused, FetchFailure) and refused.reason is FailureReason.ROBOTS
    assert isinstance(fetcher.fetch(source_for(httpserver.url_for("/terms"))), Snapshot)
    allowed = fetcher.fetch(source_for(httpserver.url_for("/private/terms"), ignore_robots=True))
    assert isinstance(allowed, Snapshot)
    assert sum(1 for r, _ in httpserver.log if r.path == "/robots.txt") == 1  # cached


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/a/private", False),  # "*" matches any characters (RFC 9309 2.2.3)
        ("/a/b/private/terms", False),
        ("/a/public", True),
        ("/terms.pdf", False),  # "$" anchors the end
        ("/terms.pdf.html", True),
        ("/a/private-but-allowed", True),  # the longest match wins: Allow is longer
    ],
)
def test_robots_txt_wildcards_are_read_as_rfc_9309_says(
    path: str, allowed: bool, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /*/private\nDisallow: /*.pdf$\nAllow: /*/private-but-allowed\n"
    )
    httpserver.expect_request(path).respond_with_data(terms_html(), content_type="text/html")
    result = Fetcher(fast_fetch_settings(respect_robots=True)).fetch(
        source_for(httpserver.url_for(path))
    )
    if allowed:
        assert isinstance(result, Snapshot), result
    else:
        assert isinstance(result, FetchFailure) and result.reason is FailureReason.ROBOTS, result


def test_robots_txt_group_for_our_product_token_applies(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nAllow: /\n\nUser-agent: Clausewatch\nDisallow: /terms\n"
    )
    result = Fetcher(fast_fetch_settings(respect_robots=True)).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.ROBOTS, result


def test_missing_robots_txt_allows_everything(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("not found", status=404)
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    result = Fetcher(fast_fetch_settings(respect_robots=True)).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, Snapshot)


def test_robots_txt_server_error_forbids_fetching(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("down", status=503)
    result = Fetcher(fast_fetch_settings(respect_robots=True)).fetch(
        source_for(httpserver.url_for("/terms"))
    )
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.ROBOTS


def test_requests_to_one_host_keep_the_minimum_delay(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    clock = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    fetcher = Fetcher(fast_fetch_settings(host_delay=5.0), sleep=sleep, monotonic=lambda: clock[0])
    for _ in range(3):
        assert isinstance(fetcher.fetch(source_for(httpserver.url_for("/terms"))), Snapshot)
    assert sleeps == [5.0, 5.0]


def test_netrc_credentials_are_never_sent(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(
        "machine 127.0.0.1 login someone password secret\nmachine localhost login someone password secret\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms")))
    assert isinstance(result, Snapshot)
    assert [r.headers.get("Authorization") for r, _ in httpserver.log] == [None]


def test_proxy_variables_are_honoured(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/"))
    monkeypatch.setenv("http_proxy", httpserver.url_for("/"))
    netrc = tmp_path / ".netrc"  # with proxies, requests reads the environment: not this
    netrc.write_text("machine terms.example.invalid login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    # the host does not exist: only the proxy (our server) can answer
    result = Fetcher(fast_fetch_settings()).fetch(source_for("http://terms.example.invalid/terms"))
    assert isinstance(result, Snapshot)
    assert [r.host for r, _ in httpserver.log] == ["terms.example.invalid"]
    assert [r.headers.get("Authorization") for r, _ in httpserver.log] == [None]


def test_pdf_is_accepted_without_charset(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/terms.pdf").respond_with_data(
        b"%PDF-1.4 minimal", content_type="application/pdf"
    )
    result = Fetcher(fast_fetch_settings()).fetch(source_for(httpserver.url_for("/terms.pdf")))
    assert (
        isinstance(result, Snapshot)
        and result.content_type == "application/pdf"
        and result.encoding is None
    )


@pytest.mark.parametrize("marker", BOT_MARKERS)
def test_every_bot_marker_is_searched_for(marker: str) -> None:
    from requests.structures import CaseInsensitiveDict

    # markers are searched by group (a word they share); none may fall out of every group
    page = f"<html><head><title>Hold on</title></head><body><p>{marker.upper()}</p></body></html>"
    found = detect_block(403, CaseInsensitiveDict(), page)
    assert found is not None and repr(marker) in found
