"""Hostile cases (issue 18): damaged archives, crafted inputs, misbehaving servers.

Each case is a crafted file or a loopback server, bounded in time, and failed on the code
before its fix. Sections are per area, so that each can grow on its own.
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.cli.main import Environment, main
from monitor.errors import ArchiveError
from monitor.model import Clause, Document, Outcome
from tests.conftest import terms_html, write_sources


def run_cli(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(
        stdout=out, stderr=err, env={"CLAUSEWATCH_HOST_DELAY": "0"}, cwd=tmp_path
    )
    code = main(list(argv), environment)
    return code, out.getvalue(), err.getvalue()


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
    lost = _latest(archive_dir, "gamma-terms", "changes")
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
        handle.write(os.urandom(page_size))
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
    (archive_dir / "catalog.sqlite").write_bytes(os.urandom(8192))
    write_sources(tmp_path / "sources.yaml", [_entry("http://127.0.0.1:9/terms", "alpha-terms")])
    for argv in (("verify",), ("track",), ("history", "alpha-terms")):
        code, _, err = run_cli(tmp_path, *argv)
        assert code == 1 and "damaged" in err and ".recover" in err, (argv, err)


def test_sources_refuse_an_id_too_long_to_be_a_folder(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources.yaml", [_entry("https://example.org/t", "a" * 300)])
    code, _, err = run_cli(tmp_path, "track")
    assert code == 2 and "sources.yaml:" in err and "at most 100" in err
    assert not (tmp_path / "archive").exists()


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
