"""track.py end to end against a loopback server: outcomes, and the fault matrix of a pass.

Every fault must leave the last good version in place, add no version, and record a failure.
"""

from __future__ import annotations

import dataclasses
import gzip
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.config import Settings
from monitor.fetch import fetchers_for
from monitor.fetch.http import HttpFetcher
from monitor.model import Outcome, Source
from monitor.rules.policy import is_threat
from monitor.track import EXTRACTOR_VERSION, PROCESS_POOL_FROM, extractor_fingerprint, run_pass
from tests.conftest import terms_html


def make_source(url: str, sid: str = "example-terms", **extra: object) -> Source:
    return Source(id=sid, platform="Example", document_type="Terms of Service", url=url, **extra)  # type: ignore[arg-type]


def one_pass(settings: Settings, sources: list[Source]) -> dict[str, Outcome]:
    with (
        fetchers_for(settings.fetch) as fetchers,
        Archive(settings.archive_dir) as archive,
        archive.lock(),
    ):
        summary = run_pass(sources, archive, fetchers, settings)
    return {r.source_id: r.outcome for r in summary.results}


def catalog(settings: Settings, sql: str) -> list[tuple]:
    with sqlite3.connect(settings.archive_dir / "catalog.sqlite") as db:
        return db.execute(sql).fetchall()


def test_first_pass_then_unchanged_then_changed(httpserver: HTTPServer, settings: Settings) -> None:
    url = httpserver.url_for("/terms")
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    source = make_source(url)
    assert one_pass(settings, [source]) == {"example-terms": Outcome.NEW}
    assert one_pass(settings, [source]) == {"example-terms": Outcome.UNCHANGED}
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(
            extra="<p>7.1 We may use your content to train artificial intelligence models.</p>"
        ),
        content_type="text/html",
    )
    assert one_pass(settings, [source]) == {"example-terms": Outcome.CHANGED}
    with Archive(settings.archive_dir) as archive:
        versions = archive.versions("example-terms")
        assert [v.technical for v in versions] == [False, False]  # the first, then the change
        text = (settings.archive_dir / versions[1].path).read_text()
    assert "train artificial intelligence models" in text
    assert "Careers Press" not in text and "Accept all" not in text  # chrome is not terms
    assert catalog(settings, "SELECT outcome FROM checks ORDER BY id") == [
        ("new",),
        ("unchanged",),
        ("changed",),
    ]


def test_chrome_change_adds_a_snapshot_but_no_version(
    httpserver: HTTPServer, settings: Settings
) -> None:
    source = make_source(httpserver.url_for("/terms"))
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    one_pass(settings, [source])
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data(
        terms_html().replace("Careers Press", "Careers Press Investors"), content_type="text/html"
    )
    assert one_pass(settings, [source]) == {"example-terms": Outcome.UNCHANGED}
    assert catalog(settings, "SELECT count(*) FROM snapshots") == [(2,)]
    assert catalog(settings, "SELECT count(*) FROM versions") == [(1,)]


def test_not_modified_is_recorded(httpserver: HTTPServer, settings: Settings) -> None:
    from werkzeug import Request, Response

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"abc"':
            return Response(status=304)
        return Response(terms_html(), content_type="text/html", headers={"ETag": '"abc"'})

    httpserver.expect_request("/terms").respond_with_handler(handler)
    source = make_source(httpserver.url_for("/terms"))
    one_pass(settings, [source])
    assert one_pass(settings, [source]) == {"example-terms": Outcome.NOT_MODIFIED}


def _cut(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9000\r\n\r\n<html>part"
    )


def _reset(conn: socket.socket) -> None:
    from tests.conftest import reset

    reset(conn)


CLOUDFLARE_200 = (
    "<html><head><title>Just a moment...</title></head><body>"
    "<script src='/cdn-cgi/challenge-platform/x.js'></script>Checking your browser</body></html>"
)

