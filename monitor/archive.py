"""The archive: every raw snapshot and every extracted version, on disk and in the catalog.

Owns: the layout under archive/ (see ARCHITECTURE.md), atomic writes (temp file, fsync, rename,
fsync of the folder; inside a batch, one syncfs before each commit), never overwriting a stored
file, storing a snapshot or version only when it differs from the last one, the SQLite catalog
(sources, snapshots, versions, checks), the lock that keeps two writers apart, history queries
and `verify`. A snapshot row and the version
row made from it are committed in one transaction after both files are on disk, so a crash
leaves either both or neither. Must never: fetch, parse HTML, or decide what a change means.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gzip
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from isal import igzip

from monitor import markdown
from monitor.errors import ArchiveError, ArchiveLocked
from monitor.model import (
    Alert,
    ChangeSet,
    Conditional,
    Document,
    FetchFailure,
    Flag,
    NotModified,
    Outcome,
    Snapshot,
    Source,
    Version,
)
from monitor.serialize import (
    alert_from_dict,
    alert_to_dict,
    changeset_from_dict,
    changeset_to_dict,
    flag_from_dict,
    flag_to_dict,
)

CATALOG = "catalog.sqlite"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
SCHEMA = [
    # version 1
    """
    CREATE TABLE sources (
        id TEXT PRIMARY KEY, platform TEXT NOT NULL, document_type TEXT NOT NULL,
        url TEXT NOT NULL, audiences TEXT NOT NULL DEFAULT '', first_seen TEXT NOT NULL,
        extractor TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY, source_id TEXT NOT NULL REFERENCES sources(id),
        fetched_at TEXT NOT NULL, url TEXT NOT NULL, status INTEGER NOT NULL,
        content_type TEXT NOT NULL, encoding TEXT, etag TEXT, last_modified TEXT,
        sha256 TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL UNIQUE
    );
    CREATE INDEX snapshots_source ON snapshots(source_id, id);
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY, source_id TEXT NOT NULL REFERENCES sources(id),
        recorded_at TEXT NOT NULL, snapshot_id INTEGER REFERENCES snapshots(id),
        sha256 TEXT NOT NULL, path TEXT NOT NULL UNIQUE, clauses INTEGER NOT NULL,
        extractor TEXT NOT NULL DEFAULT '', technical INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX versions_source ON versions(source_id, id);
    CREATE TABLE checks (
        id INTEGER PRIMARY KEY, source_id TEXT NOT NULL, checked_at TEXT NOT NULL,
        outcome TEXT NOT NULL, reason TEXT, detail TEXT NOT NULL DEFAULT '',
        status INTEGER, url TEXT, snapshot_id INTEGER, version_id INTEGER
    );
    CREATE INDEX checks_source ON checks(source_id, id);
    """,
    # version 2: clause-level ChangeSets between consecutive versions
    """
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY, source_id TEXT NOT NULL REFERENCES sources(id),
        recorded_at TEXT NOT NULL, old_version_id INTEGER REFERENCES versions(id),
        new_version_id INTEGER NOT NULL REFERENCES versions(id), path TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL, cosmetic INTEGER NOT NULL, technical INTEGER NOT NULL DEFAULT 0,
        clause_changes INTEGER NOT NULL
    );
    CREATE INDEX changes_source ON changes(source_id, id);
    """,
    # version 3: what each ChangeSet means for creators
    """
    CREATE TABLE flags (
        id INTEGER PRIMARY KEY, change_id INTEGER NOT NULL REFERENCES changes(id),
        source_id TEXT NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL,
        direction TEXT NOT NULL, rule_id TEXT NOT NULL, evidence TEXT NOT NULL,
        words TEXT NOT NULL, change_index INTEGER NOT NULL
    );
    CREATE INDEX flags_change ON flags(change_id);
    CREATE INDEX flags_category ON flags(category, source_id);
    """,
    # version 4: alerts (one row per change once considered; alert_id NULL = nothing to tell)
    # and the digest's send log
    """
    CREATE TABLE alerts (
        change_id INTEGER PRIMARY KEY REFERENCES changes(id), alert_id TEXT UNIQUE,
        source_id TEXT NOT NULL, recorded_at TEXT NOT NULL, severity TEXT, threat INTEGER,
        body TEXT
    );
    CREATE INDEX alerts_time ON alerts(recorded_at);
    CREATE TABLE sends (
        id INTEGER PRIMARY KEY, period TEXT NOT NULL, recipient TEXT NOT NULL,
        attempted_at TEXT NOT NULL, status TEXT NOT NULL, message_id TEXT, error TEXT
    );
    CREATE INDEX sends_period ON sends(period, recipient);
    """,
    # version 5: notices for maintainers (a source failing N times in a row, or recovering)
    """
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY, source_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    """,
]


def stamp(moment: datetime) -> str:
    """A file-name-safe UTC time: 2026-11-25T14-00-05Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def snapshot_suffix(content_type: str) -> str:
    return {"application/pdf": ".pdf.gz", "text/plain": ".txt.gz", "text/markdown": ".md.gz"}.get(
        content_type, ".html.gz"
    )


