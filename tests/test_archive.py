"""archive.py: atomic, never-overwriting storage, the lock, and verify."""

from __future__ import annotations

import gzip
import multiprocessing
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import Archive
from monitor.archive.catalog import conditional_for
from monitor.archive.files import write_atomic
from monitor.errors import ArchiveError, ArchiveLocked
from monitor.model import Clause, Document, FailureReason, FetchFailure, Outcome, Snapshot, Source

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
SOURCE = Source(
    id="example-terms", platform="Example", document_type="Terms", url="https://example.org/terms"
)


def doc(*texts: str) -> Document:
    return Document("Example", tuple(Clause(f" #{n}", (), None, t) for n, t in enumerate(texts, 1)))


def snap(body: bytes, at: datetime = T0) -> Snapshot:
    return Snapshot(
        "example-terms",
        at,
        "https://example.org/terms",
        200,
        body,
        "text/html",
        "utf-8",
        etag='"e1"',
    )


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    arch = Archive(tmp_path / "archive", lock_timeout=0.3)
    arch.sync_sources([SOURCE], T0)
    return arch


def test_store_new_then_identical_then_changed(archive: Archive) -> None:
    first = archive.store(snap(b"<p>a</p>"), doc("We may use your content."))
    assert first.outcome is Outcome.NEW and first.version is not None
    same = archive.store(
        snap(b"<p>a</p>", T0 + timedelta(hours=1)), doc("We may use your content.")
    )
    assert same.outcome is Outcome.UNCHANGED and same.version is None
    chrome = archive.store(
        snap(b"<p>a</p><footer>x</footer>", T0 + timedelta(hours=2)),
        doc("We may use your content."),
    )
    assert chrome.outcome is Outcome.UNCHANGED
    changed = archive.store(
        snap(b"<p>b</p>", T0 + timedelta(hours=3)), doc("We may train AI on your content.")
    )
    assert changed.outcome is Outcome.CHANGED and changed.previous == first.version
    assert [v.id for v in archive.versions("example-terms")] == [
        first.version.id,
        changed.version.id,
    ]  # type: ignore[union-attr]
    assert (
        archive.read_version(changed.version).clauses[0].text == "We may train AI on your content."
    )  # type: ignore[arg-type]
    snapshots = sorted(p.name for p in (archive.root / "example-terms" / "snapshots").iterdir())
    assert len(snapshots) == 3, snapshots  # identical bytes stored once
    validators = conditional_for(archive.latest_snapshot("example-terms"))
    assert validators is not None and validators.etag == '"e1"'


def test_snapshot_round_trips_through_gzip(archive: Archive) -> None:
    archive.store(snap(b"<p>hello</p>"), doc("hello there, this is a clause"))
    latest = archive.latest_snapshot("example-terms")
    assert latest is not None and archive.read_snapshot(latest).content == b"<p>hello</p>"