# name -> (how to serve, expected failure reason)
FAULTS: dict[str, tuple[Callable[[HTTPServer], None] | Callable[[socket.socket], None], str]] = {
    "500": (
        lambda s: s.expect_request("/terms").respond_with_data("err", status=500),
        "http_error",
    ),
    "503": (
        lambda s: s.expect_request("/terms").respond_with_data("busy", status=503),
        "http_error",
    ),
    "429 retry-after": (
        lambda s: s.expect_request("/terms").respond_with_data(
            "slow", status=429, headers={"Retry-After": "0"}
        ),
        "http_error",
    ),
    "404": (
        lambda s: s.expect_request("/terms").respond_with_data("gone", status=404),
        "http_error",
    ),
    "timeout": (
        lambda s: s.expect_request("/terms").respond_with_handler(
            lambda r: __import__("time").sleep(0.5) or "late"
        ),
        "timeout",
    ),
    "oversized": (
        lambda s: s.expect_request("/terms").respond_with_data(
            "<p>" + "z" * 2_000_000, content_type="text/html"
        ),
        "too_large",
    ),
    "compression bomb": (
        lambda s: s.expect_request("/terms").respond_with_data(
            gzip.compress(b" " * 30_000_000),
            content_type="text/html",
            headers={"Content-Encoding": "gzip"},
        ),
        "too_large",
    ),
    "wrong content type": (
        lambda s: s.expect_request("/terms").respond_with_data(
            b"\x89PNG....", content_type="image/png"
        ),
        "content_type",
    ),
    "wrong charset": (
        lambda s: s.expect_request("/terms").respond_with_data(
            terms_html(extra="<p>" + "é" * 3000 + "</p>")
            .replace("<meta charset='utf-8'>", "")
            .encode("latin-1"),
            content_type="text/html; charset=utf-8",
        ),
        "decode",
    ),
    "redirect loop": (
        lambda s: s.expect_request("/terms").respond_with_data(
            "", status=302, headers={"Location": "/terms"}
        ),
        "redirect",
    ),
    "bot wall with 200": (
        lambda s: s.expect_request("/terms").respond_with_data(
            CLOUDFLARE_200, content_type="text/html"
        ),
        "blocked",
    ),
    "empty selection": (
        lambda s: s.expect_request("/terms").respond_with_data(
            terms_html().replace("<main>", "<div class='content'>").replace("</main>", "</div>"),
            content_type="text/html",
        ),
        "not_terms",
    ),
    "suspiciously short": (
        lambda s: s.expect_request("/terms").respond_with_data(
            "<html><body><main><p>Coming soon.</p></main></body></html>", content_type="text/html"
        ),
        "not_terms",
    ),
    "connection reset": (_reset, "connection"),
    "truncated body": (_cut, "truncated"),
}
RAW_FAULTS = {_reset, _cut}  # served by a raw socket server; the others by pytest-httpserver


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_keeps_the_last_good_version_and_records_a_failure(
    fault: str, httpserver: HTTPServer, settings: Settings, raw_server
) -> None:  # type: ignore[no-untyped-def]
    settings = dataclasses.replace(
        settings, fetch=dataclasses.replace(settings.fetch, read_timeout=0.2)
    )
    serve, reason = FAULTS[fault]
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    source = make_source(httpserver.url_for("/terms"), select=("main",))
    assert one_pass(settings, [source]) == {"example-terms": Outcome.NEW}
    good = catalog(settings, "SELECT id, path, sha256 FROM versions")
    httpserver.clear()
    if serve in RAW_FAULTS:
        server = raw_server(serve)
        source = dataclasses.replace(source, url=server.url())
    else:
        serve(httpserver)  # type: ignore[arg-type]
    assert one_pass(settings, [source]) == {"example-terms": Outcome.FAILED}
    assert catalog(settings, "SELECT id, path, sha256 FROM versions") == good
    assert catalog(settings, "SELECT outcome, reason FROM checks ORDER BY id DESC LIMIT 1") == [
        ("failed", reason)
    ]
    with Archive(settings.archive_dir) as archive:
        assert archive.verify().ok


def test_one_failing_source_does_not_stop_the_others(
    httpserver: HTTPServer, settings: Settings
) -> None:
    httpserver.expect_request("/good").respond_with_data(terms_html(), content_type="text/html")
    httpserver.expect_request("/bad").respond_with_data("err", status=500)
    sources = [
        make_source(httpserver.url_for("/good"), "good-terms"),
        make_source(httpserver.url_for("/bad"), "bad-terms"),
    ]
    assert one_pass(settings, sources) == {"good-terms": Outcome.NEW, "bad-terms": Outcome.FAILED}