_MADE_DIRS: set[Path] = set()  # folders known to exist: mkdir is slow on some filesystems
# ISA-L's level 1 (isal.igzip, plain gzip files): on a 150 KB terms page it takes 0.22 ms,
# where zlib's level 1 takes 1.3 ms and its level 6 5.5 ms, for a 51 KB file (zlib 6: 42 KB).
GZIP_LEVEL = 1


def compress_snapshot(content: bytes) -> bytes:
    """A snapshot's stored form. Deterministic (no time in the header); callers may compute it
    on another thread, where ISA-L runs without holding the GIL."""
    return igzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0)


def _syncfs() -> Callable[[int], int] | None:
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except OSError:  # pragma: no cover - no C library to load
        return None


_SYNCFS = _syncfs()


def sync_filesystem(path: Path) -> None:
    """Make every file written on the file system holding `path` durable, in one call: Linux's
    syncfs, or os.sync where there is none. A batch of N files costs one journal commit instead
    of 2N fsyncs."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS is None or _SYNCFS(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes, *, sync: bool = True, orphan: Callable[[], bool] | None = None
) -> None:
    """Write a new file so that it is either whole or absent; never replace another file,
    unless `orphan()` says that the one there was never archived.

    With `sync=False` the file and folder fsyncs are left to the caller, who must call
    sync_filesystem() before committing any row that names the file."""
    if path.exists():
        if path.read_bytes() == data:
            return
        if orphan is None or not orphan():
            raise ArchiveError(f"{path}: refusing to overwrite an archived file with other content")
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        if path.parent not in _MADE_DIRS:
            # the source's folder once, then snapshots/ and versions/ in it: three mkdirs for
            # a new source, where mkdir(parents=True) twice makes four (one of them failing)
            if path.parent.parent not in _MADE_DIRS:
                path.parent.parent.mkdir(parents=True, exist_ok=True)
                _MADE_DIRS.add(path.parent.parent)
            path.parent.mkdir(exist_ok=True)
            _MADE_DIRS.add(path.parent)
        with open(tmp, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        if sync:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ArchiveError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def conditional_for(latest: StoredSnapshot | None) -> Conditional | None:
    """The validators for a conditional GET after `latest`, if it had any."""
    if latest is None or not (latest.etag or latest.last_modified):
        return None
    return Conditional(latest.etag, latest.last_modified)


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    id: int
    source_id: str
    fetched_at: datetime
    sha256: str
    etag: str | None
    last_modified: str | None
    path: str
    content_type: str
    encoding: str | None
    url: str
    status: int


@dataclass(frozen=True, slots=True)
class StoredChange:
    """A ChangeSet as the catalog knows it."""

    id: int
    source_id: str
    recorded_at: datetime
    old_version_id: int | None
    new_version_id: int
    path: str
    cosmetic: bool
    technical: bool


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one pass result did."""

    outcome: Outcome
    snapshot_id: int | None = None
    version: Version | None = None
    previous: Version | None = None
    change: StoredChange | None = None
    changeset: ChangeSet | None = None