def test_write_atomic_never_overwrites_other_content(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file.md"
    write_atomic(target, b"one")
    write_atomic(target, b"one")  # same content: fine
    with pytest.raises(ArchiveError, match="refusing to overwrite"):
        write_atomic(target, b"two")
    assert target.read_bytes() == b"one"
    assert [p.name for p in target.parent.iterdir()] == ["file.md"]


def test_a_file_left_by_a_crash_before_its_commit_is_replaced(archive: Archive) -> None:
    # a batch writes files without fsyncs; a crash before its commit leaves them unnamed by
    # any row, and after a power cut possibly cut short
    with pytest.raises(RuntimeError), archive.batch():
        stored = archive.store(snap(b"<p>a</p>"), doc("We may use your content."))
        raise RuntimeError("killed before the commit")
    assert stored.version is not None and archive.versions("example-terms") == []
    left = archive.root / stored.version.path
    left.write_bytes(left.read_bytes()[:10])
    again = archive.store(snap(b"<p>a</p>"), doc("We may use your content."))
    assert again.outcome is Outcome.NEW and again.version is not None
    assert again.version.path == stored.version.path
    assert archive.read_version(again.version).clauses[0].text == "We may use your content."
    assert archive.verify().ok


def test_a_batch_commit_that_cannot_sync_its_files_rolls_back(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Path) -> None:
        raise OSError(28, "No space left on device")

    with archive.batch():
        monkeypatch.setattr("monitor.archive.store.sync_filesystem", full)
        archive.store(snap(b"<p>a</p>"), doc("We may use your content."))
        with pytest.raises(ArchiveError, match=r"cannot write the archive files: .*No space"):
            archive.commit()
        assert archive.versions("example-terms") == []  # no row names an unsynced file
        monkeypatch.undo()
        archive.store(snap(b"<p>a</p>"), doc("We may use your content."))
    assert len(archive.versions("example-terms")) == 1 and archive.verify().ok


def test_write_errors_become_archive_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "example-terms"
    blocker.write_text("a file where a folder should be")  # fails for root too, unlike chmod
    with pytest.raises(ArchiveError, match="cannot write"):
        write_atomic(blocker / "versions" / "x.md", b"data")
    assert blocker.read_text() == "a file where a folder should be"


def test_failures_are_recorded_and_write_nothing(archive: Archive) -> None:
    archive.record_failure(
        FetchFailure(
            "example-terms",
            T0,
            "https://example.org/terms",
            FailureReason.BLOCKED,
            "challenge page",
            403,
        )
    )
    rows = archive.checks("example-terms")
    assert (rows[0].outcome, rows[0].reason, rows[0].status) == (
        Outcome.FAILED,
        FailureReason.BLOCKED,
        403,
    )
    assert archive.latest_version("example-terms") is None
    assert not (archive.root / "example-terms").exists()


def _hold_lock(
    root: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:
    with Archive(Path(root)) as arch, arch.lock():
        ready.set()
        release.wait(10)


def test_a_second_writer_waits_then_fails_clearly(archive: Archive) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(archive.root), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        with (
            pytest.raises(
                ArchiveLocked, match=rf"in use by another clausewatch process \(pid {holder.pid}"
            ),
            archive.lock(),
        ):
            pass
        assert time.monotonic() - started >= 0.3
    finally:
        release.set()
        holder.join(10)
    with archive.lock():  # free again
        pass


def test_verify_finds_missing_and_corrupt_files_and_lists_orphans(archive: Archive) -> None:
    archive.store(snap(b"<p>1</p>"), doc("first version of the terms"))
    stored = archive.store(
        snap(b"<p>2</p>", T0 + timedelta(hours=1)), doc("second version of the terms")
    )
    assert archive.verify().ok
    assert stored.version is not None
    (archive.root / stored.version.path).write_text("tampered")
    snapshot_file = next((archive.root / "example-terms" / "snapshots").iterdir())
    snapshot_file.unlink()
    (archive.root / "example-terms" / "versions" / "2026-01-01T00-00-00Z-deadbeef.md").write_text(
        "stray"
    )
    report = archive.verify()
    assert not report.ok
    assert any("does not match its sha256" in p for p in report.problems)
    assert any("missing" in p for p in report.problems)
    assert report.orphans == ["example-terms/versions/2026-01-01T00-00-00Z-deadbeef.md"]


def test_leftover_temp_files_are_cleared_when_a_writer_takes_the_lock(archive: Archive) -> None:
    archive.store(snap(b"<p>1</p>"), doc("first version of the terms"))
    leftover = archive.root / "example-terms" / "snapshots" / ".tmp-x.html.gz.123"
    leftover.write_bytes(gzip.compress(b"half"))
    with archive.lock():
        pass
    assert not leftover.exists()


def test_a_catalog_of_the_first_schema_is_migrated_on_open_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    import sqlite3

    from monitor.archive.catalog import SCHEMA

    root = tmp_path / "old"
    root.mkdir()
    with sqlite3.connect(root / "catalog.sqlite") as db:  # what the first release wrote
        db.executescript(SCHEMA[0])
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO sources (id, platform, document_type, url, first_seen)"
            " VALUES ('old-terms', 'Old', 'Terms', 'https://example.org/', '2024-01-01T00:00:00')"
        )
    with Archive(root) as archive:
        assert archive.source_ids() == ["old-terms"]
        assert archive.alerts() == [] and archive.last_send_at() is None  # later schemas' tables
        archive.sync_sources([SOURCE], T0)
        archive.store(snap(b"<p>1</p>"), doc("first version of the terms"))
        assert archive.verify().ok
    with Archive(root) as archive:  # reopening migrates nothing more and loses nothing
        assert archive.source_ids() == ["example-terms", "old-terms"]


def _open_new_archive(root: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait(10)
    Archive(Path(root)).close()


def test_processes_opening_a_new_archive_at_once_migrate_it_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    openers = [
        ctx.Process(target=_open_new_archive, args=(str(tmp_path / "fresh"), start))
        for _ in range(6)
    ]
    for process in openers:
        process.start()
    start.set()
    for process in openers:
        process.join(30)
    assert [p.exitcode for p in openers] == [0] * 6  # a second migration would fail one
    with Archive(tmp_path / "fresh") as archive:  # and the catalog has every table it needs
        archive.sync_sources([SOURCE], T0)
        archive.store(snap(b"<p>1</p>"), doc("first version of the terms"))
        assert archive.alerts() == [] and archive.notices() == []
        assert archive.verify().ok


OTHER = Source(
    id="other-terms", platform="Other", document_type="Terms", url="https://example.org/other"
)


def _two_interleaved_sources(root: Path) -> None:
    """example-terms versions at T0, T0+2h, T0+4h and other-terms at T0+1h, T0+3h: global
    ids 1, 3, 5 and 2, 4."""
    with Archive(root) as archive:
        archive.sync_sources([SOURCE, OTHER], T0)
        for hour in range(5):
            at = T0 + timedelta(hours=hour)
            sid = "example-terms" if hour % 2 == 0 else "other-terms"
            archive.store(
                replace(snap(f"<p>{hour}</p>".encode(), at), source_id=sid),
                doc(f"version of {sid} at hour {hour}"),
            )


def test_versions_are_numbered_within_their_source_in_date_order(tmp_path: Path) -> None:
    _two_interleaved_sources(tmp_path / "a")
    with Archive(tmp_path / "a") as archive:
        assert [(v.id, v.number) for v in archive.versions("example-terms")] == [
            (1, 1),
            (3, 2),
            (5, 3),
        ]
        assert [(v.id, v.number) for v in archive.versions("other-terms")] == [(2, 1), (4, 2)]
        latest = archive.latest_version("other-terms")
        assert latest is not None and latest.number == 2


def test_an_archive_of_the_schema_before_version_numbers_is_numbered_on_open(
    tmp_path: Path,
) -> None:
    import sqlite3

    from monitor.archive.catalog import SCHEMA

    root = tmp_path / "old"
    _two_interleaved_sources(root)
    # make it what the schema before numbers (version 7) wrote: no number column, nor the
    # alert reasons of version 8; and one version recorded earlier than its id says (numbers
    # follow dates, not ids)
    numbered = next(n for n, sql in enumerate(SCHEMA, 1) if "versions_number" in sql)
    assert numbered == 7
    with sqlite3.connect(root / "catalog.sqlite") as db:
        db.execute("DROP INDEX versions_number")
        db.execute("ALTER TABLE versions DROP COLUMN number")
        db.execute("ALTER TABLE alerts DROP COLUMN reason")
        db.execute("UPDATE versions SET recorded_at = '2026-01-05T08:00:00+00:00' WHERE id = 5")
        db.execute(f"PRAGMA user_version = {numbered - 1}")
    with Archive(root) as archive:
        assert [(v.id, v.number) for v in archive.versions("example-terms")] == [
            (1, 2),
            (3, 3),
            (5, 1),
        ]
        assert [(v.id, v.number) for v in archive.versions("other-terms")] == [(2, 1), (4, 2)]
        at = T0 + timedelta(hours=6)
        stored = archive.store(
            replace(snap(b"<p>6</p>", at), source_id="other-terms"), doc("a third version")
        )
        assert stored.version is not None and stored.version.number == 3
        assert archive.verify().ok
