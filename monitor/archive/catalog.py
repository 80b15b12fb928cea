"""The catalog: the SQLite database beside the archive files, and what can be read from it.

Owns: the schema and its migrations, the connection, the integrity check at open (a damaged
catalog is never written to), one transaction per write (or a savepoint inside a batch), the
row types (StoredSnapshot, StoredChange, Check, FileRow, Stored) and every statement on
sources, snapshots, versions, changes, flags and checks. Nothing SQLite-specific leaves it:
callers get dataclasses, and errors as ArchiveErrors, so that another backend (PostgreSQL)
can take its place behind the Archive. Must never: read or write an archive file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from monitor.errors import ArchiveError, DamagedCatalog
from monitor.model import (
    ChangeSet,
    Conditional,
    FailureReason,
    FetchMode,
    Flag,
    Origin,
    Outcome,
    Snapshot,
    Source,
    Version,
)

CATALOG = "catalog.sqlite"
BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for another process's commit
CATALOG_REPAIR = (
    "stop every clausewatch process, keep a copy of the archive folder, then rebuild the catalog"
    " with `sqlite3 catalog.sqlite .recover | sqlite3 recovered.sqlite`, move recovered.sqlite"
    " to catalog.sqlite and run `clausewatch verify --repair` (README, The archive: repairs)"
)
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
    # version 6: which way each snapshot was fetched (plain HTTP or rendered in a browser)
    """
    ALTER TABLE snapshots ADD COLUMN fetched_with TEXT NOT NULL DEFAULT 'http';
    """,
    # version 7: a version's number within its source (1, 2, ... by date), the number that
    # `history`, `show`, `diff` and the site print and take; existing versions are numbered
    # by their recorded time (then their id)
    """
    ALTER TABLE versions ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
    CREATE TEMP TABLE version_numbers (id INTEGER PRIMARY KEY, number INTEGER NOT NULL);
    INSERT INTO version_numbers SELECT id, ROW_NUMBER() OVER (
        PARTITION BY source_id ORDER BY recorded_at, id
    ) FROM versions;
    UPDATE versions SET number = (SELECT number FROM version_numbers WHERE id = versions.id);
    DROP TABLE version_numbers;
    CREATE UNIQUE INDEX versions_number ON versions(source_id, number);
    """,
    # version 8: why a change considered for an alert was not alerted ("not alerted: ...")
    """
    ALTER TABLE alerts ADD COLUMN reason TEXT NOT NULL DEFAULT '';
    """,
]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def conditional_for(latest: StoredSnapshot | None) -> Conditional | None:
    """The validators for a conditional GET after `latest`, and the way it was fetched; None
    when there is nothing to tell (no snapshot, or a plain one without validators)."""
    if latest is None:
        return None
    if not (latest.etag or latest.last_modified or latest.fetched_with is FetchMode.BROWSER):
        return None
    return Conditional(latest.etag, latest.last_modified, latest.fetched_with)


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
    fetched_with: FetchMode = FetchMode.HTTP


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
class Check:
    """One check of a source in a pass, as the catalog records it."""

    source_id: str
    checked_at: datetime
    outcome: Outcome
    reason: FailureReason | None = None
    detail: str = ""
    status: int | None = None
    url: str | None = None
    snapshot_id: int | None = None
    version_id: int | None = None
    id: int = 0  # given by the catalog


@dataclass(frozen=True, slots=True)
class FileRow:
    """A catalog row that names an archive file: what `verify` checks."""

    kind: str  # "snapshots", "versions" or "changes"
    id: int
    source_id: str
    path: str
    sha256: str

    @property
    def noun(self) -> str:
        return self.kind.removesuffix("s")


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one pass result did."""

    outcome: Outcome
    snapshot_id: int | None = None
    version: Version | None = None
    previous: Version | None = None
    change: StoredChange | None = None
    changeset: ChangeSet | None = None


