"""fetch.py replayed from vcrpy cassettes that were recorded against a loopback server.

Replay needs no server at all (the URL points at a closed port). To re-record, run
`CLAUSEWATCH_RECORD=1 pytest tests/test_cassettes.py`: a pytest-httpserver on 127.0.0.1
answers, and vcrpy writes what it said into tests/fixtures/cassettes/.
"""

from __future__ import annotations

import os

import pytest
import vcr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.fetch.http import HttpFetcher
from monitor.model import Conditional, FailureReason, FetchFailure, NotModified, Snapshot, Source
from tests.conftest import FIXTURES, fast_fetch_settings, terms_html

RECORD = os.environ.get("CLAUSEWATCH_RECORD") == "1"
CASSETTES = FIXTURES / "cassettes"
REPLAY_BASE = "http://127.0.0.1:9"  # the discard port: nothing answers there
RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "query"],
    decode_compressed_response=False,
)


@pytest.fixture
def base(httpserver: HTTPServer) -> str:
    if not RECORD:
        return REPLAY_BASE

    def terms(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"rev-7"':
            return Response(status=304, headers={"ETag": '"rev-7"'})
        return Response(
            terms_html("Recorded Terms"),
            content_type="text/html; charset=utf-8",
            headers={"ETag": '"rev-7"'},
        )

    httpserver.expect_request("/terms").respond_with_handler(terms)
    httpserver.expect_request("/wall").respond_with_data(
        "<html><head><title>Just a moment...</title></head><body>cf_chl_opt</body></html>",
        status=403,
        content_type="text/html",
    )
    return httpserver.url_for("").rstrip("/")


def source(url: str) -> Source:
    return Source(id="recorded-terms", platform="Recorded", document_type="Terms", url=url)


def test_snapshot_then_not_modified_from_cassette(base: str) -> None:
    with RECORDER.use_cassette("terms_then_304.yaml"):
        fetcher = HttpFetcher(fast_fetch_settings())
        first = fetcher.fetch(source(f"{base}/terms"))
        assert (
            isinstance(first, Snapshot)
            and b"Recorded Terms" in first.content
            and first.etag == '"rev-7"'
        )
        second = fetcher.fetch(source(f"{base}/terms"), Conditional(etag=first.etag))
        assert isinstance(second, NotModified)


def test_bot_wall_from_cassette(base: str) -> None:
    with RECORDER.use_cassette("bot_wall.yaml"):
        result = HttpFetcher(fast_fetch_settings()).fetch(source(f"{base}/wall"))
        assert isinstance(result, FetchFailure) and result.reason is FailureReason.BLOCKED