@dataclass(slots=True)
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # files with no catalog row: harmless
    snapshots: int = 0
    versions: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class Archive:
    """One archive folder and its catalog. Use `with archive.lock():` around writes."""

    def __init__(self, root: Path, *, lock_timeout: float = 60.0) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(root / CATALOG, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveError(f"{root}: cannot open the archive: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._lock_fd: int | None = None
        self._batch = False
        self._unsynced = False  # files written in this batch and not yet made durable
        self._savepoints = 0
        # The default rollback journal, not WAL: WAL needs its -wal and -shm files writable, so a
        # full disk or a read-only archive could not even be opened to say what is wrong.
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Bring the catalog's schema up to date. Two processes opening a new archive at once
        must not both migrate: the version is read again inside the write transaction."""
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] >= len(SCHEMA):
                return  # nothing to do (and nothing written, so a read-only archive opens)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                for number, script in enumerate(SCHEMA[version:], start=version + 1):
                    for statement in script.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.root / CATALOG}: cannot prepare the catalog: {exc}") from exc

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

    # --- sources and reads -------------------------------------------------------------

    def sync_sources(self, sources: list[Source], now: datetime) -> None:
        """Record new sources and changed descriptions; writes nothing when nothing changed."""
        known = {
            row["id"]: (row["platform"], row["document_type"], row["url"], row["audiences"])
            for row in self._db.execute(
                "SELECT id, platform, document_type, url, audiences FROM sources"
            )
        }
        changed = [
            s
            for s in sources
            if known.get(s.id) != (s.platform, s.document_type, s.url, ",".join(s.audiences))
        ]
        if not changed:
            return
        with self._write() as db:
            for s in changed:
                db.execute(
                    "INSERT INTO sources (id, platform, document_type, url, audiences, first_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET platform=excluded.platform,"
                    " document_type=excluded.document_type, url=excluded.url, audiences=excluded.audiences",
                    (s.id, s.platform, s.document_type, s.url, ",".join(s.audiences), iso(now)),
                )

    def latest_snapshot(self, source_id: str) -> StoredSnapshot | None:
        row = self._db.execute(
            "SELECT * FROM snapshots WHERE source_id = ? ORDER BY id DESC LIMIT 1", (source_id,)
        ).fetchone()
        return _snapshot(row) if row else None

    def latest_snapshots(self) -> dict[str, StoredSnapshot]:
        """Every source's latest snapshot, by source id, in one query: a pass starts with all."""
        return {
            row["source_id"]: _snapshot(row)
            for row in self._db.execute(
                "SELECT * FROM snapshots WHERE id IN (SELECT MAX(id) FROM snapshots GROUP BY source_id)"
            )
        }

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
        )

    def latest_version(self, source_id: str) -> Version | None:
        row = self._db.execute(
            "SELECT * FROM versions WHERE source_id = ? ORDER BY id DESC LIMIT 1", (source_id,)
        ).fetchone()
        return _version(row) if row else None

    def versions(self, source_id: str) -> list[Version]:
        rows = self._db.execute(
            "SELECT * FROM versions WHERE source_id = ? ORDER BY id", (source_id,)
        )
        return [_version(row) for row in rows]

    def extractors(self) -> dict[str, str]:
        """Each source's fingerprint of the extraction rules that made its latest version."""
        return {
            row[0]: str(row[1] or "")
            for row in self._db.execute("SELECT id, extractor FROM sources")
        }

    def read_version(self, version: Version) -> Document:
        return markdown.parse((self.root / version.path).read_text(encoding="utf-8"))

    def source_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM sources ORDER BY id")]

    def checks(self, source_id: str, limit: int = 50) -> list[sqlite3.Row]:
        return list(
            self._db.execute(
                "SELECT * FROM checks WHERE source_id = ? ORDER BY id DESC LIMIT ?",
                (source_id, limit),
            )
        )

    # --- writes ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write: its own transaction, or a savepoint inside a batch (see `batch`)."""
        if self._batch:
            name = f"w{self._savepoints}"
            self._savepoints += 1
            try:
                self._db.execute(f"SAVEPOINT {name}")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute(f"ROLLBACK TO {name}")
                            self._db.execute(f"RELEASE {name}")
                    raise
                self._db.execute(f"RELEASE {name}")
            except sqlite3.Error as exc:
                raise ArchiveError(
                    f"{self.root / CATALOG}: cannot write the catalog: {exc}"
                ) from exc
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.root / CATALOG}: cannot write the catalog: {exc}") from exc

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

    def _names(self, relative: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM snapshots WHERE path = ? UNION ALL SELECT 1 FROM versions WHERE path = ?"
                " UNION ALL SELECT 1 FROM changes WHERE path = ? LIMIT 1",
                (relative, relative, relative),
            ).fetchone()
            is not None
        )

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
        `document`) is stored with the version, in the same transaction.
        """
        sid = snapshot.source_id
        recorded_at = recorded_at or snapshot.fetched_at
        latest = self.latest_snapshot(sid)
        previous = self.latest_version(sid)
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
                    " etag, last_modified, sha256, size, path) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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

    def changes(self, source_id: str) -> list[StoredChange]:
        rows = self._db.execute(
            "SELECT * FROM changes WHERE source_id = ? ORDER BY id", (source_id,)
        )
        return [_change(row) for row in rows]

    def read_changeset(self, change: StoredChange) -> ChangeSet:
        data = json.loads((self.root / change.path).read_text(encoding="utf-8"))
        return changeset_from_dict(data)

    def read_flags(self, change: StoredChange) -> tuple[Flag, ...]:
        data = json.loads((self.root / change.path).read_text(encoding="utf-8"))
        return tuple(flag_from_dict(f) for f in data.get("flags", []))

    def change(self, change_id: int) -> StoredChange | None:
        row = self._db.execute("SELECT * FROM changes WHERE id = ?", (change_id,)).fetchone()
        return _change(row) if row else None

    def changes_without_alerts(self) -> list[StoredChange]:
        rows = self._db.execute(
            "SELECT * FROM changes WHERE id NOT IN (SELECT change_id FROM alerts) ORDER BY id"
        )
        return [_change(row) for row in rows]

    def source(self, source_id: str) -> Source | None:
        """A source as last recorded in the catalog (it may have left sources.yaml since)."""
        row = self._db.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            return None
        audiences = tuple(a for a in row["audiences"].split(",") if a)
        return Source(
            row["id"], row["platform"], row["document_type"], row["url"], audiences=audiences
        )

    def record_alert(self, change: StoredChange, alert: Alert | None) -> None:
        """Remember that a change was considered, and the Alert it gave, if any. Idempotent."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO alerts (change_id, alert_id, source_id, recorded_at, severity,"
                " threat, body) VALUES (?,?,?,?,?,?,?)",
                (
                    change.id,
                    alert.id if alert else None,
                    change.source_id,
                    iso(change.recorded_at),
                    alert.severity.value if alert else None,
                    int(alert.threat) if alert else None,
                    json.dumps(alert_to_dict(alert), ensure_ascii=False) if alert else None,
                ),
            )

    def alerts(self, since: datetime | None = None, until: datetime | None = None) -> list[Alert]:
        """Stored alerts, newest first."""
        query = "SELECT body FROM alerts WHERE alert_id IS NOT NULL"
        params: list[str] = []
        if since:
            query += " AND recorded_at >= ?"
            params.append(iso(since))
        if until:
            query += " AND recorded_at < ?"
            params.append(iso(until))
        rows = self._db.execute(query + " ORDER BY recorded_at DESC, change_id DESC", params)
        return [alert_from_dict(json.loads(row[0])) for row in rows]

    def sent(self, period: str, recipient: str) -> bool:
        """Whether the digest for `period` already went to `recipient`."""
        row = self._db.execute(
            "SELECT 1 FROM sends WHERE period = ? AND recipient = ? AND status = 'sent' LIMIT 1",
            (period, recipient.lower()),
        ).fetchone()
        return row is not None

    def record_send(
        self,
        period: str,
        recipient: str,
        at: datetime,
        sent: bool,
        message_id: str | None,
        error: str = "",
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO sends (period, recipient, attempted_at, status, message_id, error)"
                " VALUES (?,?,?,?,?,?)",
                (
                    period,
                    recipient.lower(),
                    iso(at),
                    "sent" if sent else "failed",
                    message_id,
                    error,
                ),
            )

    def has_snapshot_url(self, url: str) -> bool:
        """Whether a snapshot was recorded from this URL (imports record `<repo>#<commit>`)."""
        return (
            self._db.execute("SELECT 1 FROM snapshots WHERE url = ? LIMIT 1", (url,)).fetchone()
            is not None
        )

    def last_send_at(self) -> datetime | None:
        row = self._db.execute(
            "SELECT max(attempted_at) FROM sends WHERE status = 'sent'"
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    def last_check(self, source_id: str) -> datetime | None:
        row = self._db.execute(
            "SELECT max(checked_at) FROM checks WHERE source_id = ?", (source_id,)
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    def check_history(self, source_id: str, limit: int) -> list[tuple[str, str]]:
        """(outcome, detail) of the newest checks of a source, newest first."""
        rows = self._db.execute(
            "SELECT outcome, detail FROM checks WHERE source_id = ? ORDER BY id DESC LIMIT ?",
            (source_id, limit),
        )
        return [(row[0], row[1]) for row in rows]

    def record_notice(self, source_id: str, at: datetime, kind: str, detail: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO notices (source_id, at, kind, detail) VALUES (?,?,?,?)",
                (source_id, iso(at), kind, detail),
            )

    def notices(self, since: datetime | None = None) -> list[sqlite3.Row]:
        """Maintainer notices, newest first."""
        if since is None:
            return list(self._db.execute("SELECT * FROM notices ORDER BY id DESC"))
        return list(
            self._db.execute("SELECT * FROM notices WHERE at >= ? ORDER BY id DESC", (iso(since),))
        )

    def version_sha(self, version_id: int) -> str:
        row = self._db.execute("SELECT sha256 FROM versions WHERE id = ?", (version_id,)).fetchone()
        return str(row[0]) if row else ""

    def version(self, version_id: int) -> Version | None:
        row = self._db.execute("SELECT * FROM versions WHERE id = ?", (version_id,)).fetchone()
        return _version(row) if row else None

    # --- integrity -----------------------------------------------------------------------

    def _check_files(
        self, table: str, noun: str, known: set[str], problems: list[str], gzipped: bool = False
    ) -> int:
        """Check every row of `table` against its file; returns the number of rows."""
        count = 0
        for row in self._db.execute(f"SELECT id, path, sha256 FROM {table}"):
            count += 1
            known.add(row["path"])
            path = self.root / row["path"]
            try:
                data = path.read_bytes()
                if gzipped:
                    data = gzip.decompress(data)
            except FileNotFoundError:
                problems.append(f"{path}: {noun} {row['id']} is in the catalog but missing")
                continue
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                problems.append(f"{path}: {noun} {row['id']} is unreadable: {exc}")
                continue
            if hashlib.sha256(data).hexdigest() != row["sha256"]:
                problems.append(f"{path}: {noun} {row['id']} does not match its sha256")
        return count

    def verify(self) -> VerifyReport:
        """Check that every catalog row has its file, whole, and list files with no row."""
        report = VerifyReport()
        try:
            result = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.Error as exc:
            report.problems.append(f"{self.root / CATALOG}: {exc}")
            return report
        if result != "ok":
            report.problems.append(f"{self.root / CATALOG}: integrity check failed: {result}")
        known: set[str] = set()
        report.snapshots = self._check_files(
            "snapshots", "snapshot", known, report.problems, gzipped=True
        )
        report.versions = self._check_files("versions", "version", known, report.problems)
        self._check_files("changes", "change", known, report.problems)
        for kind in ("snapshots", "versions", "changes"):
            for path in sorted(self.root.glob(f"*/{kind}/*")):
                relative = path.relative_to(self.root).as_posix()
                if relative not in known:
                    report.orphans.append(relative)
        return report


def _snapshot(row: sqlite3.Row) -> StoredSnapshot:
    return StoredSnapshot(
        id=row["id"],
        source_id=row["source_id"],
        fetched_at=from_iso(row["fetched_at"]),
        sha256=row["sha256"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        path=row["path"],
        content_type=row["content_type"],
        encoding=row["encoding"],
        url=row["url"],
        status=row["status"],
    )


def _version(row: sqlite3.Row) -> Version:
    return Version(
        id=row["id"],
        source_id=row["source_id"],
        recorded_at=from_iso(row["recorded_at"]),
        snapshot_id=row["snapshot_id"],
        sha256=row["sha256"],
        path=row["path"],
        technical=bool(row["technical"]),
    )


def _change(row: sqlite3.Row) -> StoredChange:
    return StoredChange(
        id=row["id"],
        source_id=row["source_id"],
        recorded_at=from_iso(row["recorded_at"]),
        old_version_id=row["old_version_id"],
        new_version_id=row["new_version_id"],
        path=row["path"],
        cosmetic=bool(row["cosmetic"]),
        technical=bool(row["technical"]),
    )