class Catalog:
    """The SQLite catalog of one archive folder, open. `check=False` opens a damaged one (for
    `verify`, which reports the damage); otherwise a damaged catalog raises DamagedCatalog."""

    def __init__(self, root: Path, *, check: bool = True) -> None:
        self.root = root
        self.path = root / CATALOG
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveError(f"{root}: cannot open the archive: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._batch = False  # inside a batch: each write is a savepoint
        self._savepoints = 0
        self._checked = check
        if check:
            problem = self.quick_check()
            if problem:
                self._db.close()
                raise DamagedCatalog(
                    f"{self.path}: the catalog is damaged ({problem}); nothing was read or"
                    f" written. To repair: {CATALOG_REPAIR}"
                )
        self._migrate()

    def write_ahead(self, on: bool = True) -> None:
        """Write-ahead logging (WAL) while a writer holds the archive (`on`), so that readers
        are never blocked by it and each reads one consistent state (`reading()`); the
        rollback journal again when it lets go. Only while a writer runs: a catalog left in
        WAL could not even be opened on a full disk (its -shm file cannot be made), to say
        what is wrong. A switch that cannot be made at once (a reader still reading, a full
        disk) is left: the catalog works in either mode."""
        if self._db.in_transaction or not self._checked:  # a damaged catalog is never written
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA busy_timeout = 200")
            try:
                self._db.execute(f"PRAGMA journal_mode = {'WAL' if on else 'DELETE'}")
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads that take no lock a writer waits for: with WAL (a writer is at work) in one
        read transaction, a snapshot of one committed state that the writer's commits do not
        change; without (no writer) each read on its own, since a long read transaction would
        hold up the commits of a writer that starts. Inside a write transaction, its view."""
        if self._db.in_transaction or self._rows("PRAGMA journal_mode")[0][0] != "wal":
            yield
            return
        try:
            self._db.execute("BEGIN")
        except sqlite3.Error as exc:
            raise self._error(exc, "read") from exc
        try:
            yield
        finally:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")  # nothing was written: nothing to keep

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def quick_check(self) -> str:
        """ "" when SQLite finds the catalog sound (PRAGMA quick_check: every page, no index
        comparison; milliseconds for a big archive), else what it found."""
        return self._check("quick_check(5)")

    def integrity_check(self) -> str:
        """Like quick_check, and the indexes against their tables too (for `verify`)."""
        return self._check("integrity_check(20)")

    def _check(self, pragma: str) -> str:
        try:
            rows = [str(row[0]) for row in self._db.execute(f"PRAGMA {pragma}")]
        except sqlite3.Error as exc:
            return str(exc)
        return "" if rows == ["ok"] else "; ".join(rows)

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
            raise self._error(exc, "prepare") from exc

    # --- transactions ----------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error, doing: str = "write") -> ArchiveError:
        if isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in str(exc) or "not a database" in str(exc)
        ):
            return DamagedCatalog(f"{self.path}: the catalog is damaged ({exc}). {CATALOG_REPAIR}")
        return ArchiveError(f"{self.path}: cannot {doing} the catalog: {exc}")

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Every row of a read; a failure (a page damaged since open) is an ArchiveError."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "read") from exc

    @property
    def in_batch(self) -> bool:
        return self._batch

    def begin_batch(self) -> None:
        """Start a batch: one transaction, each write in it a savepoint, until end_batch."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        self._batch = True

    def commit(self) -> None:
        """Commit the batch's transaction (the caller has made its files durable first); a
        failed commit is rolled back and raised."""
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.rollback()
            raise self._error(exc) from exc

    def restart_batch(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._batch = False
            raise self._error(exc) from exc

    def rollback(self) -> None:
        if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def end_batch(self) -> None:
        self._batch = False

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """One write: its own transaction, or a savepoint inside a batch."""
        if self._batch:
            name = f"w{self._savepoints}"
            self._savepoints += 1
            try:
                self._db.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute(f"ROLLBACK TO {name}")
                            self._db.execute(f"RELEASE {name}")
                    raise
                self._db.execute(f"RELEASE {name}")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.rollback()
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def execute(self, sql: str, params: tuple[object, ...] | list[object] = ()) -> int | None:
        """One statement inside `write()`; the id of the row it inserted, if any."""
        return self._db.execute(sql, params).lastrowid

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of a read as plain tuples (for the ledger, beside the catalog's own reads)."""
        return [tuple(row) for row in self._rows(sql, params)]

    # --- writes (inside `write()`) -----------------------------------------------------------

    def sync_sources(self, sources: list[Source], now: datetime) -> None:
        """Record new sources and changed descriptions; writes nothing when nothing changed."""
        known = {
            row["id"]: (row["platform"], row["document_type"], row["url"], row["audiences"])
            for row in self._rows("SELECT id, platform, document_type, url, audiences FROM sources")
        }
        changed = [
            s
            for s in sources
            if known.get(s.id) != (s.platform, s.document_type, s.url, ",".join(s.audiences))
        ]
        if not changed:
            return
        with self.write():
            for s in changed:
                self._db.execute(
                    "INSERT INTO sources (id, platform, document_type, url, audiences, first_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET platform=excluded.platform,"
                    " document_type=excluded.document_type, url=excluded.url, audiences=excluded.audiences",
                    (s.id, s.platform, s.document_type, s.url, ",".join(s.audiences), iso(now)),
                )

    def add_snapshot(self, snapshot: Snapshot, path: str) -> int:
        snapshot_id = self._db.execute(
            "INSERT INTO snapshots (source_id, fetched_at, url, status, content_type, encoding,"
            " etag, last_modified, sha256, size, path, fetched_with)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                snapshot.source_id,
                iso(snapshot.fetched_at),
                snapshot.url,
                snapshot.status,
                snapshot.content_type,
                snapshot.encoding,
                snapshot.etag,
                snapshot.last_modified,
                snapshot.sha256,
                len(snapshot.content),
                path,
                snapshot.fetched_with.value,
            ),
        ).lastrowid
        assert snapshot_id is not None
        return snapshot_id

    def add_version(
        self,
        source_id: str,
        recorded_at: datetime,
        snapshot_id: int | None,
        sha256: str,
        path: str,
        clauses: int,
        extractor: str,
        origin: Origin,
    ) -> Version:
        technical = origin is Origin.TECHNICAL
        # the next number of its source: versions are stored in date order (an import older
        # than a source's latest version is refused), so numbers follow the dates
        number = int(
            self._db.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE source_id = ?",
                (source_id,),
            ).fetchone()[0]
        )
        version_id = self._db.execute(
            "INSERT INTO versions (source_id, recorded_at, snapshot_id, sha256, path, clauses,"
            " extractor, technical, number) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                source_id,
                iso(recorded_at),
                snapshot_id,
                sha256,
                path,
                clauses,
                extractor,
                int(technical),
                number,
            ),
        ).lastrowid
        assert version_id is not None
        return Version(
            version_id, source_id, recorded_at, snapshot_id, sha256, path, technical, number
        )

    def set_extractor(self, source_id: str, extractor: str) -> None:
        self._db.execute("UPDATE sources SET extractor = ? WHERE id = ?", (extractor, source_id))

    def add_change(
        self,
        source_id: str,
        at: datetime,
        changeset: ChangeSet,
        path: str,
        sha256: str,
        origin: Origin,
        flags: tuple[Flag, ...],
    ) -> StoredChange:
        """A ChangeSet's row and its flags' rows (its JSON file is already written)."""
        assert changeset.new_version_id is not None
        technical = origin is Origin.TECHNICAL
        change_id = self._db.execute(
            "INSERT INTO changes (source_id, recorded_at, old_version_id, new_version_id, path, sha256,"
            " cosmetic, technical, clause_changes) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                source_id,
                iso(at),
                changeset.old_version_id,
                changeset.new_version_id,
                path,
                sha256,
                int(changeset.is_cosmetic),
                int(technical),
                len(changeset.changes),
            ),
        ).lastrowid
        assert change_id is not None
        self._db.executemany(
            "INSERT INTO flags (change_id, source_id, category, severity, direction, rule_id, evidence,"
            " words, change_index) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    change_id,
                    source_id,
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
            source_id,
            at,
            changeset.old_version_id,
            changeset.new_version_id,
            path,
            changeset.is_cosmetic,
            technical,
        )

    def add_check(self, check: Check) -> None:
        self._db.execute(
            "INSERT INTO checks (source_id, checked_at, outcome, reason, detail, status, url,"
            " snapshot_id, version_id) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                check.source_id,
                iso(check.checked_at),
                check.outcome.value,
                check.reason.value if check.reason else None,
                check.detail,
                check.status,
                check.url,
                check.snapshot_id,
                check.version_id,
            ),
        )

    def set_file(self, row: FileRow, path: str, sha256: str) -> None:
        """Point a row at a restored file (`verify --repair`), inside `write()`."""
        assert row.kind in ("snapshots", "versions", "changes")
        self._db.execute(
            f"UPDATE {row.kind} SET path = ?, sha256 = ? WHERE id = ?", (path, sha256, row.id)
        )

    # --- reads ---------------------------------------------------------------------------

    def latest_snapshot(self, source_id: str) -> StoredSnapshot | None:
        rows = self._rows(
            "SELECT * FROM snapshots WHERE source_id = ? ORDER BY id DESC LIMIT 1", (source_id,)
        )
        return from_row(StoredSnapshot, rows[0]) if rows else None

    def latest_snapshots(self) -> dict[str, StoredSnapshot]:
        """Every source's latest snapshot, by source id, in one query: a pass starts with all."""
        return {
            row["source_id"]: from_row(StoredSnapshot, row)
            for row in self._rows(
                "SELECT * FROM snapshots WHERE id IN (SELECT MAX(id) FROM snapshots GROUP BY source_id)"
            )
        }

    def snapshot(self, snapshot_id: int) -> StoredSnapshot | None:
        rows = self._rows("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,))
        return from_row(StoredSnapshot, rows[0]) if rows else None

    def latest_version(self, source_id: str) -> Version | None:
        rows = self._rows(
            "SELECT * FROM versions WHERE source_id = ? ORDER BY id DESC LIMIT 1", (source_id,)
        )
        return from_row(Version, rows[0]) if rows else None

    def versions(self, source_id: str) -> list[Version]:
        rows = self._rows("SELECT * FROM versions WHERE source_id = ? ORDER BY id", (source_id,))
        return [from_row(Version, row) for row in rows]

    def version(self, version_id: int) -> Version | None:
        rows = self._rows("SELECT * FROM versions WHERE id = ?", (version_id,))
        return from_row(Version, rows[0]) if rows else None

    def version_sha(self, version_id: int) -> str:
        rows = self._rows("SELECT sha256 FROM versions WHERE id = ?", (version_id,))
        return str(rows[0][0]) if rows else ""

    def extractor(self, source_id: str) -> str:
        """The fingerprint of the extraction rules that made one source's latest version."""
        rows = self._rows("SELECT extractor FROM sources WHERE id = ?", (source_id,))
        return str(rows[0][0] or "") if rows else ""

    def extractors(self) -> dict[str, str]:
        """Each source's fingerprint of the extraction rules that made its latest version."""
        return {
            row[0]: str(row[1] or "") for row in self._rows("SELECT id, extractor FROM sources")
        }

    def source_ids(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT id FROM sources ORDER BY id")]

    def checks(self, source_id: str, limit: int = 50) -> list[Check]:
        """The newest checks of a source, newest first."""
        rows = self._rows(
            "SELECT * FROM checks WHERE source_id = ? ORDER BY id DESC LIMIT ?", (source_id, limit)
        )
        return [
            Check(
                row["source_id"],
                from_iso(row["checked_at"]),
                Outcome(row["outcome"]),
                FailureReason(row["reason"]) if row["reason"] else None,
                row["detail"],
                row["status"],
                row["url"],
                row["snapshot_id"],
                row["version_id"],
                row["id"],
            )
            for row in rows
        ]

    def confirmed_versions(self, source_id: str) -> set[int]:
        """The versions of a source that a later check still saw (unchanged, not modified)."""
        rows = self._rows(
            "SELECT DISTINCT version_id FROM checks WHERE source_id = ? AND version_id IS NOT NULL"
            " AND outcome IN (?, ?)",
            (source_id, Outcome.UNCHANGED.value, Outcome.NOT_MODIFIED.value),
        )
        return {int(row[0]) for row in rows}

    def check_history(self, source_id: str, limit: int) -> list[tuple[str, str]]:
        """(outcome, detail) of the newest checks of a source, newest first."""
        rows = self._rows(
            "SELECT outcome, detail FROM checks WHERE source_id = ? ORDER BY id DESC LIMIT ?",
            (source_id, limit),
        )
        return [(row[0], row[1]) for row in rows]

    def last_check(self, source_id: str) -> datetime | None:
        rows = self._rows("SELECT max(checked_at) FROM checks WHERE source_id = ?", (source_id,))
        return from_iso(rows[0][0]) if rows and rows[0][0] else None

    def changes(self, source_id: str) -> list[StoredChange]:
        return self.changes_where("source_id = ?", (source_id,))

    def changes_where(self, condition: str, params: tuple[object, ...] = ()) -> list[StoredChange]:
        """The changes that meet an SQL condition, oldest first (for the ledger's queries)."""
        rows = self._rows(f"SELECT * FROM changes WHERE {condition} ORDER BY id", params)
        return [from_row(StoredChange, row) for row in rows]

    def change(self, change_id: int) -> StoredChange | None:
        rows = self._rows("SELECT * FROM changes WHERE id = ?", (change_id,))
        return from_row(StoredChange, rows[0]) if rows else None

    def flags_of(self, change_id: int) -> list[dict[str, object]]:
        """A change's flags as its JSON file holds them (to rebuild a lost file)."""
        rows = self._rows(
            "SELECT category, severity, direction, rule_id, evidence, words, change_index"
            " FROM flags WHERE change_id = ? ORDER BY id",
            (change_id,),
        )
        return [dict(row) | {"words": json.loads(row["words"])} for row in rows]

    def source(self, source_id: str) -> Source | None:
        """A source as last recorded in the catalog (it may have left sources.yaml since)."""
        rows = self._rows("SELECT * FROM sources WHERE id = ?", (source_id,))
        if not rows:
            return None
        row = rows[0]
        audiences = tuple(a for a in row["audiences"].split(",") if a)
        return Source(
            row["id"], row["platform"], row["document_type"], row["url"], audiences=audiences
        )

    def has_snapshot_url(self, url: str) -> bool:
        """Whether a snapshot was recorded from this URL (imports record `<repo>#<commit>`)."""
        return bool(self._rows("SELECT 1 FROM snapshots WHERE url = ? LIMIT 1", (url,)))

    def names(self, relative: str) -> bool:
        """Whether a row names this archive path."""
        return bool(
            self._rows(
                "SELECT 1 FROM snapshots WHERE path = ? UNION ALL SELECT 1 FROM versions WHERE path = ?"
                " UNION ALL SELECT 1 FROM changes WHERE path = ? LIMIT 1",
                (relative, relative, relative),
            )
        )

    def file_rows(self) -> list[FileRow]:
        """Every row that names a file: snapshots, then versions, then changes."""
        return [
            FileRow(kind, row[0], row[1], row[2], row[3])
            for kind in ("snapshots", "versions", "changes")
            for row in self._rows(f"SELECT id, source_id, path, sha256 FROM {kind} ORDER BY id")
        ]


RowType = TypeVar("RowType", StoredSnapshot, Version, StoredChange)
_TIMES = frozenset({"fetched_at", "recorded_at"})  # ISO text in the catalog
_FLAGS = frozenset({"cosmetic", "technical"})  # 0 or 1 in the catalog


_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (StoredSnapshot, Version, StoredChange)
}


def from_row(cls: type[RowType], row: sqlite3.Row) -> RowType:
    """A StoredSnapshot, Version or StoredChange from a row of its table: each field from the
    column of its name, times parsed, 0/1 flags made bools."""
    values: dict[str, Any] = {name: row[name] for name in _FIELD_NAMES[cls]}
    for name in _TIMES & values.keys():
        values[name] = from_iso(values[name])
    for name in _FLAGS & values.keys():
        values[name] = bool(values[name])
    if "fetched_with" in values:
        values["fetched_with"] = FetchMode(values["fetched_with"])
    return cls(**values)
