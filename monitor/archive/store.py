"""The archive: every raw snapshot and every extracted version, on disk and in the catalog.

Owns: the layout under archive/ (see ARCHITECTURE.md), storing a snapshot or version only when
it differs from the last one, the writes of a pass (a snapshot row and the version row made
from it are committed in one transaction after both files are on disk, so a crash leaves
either both or neither; inside a batch, one syncfs before each commit), reading archived files
back, the lock that keeps two writers apart, and `verify`. Builds on monitor.archive.catalog (the
SQLite catalog and its queries), monitor.archive.ledger (alerts, sends, notices) and
monitor.archive.files (atomic writes, never overwriting a stored file). Must never: fetch,
parse HTML, or decide what a change means.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from monitor.archive.catalog import CATALOG, Stored, StoredChange, StoredSnapshot, iso
from monitor.archive.files import (
    TMP_PREFIX,
    compress_snapshot,
    snapshot_suffix,
    stamp,
    sync_filesystem,
    write_atomic,
)
from monitor.archive.integrity import Integrity
from monitor.archive.ledger import PublishLog
from monitor.archive.serialize import (
    changeset_from_dict,
    changeset_to_dict,
    flag_from_dict,
    flag_to_dict,
)
from monitor.errors import ArchiveError, ArchiveLocked
from monitor.extract import markdown
from monitor.model import (
    ChangeSet,
    Document,
    FetchFailure,
    Flag,
    NotModified,
    Outcome,
    Snapshot,
    Version,
)

LOCK = ".lock"


class Archive(PublishLog, Integrity):
    """One archive folder and its catalog. Use `with archive.lock():` around writes."""

    def __init__(self, root: Path, *, lock_timeout: float = 60.0) -> None:
        super().__init__(root)
        self.lock_timeout = lock_timeout
        self._unsynced = False  # files written in this batch and not yet made durable

    @contextlib.contextmanager
    def lock(self, shared: bool = False) -> Iterator[None]:
        """Hold the archive lock; a second writer waits `lock_timeout` seconds, then fails."""
        path = self.root / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ArchiveError(f"{path}: cannot open the lock file: {exc.strerror}") from exc
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + self.lock_timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                        raise ArchiveLocked(
                            f"{self.root}: the archive is in use by another clausewatch process"
                            f" ({holder or 'unknown holder'}); waited {self.lock_timeout:.0f}s."
                            " Try again when it has finished."
                        ) from None
                    time.sleep(0.1)
            if not shared:
                note = f"pid {os.getpid()} since {iso(datetime.now(UTC))}".encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, note, 0)
                self._remove_temp_files()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _remove_temp_files(self) -> None:
        """Half-written files of a crashed run (never renamed into place) are not data."""
        for tmp in self.root.glob(f"*/*/{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # --- reading files ------------------------------------------------------------------

    def read_snapshot(self, stored: StoredSnapshot) -> Snapshot:
        content = gzip.decompress((self.root / stored.path).read_bytes())
        return Snapshot(
            source_id=stored.source_id,
            fetched_at=stored.fetched_at,
            url=stored.url,
            status=stored.status,
            content=content,
            content_type=stored.content_type,
            encoding=stored.encoding,
            etag=stored.etag,
            last_modified=stored.last_modified,
            fetched_with=stored.fetched_with,
        )

    def read_version(self, version: Version) -> Document:
        return markdown.parse((self.root / version.path).read_text(encoding="utf-8"))

    # --- writes ------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes into few commits (each a few fsyncs). Inside, every write is a
        savepoint; `commit()` makes what is done durable. Files are always on disk before the
        rows that name them, so a crash before a commit only leaves harmless orphans. Writes
        not yet committed when the batch ends with an error are rolled back."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.root / CATALOG}: cannot write the catalog: {exc}") from exc
        self._batch = True
        try:
            yield
            self._batch = False
            self._finish("COMMIT")
        except BaseException:
            self._batch = False
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def commit(self) -> None:
        """Inside a batch: make every write so far durable, then go on batching. If the commit
        fails (disk full), its writes are rolled back and the error is raised; the batch goes on."""
        if not self._batch:
            return
        error: ArchiveError | None = None
        try:
            self._finish("COMMIT")
        except ArchiveError as exc:
            error = exc
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._batch = False
            raise ArchiveError(f"{self.root / CATALOG}: cannot write the catalog: {exc}") from exc
        if error is not None:
            raise error

    def _put(self, relative: str, data: bytes) -> None:
        """Write an archive file. Inside a batch its fsyncs wait for the batch's next commit,
        which syncs the whole file system once before the rows naming it are committed. A
        different file already at the path that no row names is what a crash left before that
        commit (possibly cut short): it was never archived, and is replaced."""
        write_atomic(
            self.root / relative,
            data,
            sync=not self._batch,
            orphan=lambda: not self._names(relative),
        )
        self._unsynced = self._unsynced or self._batch

    def _new_path(self, stem: str, suffix: str) -> str:
        """`stem + suffix`, or `stem-2 + suffix` and so on while a row names the path already:
        the same bytes again within the second that the stamp names (a page that flips back
        and forth between passes run close together)."""
        path = stem + suffix
        for n in range(2, 10_000):
            if not ((self.root / path).exists() and self._names(path)):
                return path
            path = f"{stem}-{n}{suffix}"
        raise ArchiveError(f"{self.root / stem}{suffix}: too many files of the same name")

    def _finish(self, statement: str) -> None:
        try:
            if statement == "COMMIT" and self._unsynced:
                sync_filesystem(self.root)  # the files first, then the rows that name them
                self._unsynced = False
            self._db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            what = "the catalog" if isinstance(exc, sqlite3.Error) else "the archive files"
            raise ArchiveError(f"{self.root / CATALOG}: cannot write {what}: {exc}") from exc

    def _check(
        self,
        db: sqlite3.Connection,
        source_id: str,
        at: datetime,
        outcome: Outcome,
        **extra: object,
    ) -> None:
        columns = ["source_id", "checked_at", "outcome", *extra]
        values = [source_id, iso(at), outcome.value, *extra.values()]
        db.execute(
            f"INSERT INTO checks ({', '.join(columns)}) VALUES ({', '.join('?' * len(values))})",
            values,
        )

    def record_failure(self, failure: FetchFailure) -> None:
        with self._write() as db:
            self._check(
                db,
                failure.source_id,
                failure.fetched_at,
                Outcome.FAILED,
                reason=failure.reason.value,
                detail=failure.detail,
                status=failure.status,
                url=failure.url,
            )

    def record_not_modified(self, result: NotModified) -> None:
        latest = self.latest_snapshot(result.source_id)
        with self._write() as db:
            self._check(
                db,
                result.source_id,
                result.fetched_at,
                Outcome.NOT_MODIFIED,
                url=result.url,
                snapshot_id=latest.id if latest else None,
            )

    def record_unchanged(self, snapshot: Snapshot) -> None:
        """The server sent the very bytes of the last snapshot: nothing new to store."""
        latest = self.latest_snapshot(snapshot.source_id)
        version = self.latest_version(snapshot.source_id)
        with self._write() as db:
            self._check(
                db,
                snapshot.source_id,
                snapshot.fetched_at,
                Outcome.UNCHANGED,
                url=snapshot.url,
                status=snapshot.status,
                snapshot_id=latest.id if latest else None,
                version_id=version.id if version else None,
                detail="same bytes as the last snapshot",
            )

    def store(
        self,
        snapshot: Snapshot,
        document: Document | markdown.RenderedVersion,
        *,
        extractor: str = "",
        technical: bool = False,
        recorded_at: datetime | None = None,
        changeset: ChangeSet | None = None,
        flags: tuple[Flag, ...] = (),
        compressed: bytes | None = None,
    ) -> Stored:
        """Archive a snapshot and the Document extracted from it, each only if new.

        `compressed` is `compress_snapshot(snapshot.content)` if the caller already made it,
        and `document` may come as its version file, already rendered (markdown.render_version).
        `technical` marks a re-extraction of an archived snapshot with new rules or selectors:
        the version is stored but never alerts. `changeset` (from the previous version to
        `document`) is stored with the version, in the same transaction. A version from a
        snapshot fetched another way than the last one (plain HTTP, then rendered in a browser,
        or back) is technical too: the way of fetching alone never raises a change.
        """
        sid = snapshot.source_id
        recorded_at = recorded_at or snapshot.fetched_at
        latest = self.latest_snapshot(sid)
        previous = self.latest_version(sid)
        switched = latest is not None and latest.fetched_with is not snapshot.fetched_with
        technical = technical or (switched and previous is not None)
        new_snapshot = latest is None or latest.sha256 != snapshot.sha256
        snapshot_path = self._new_path(
            f"{sid}/snapshots/{stamp(snapshot.fetched_at)}-{snapshot.sha256[:8]}",
            snapshot_suffix(snapshot.content_type),
        )
        if new_snapshot:
            self._put(snapshot_path, compressed or compress_snapshot(snapshot.content))
        rendered = (
            document
            if isinstance(document, markdown.RenderedVersion)
            else markdown.render_version(document)
        )
        digest = rendered.sha256
        new_version = previous is None or previous.sha256 != digest
        version_path = self._new_path(f"{sid}/versions/{stamp(recorded_at)}-{digest[:8]}", ".md")
        if new_version:
            self._put(version_path, rendered.data)
        if not new_version:
            outcome = Outcome.UNCHANGED
        elif previous is None:
            outcome = Outcome.NEW
        else:
            outcome = Outcome.CHANGED
        with self._write() as db:
            snapshot_id = latest.id if latest else None
            if new_snapshot:
                snapshot_id = db.execute(
                    "INSERT INTO snapshots (source_id, fetched_at, url, status, content_type, encoding,"
                    " etag, last_modified, sha256, size, path, fetched_with)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        sid,
                        iso(snapshot.fetched_at),
                        snapshot.url,
                        snapshot.status,
                        snapshot.content_type,
                        snapshot.encoding,
                        snapshot.etag,
                        snapshot.last_modified,
                        snapshot.sha256,
                        len(snapshot.content),
                        snapshot_path,
                        snapshot.fetched_with.value,
                    ),
                ).lastrowid
            version = previous
            if new_version:
                version_id = db.execute(
                    "INSERT INTO versions (source_id, recorded_at, snapshot_id, sha256, path, clauses,"
                    " extractor, technical) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        sid,
                        iso(recorded_at),
                        snapshot_id,
                        digest,
                        version_path,
                        rendered.clauses,
                        extractor,
                        int(technical),
                    ),
                ).lastrowid
                assert version_id is not None
                version = Version(
                    version_id, sid, recorded_at, snapshot_id, digest, version_path, technical
                )
            db.execute("UPDATE sources SET extractor = ? WHERE id = ?", (extractor, sid))
            change = None
            if new_version and changeset is not None and previous is not None:
                changeset = ChangeSet(previous.id, version_id, changeset.changes)
                change = self._store_changeset(db, sid, changeset, flags, recorded_at, technical)
            detail = "technical upgrade: re-extracted with new rules" if technical else ""
            if latest is not None and switched and technical and new_version:
                detail = (
                    f"fetched with {snapshot.fetched_with.value} (was {latest.fetched_with.value}):"
                    " stored as technical, never alerts"
                )
            if not new_version and new_snapshot:
                detail = "the page changed but its terms text did not"
            self._check(
                db,
                sid,
                recorded_at,
                outcome,
                url=snapshot.url,
                status=snapshot.status,
                snapshot_id=snapshot_id,
                version_id=version.id if version else None,
                detail=detail,
            )
        if not new_version:
            return Stored(outcome, snapshot_id, None, previous)
        return Stored(
            outcome, snapshot_id, version, previous, change, changeset if change else None
        )

    def _store_changeset(
        self,
        db: sqlite3.Connection,
        sid: str,
        changeset: ChangeSet,
        flags: tuple[Flag, ...],
        at: datetime,
        technical: bool,
    ) -> StoredChange:
        """Write a ChangeSet's JSON (with its flags), then its rows; the caller commits."""
        assert changeset.new_version_id is not None
        data: dict[str, object] = {"source_id": sid, "recorded_at": iso(at), "technical": technical}
        data |= changeset_to_dict(changeset)
        data["flags"] = [flag_to_dict(f) for f in flags]
        body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()
        path = f"{sid}/changes/{stamp(at)}-{digest[:8]}.json"
        self._put(path, body)
        change_id = db.execute(
            "INSERT INTO changes (source_id, recorded_at, old_version_id, new_version_id, path, sha256,"
            " cosmetic, technical, clause_changes) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                sid,
                iso(at),
                changeset.old_version_id,
                changeset.new_version_id,
                path,
                digest,
                int(changeset.is_cosmetic),
                int(technical),
                len(changeset.changes),
            ),
        ).lastrowid
        assert change_id is not None
        db.executemany(
            "INSERT INTO flags (change_id, source_id, category, severity, direction, rule_id, evidence,"
            " words, change_index) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    change_id,
                    sid,
                    f.category.value,
                    f.severity.value,
                    f.direction.value,
                    f.rule_id,
                    f.evidence,
                    json.dumps(list(f.words)),
                    f.change_index,
                )
                for f in flags
            ],
        )
        return StoredChange(
            change_id,
            sid,
            at,
            changeset.old_version_id,
            changeset.new_version_id,
            path,
            changeset.is_cosmetic,
            technical,
        )

    def read_changeset(self, change: StoredChange) -> ChangeSet:
        data = json.loads((self.root / change.path).read_text(encoding="utf-8"))
        return changeset_from_dict(data)

    def read_flags(self, change: StoredChange) -> tuple[Flag, ...]:
        data = json.loads((self.root / change.path).read_text(encoding="utf-8"))
        return tuple(flag_from_dict(f) for f in data.get("flags", []))