def test_a_big_pass_extracts_in_a_worker_process_as_a_small_one_does_in_process(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    """Above PROCESS_POOL_FROM sources, pages are extracted and rendered in a worker process
    (first versions come back rendered only, changed ones with their Document for the diff):
    the archive must hold what the in-process path stores for the same pages."""
    count = PROCESS_POOL_FROM
    for n in range(count):
        httpserver.expect_request(f"/t{n}").respond_with_data(
            terms_html(f"Terms {n}"), content_type="text/html"
        )
    sources = [make_source(httpserver.url_for(f"/t{n}"), f"doc-{n}") for n in range(count)]
    small = dataclasses.replace(settings, archive_dir=tmp_path / "small-archive")
    outcomes = one_pass(settings, sources)
    assert set(outcomes.values()) == {Outcome.NEW} and len(outcomes) == count
    for source in sources[:2]:  # two passes of one source each: no worker process
        assert one_pass(small, [source]) == {source.id: Outcome.NEW}
    for n in (0, 1):
        httpserver.clear()
        for k in range(count):
            changed = k <= n  # doc-0 keeps its change while doc-1 gets it
            extra = "<p>7.1 We may use your content to train AI models.</p>" if changed else ""
            httpserver.expect_request(f"/t{k}").respond_with_data(
                terms_html(f"Terms {k}", extra=extra), content_type="text/html"
            )
        assert one_pass(settings, sources)[f"doc-{n}"] is Outcome.CHANGED
        assert one_pass(small, [sources[n]]) == {f"doc-{n}": Outcome.CHANGED}
    for archive_dir in (settings.archive_dir, small.archive_dir):
        with Archive(archive_dir) as archive:
            for n in (0, 1):
                versions = archive.versions(f"doc-{n}")
                assert len(versions) == 2, (archive_dir, versions)
                changes = archive.changes(f"doc-{n}")
                assert [c.cosmetic for c in changes] == [False], (archive_dir, changes)
    for n in (0, 1):
        big = catalog(
            settings,
            f"SELECT path, sha256, clauses FROM versions WHERE source_id = 'doc-{n}' ORDER BY id",
        )
        with sqlite3.connect(small.archive_dir / "catalog.sqlite") as db:
            alone = db.execute(
                f"SELECT path, sha256, clauses FROM versions WHERE source_id = 'doc-{n}' ORDER BY id"
            ).fetchall()
        assert [(sha, clauses) for _, sha, clauses in big] == [(sha, c) for _, sha, c in alone]
        for (path, _, _), (other, _, _) in zip(big, alone, strict=True):
            assert (settings.archive_dir / path).read_bytes() == (
                small.archive_dir / other
            ).read_bytes()


def test_many_hosts_are_fetched_concurrently(settings: Settings) -> None:
    servers = [HTTPServer(host="127.0.0.1", port=0) for _ in range(3)]
    try:
        sources = []
        for n, server in enumerate(servers):
            server.start()
            for k in range(2):
                server.expect_request(f"/t{k}").respond_with_data(
                    terms_html(f"Terms {n}-{k}"), content_type="text/html"
                )
                sources.append(make_source(server.url_for(f"/t{k}"), f"host{n}-doc{k}"))
        outcomes = one_pass(settings, sources)
        assert outcomes == {s.id: Outcome.NEW for s in sources}
    finally:
        for server in servers:
            server.stop()


def test_changed_selectors_re_extract_the_last_snapshot_as_a_technical_upgrade(
    httpserver: HTTPServer, settings: Settings
) -> None:
    page = terms_html(
        extra="<aside class='note'><p>A side note that is not part of the terms at all.</p></aside>"
    )
    httpserver.expect_request("/terms").respond_with_data(page, content_type="text/html")
    source = make_source(httpserver.url_for("/terms"), select=("main",))
    one_pass(settings, [source])
    narrower = dataclasses.replace(source, remove=(".note",))
    assert extractor_fingerprint(narrower) != extractor_fingerprint(source) and EXTRACTOR_VERSION
    assert one_pass(settings, [narrower]) == {"example-terms": Outcome.UNCHANGED}
    rows = catalog(settings, "SELECT technical, path FROM versions ORDER BY id")
    assert [r[0] for r in rows] == [0, 1]
    assert "side note" not in (settings.archive_dir / rows[1][1]).read_text()
    assert catalog(settings, "SELECT count(*) FROM snapshots") == [(1,)]
    assert catalog(settings, "SELECT technical, cosmetic FROM changes") == [(1, 0)]


def test_terms_that_flip_back_within_one_second_are_stored(
    httpserver: HTTPServer, settings: Settings
) -> None:
    """A/B-served pages can flip back and forth between passes run close together; the
    snapshot and version file names (stamped to the second) must not collide."""
    from datetime import UTC, datetime

    frozen = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    source = make_source(httpserver.url_for("/terms"))
    texts = ["", "<p>7.1 We may use your content to train AI models.</p>", ""]
    outcomes = []
    for extra in texts:
        httpserver.clear()
        httpserver.expect_request("/terms").respond_with_data(
            terms_html(extra=extra), content_type="text/html"
        )
        fetcher = HttpFetcher(settings.fetch, clock=lambda: frozen)
        with (
            fetchers_for(settings.fetch, fetcher) as fetchers,
            Archive(settings.archive_dir) as archive,
            archive.lock(),
        ):
            summary = run_pass(
                [source],
                archive,
                fetchers,
                settings,
                clock=lambda: frozen,
            )
        outcomes += [(r.outcome, r.detail) for r in summary.results]
    assert [o for o, _ in outcomes] == [Outcome.NEW, Outcome.CHANGED, Outcome.CHANGED], outcomes
    paths = catalog(settings, "SELECT path FROM versions ORDER BY id")
    assert len({p for (p,) in paths}) == 3, paths  # three files, though two have the same text
    first, _, third = ((settings.archive_dir / p).read_bytes() for (p,) in paths)
    assert first == third
    with Archive(settings.archive_dir) as archive:
        assert archive.verify().ok


def test_archive_is_laid_out_as_documented(httpserver: HTTPServer, settings: Settings) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    one_pass(settings, [make_source(httpserver.url_for("/terms"))])
    root: Path = settings.archive_dir
    snapshots = list((root / "example-terms" / "snapshots").iterdir())
    versions = list((root / "example-terms" / "versions").iterdir())
    assert len(snapshots) == 1 and snapshots[0].name.endswith(".html.gz")
    assert gzip.decompress(snapshots[0].read_bytes()) == terms_html().encode()
    assert len(versions) == 1 and versions[0].suffix == ".md"
    assert (
        versions[0]
        .read_text()
        .startswith('---\ntitle: "Example Terms"\neffective_date: "March 3, 2025"\n---')
    )


def test_a_pass_reads_list_items_in_the_light_of_their_lead_in(
    httpserver: HTTPServer, settings: Settings
) -> None:
    """A new list item that bans training, under a "You agree not to:" lead-in, is a ban on
    others, not the platform's right: track passes both documents to the flags (issue 17)."""
    rules = "<h2>9. Conduct</h2><p>You agree not to:</p><ul><li>resell access to the service;</li>{}</ul>"
    url = httpserver.url_for("/terms")
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(extra=rules.format("")), content_type="text/html"
    )
    source = make_source(url)
    assert one_pass(settings, [source]) == {"example-terms": Outcome.NEW}
    httpserver.clear()
    item = "<li>use the service or its content to train machine learning or AI models;</li>"
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(extra=rules.format(item)), content_type="text/html"
    )
    assert one_pass(settings, [source]) == {"example-terms": Outcome.CHANGED}
    with Archive(settings.archive_dir) as archive:
        change = archive.changes("example-terms")[-1]
        flags = archive.read_flags(change)
    assert flags, "the new ban raised no flag at all"
    categories = {f.category.value for f in flags}
    assert "ai_training" not in categories, f"the ban was read as the platform's right: {flags}"
    assert not any(is_threat(f) for f in flags), flags
