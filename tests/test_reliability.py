"""The reliability suite: a full disk, a read-only archive, two passes at once, and fuzzing of
every pure stage. Every loop here is bounded."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.config import Settings
from monitor.diff import diff
from monitor.errors import ClausewatchError, ConfigError
from monitor.extract.document import DocumentBuilder
from monitor.extract.html import html_document
from monitor.extract.markdown import parse
from monitor.extract.text import text_document
from monitor.fetch import fetchers_for
from monitor.flag import assess, flag_changes
from monitor.model import Outcome, Source
from monitor.rules.files import load_rules
from monitor.sources import parse_sources
from monitor.track import run_pass
from tests.conftest import ROOT, terms_html, write_sources

RULES = load_rules()


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (needs root, as CI runs)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def source(url: str, sid: str = "example-terms") -> Source:
    return Source(id=sid, platform="Example", document_type="Terms", url=url)


def one_pass(settings: Settings, sources: list[Source]) -> dict[str, tuple[Outcome, str]]:
    with (
        fetchers_for(settings.fetch) as fetchers,
        Archive(settings.archive_dir, lock_timeout=settings.lock_timeout) as archive,
        archive.lock(),
    ):
        summary = run_pass(sources, archive, fetchers, settings, rules=RULES)
    return {r.source_id: (r.outcome, r.detail) for r in summary.results}


def test_a_full_disk_fails_each_source_clearly_and_loses_nothing(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    with small_filesystem(tmp_path / "disk", "400k") as disk:
        settings = Settings(
            archive_dir=disk / "archive",
            sources_file=settings.sources_file,
            fetch=settings.fetch,
            lock_timeout=2,
        )
        httpserver.expect_request("/terms").respond_with_data(
            terms_html(), content_type="text/html"
        )
        assert (
            one_pass(settings, [source(httpserver.url_for("/terms"))])["example-terms"][0]
            is Outcome.NEW
        )
        ballast = disk / "ballast"
        with contextlib.suppress(OSError), open(ballast, "wb") as handle:  # fill the disk up
            for _ in range(400):  # bounded: 400 x 1 KiB
                handle.write(b"\0" * 1024)
                handle.flush()
        httpserver.clear()
        big = terms_html(
            extra="<p>We may use your content to train our AI models.</p>"
            + "<p>More clause text for the record.</p>" * 400
        )
        httpserver.expect_request("/terms").respond_with_data(big, content_type="text/html")
        httpserver.expect_request("/other").respond_with_data(
            terms_html("Other"), content_type="text/html"
        )
        results = one_pass(
            settings,
            [
                source(httpserver.url_for("/terms")),
                source(httpserver.url_for("/other"), "other-terms"),
            ],
        )
        assert {outcome for outcome, _ in results.values()} == {Outcome.FAILED}
        assert all(
            "No space left on device" in detail or "disk is full" in detail
            for _, detail in results.values()
        ), results
        ballast.unlink()
        with Archive(settings.archive_dir) as archive:
            report = archive.verify()
            assert report.ok, report.problems
            assert (
                len(archive.versions("example-terms")) == 1 and archive.alerts() == []
            )  # no false alert
            assert not list(settings.archive_dir.rglob(".tmp-*"))  # nothing half-written left
        assert (
            one_pass(settings, [source(httpserver.url_for("/terms"))])["example-terms"][0]
            is Outcome.CHANGED
        )


def test_a_read_only_archive_is_a_clear_error_and_stays_intact(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    with small_filesystem(tmp_path / "disk", "2m") as disk:
        settings = Settings(
            archive_dir=disk / "archive",
            sources_file=tmp_path / "sources.yaml",
            fetch=settings.fetch,
            lock_timeout=2,
        )
        httpserver.expect_request("/terms").respond_with_data(
            terms_html(), content_type="text/html"
        )
        one_pass(settings, [source(httpserver.url_for("/terms"))])
        before = sorted(p.relative_to(disk) for p in disk.rglob("*"))
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        write_sources(
            settings.sources_file,
            [
                {
                    "id": "example-terms",
                    "platform": "P",
                    "document_type": "T",
                    "url": httpserver.url_for("/terms"),
                    "ignore_robots": True,
                }
            ],
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CLAUSEWATCH_ARCHIVE": str(settings.archive_dir),
            "CLAUSEWATCH_HOST_DELAY": "0",
        }
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "track"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert (
            b"clausewatch: archive error:" in result.stderr
            and b"Read-only file system" in result.stderr
        )
        assert sorted(p.relative_to(disk) for p in disk.rglob("*")) == before


def test_two_passes_at_once_are_safe(httpserver: HTTPServer, tmp_path: Path) -> None:
    entries = []
    for n in range(8):
        httpserver.expect_request(f"/t{n}").respond_with_data(
            terms_html(f"Terms {n}", clauses=60), content_type="text/html"
        )
        entries.append(
            {
                "id": f"doc-{n}",
                "platform": "P",
                "document_type": "T",
                "url": httpserver.url_for(f"/t{n}"),
                "ignore_robots": True,
            }
        )
    write_sources(tmp_path / "sources.yaml", entries)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLAUSEWATCH_HOST_DELAY": "0"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "track", "--json"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    with Archive(tmp_path / "archive") as archive:
        assert archive.verify().ok
        assert all(len(archive.versions(f"doc-{n}")) == 1 for n in range(8))


# --- fuzzing: no unexpected exception from any pure stage ------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
HTMLISH = st.lists(
    st.one_of(
        TEXT,
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<h2>",
                "</h2>",
                "<ul><li>",
                "</li></ul>",
                "<table><tr><td>",
                "</td></tr></table>",
                "<b>",
                "</b>",
                "<br>",
                "<!--",
                "-->",
                "<script>",
                "</script>",
                "<ol start='x'>",
                "<dl><dt>",
                "<dd>",
                "&amp;",
                "&#0;",
                "<div role='heading' aria-level='9'>",
            ]
        ),
    ),
    max_size=40,
).map("".join)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(TEXT)
def test_fuzz_sources_loader(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_sources(text, Path("fuzz.yaml"))


@FUZZ
@given(HTMLISH, st.sampled_from([(), ("p",), ("main",), ("div > p", "h2")]))
def test_fuzz_extract(html: str, select: tuple[str, ...]) -> None:
    with contextlib.suppress(ClausewatchError):
        document = html_document(html, select)
        assert (
            parse(__import__("monitor.extract.markdown", fromlist=["render"]).render(document))
            == document
        )
    text_document(html)


def _document(blocks: list[tuple[bool, str]]):  # type: ignore[no-untyped-def]
    builder = DocumentBuilder()
    for is_heading, text in blocks:
        if is_heading:
            builder.heading(2, text)
        else:
            builder.text(text)
    return builder.build("T")


BLOCKS = st.lists(
    st.tuples(
        st.booleans(),
        st.one_of(
            TEXT,
            st.sampled_from(
                [
                    "We may use your content to train our AI models.",
                    "We will never train AI on your content.",
                    "You grant us a worldwide, perpetual licence.",
                ]
            ),
        ),
    ),
    max_size=12,
)


@FUZZ
@given(BLOCKS, BLOCKS)
def test_fuzz_diff_rules_and_flags(a: list[tuple[bool, str]], b: list[tuple[bool, str]]) -> None:
    changeset = diff(_document(a), _document(b))
    assess(flag_changes(changeset, RULES))
    for change in changeset.changes:
        for clause in (change.old, change.new):
            if clause is not None:
                RULES.match(clause.text)
