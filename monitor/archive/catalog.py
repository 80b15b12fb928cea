"""The catalog: the SQLite database beside the archive files, and what can be read from it.

Owns: the schema and its migrations, the connection, one transaction per write (or a savepoint
inside a batch), the row types (StoredSnapshot, StoredChange, Stored) and the queries on
sources, snapshots, versions, changes and checks. The Archive (monitor.archive) builds on it
with the files and the writes of a pass, PublishLog (monitor.archive.ledger) with what was told.
Must never: read or write an archive file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from monitor.errors import ArchiveError
from monitor.model import ChangeSet, Conditional, FetchMode, Outcome, Source, Version

CATALOG = "catalog.sqlite"
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
class Stored:
    """What storing one pass result did."""

    outcome: Outcome
    snapshot_id: int | None = None
    version: Version | None = None
    previous: Version | None = None
    change: StoredChange | None = None
    changeset: ChangeSet | None = None


class Catalog:
    """The catalog of one archive folder, open; `Archive` is the class to use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(root / CATALOG, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveError(f"{root}: cannot open the archive: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._batch = False  # inside Archive.batch(): each write is a savepoint
        self._savepoints = 0
        # The default rollback journal, not WAL: WAL needs its -wal and -shm files writable, so a
        # full disk or a read-only archive could not even be opened to say what is wrong.
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write: its own transaction, or a savepoint inside a batch (see Archive.batch)."""
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

    # --- reads ---------------------------------------------------------------------------

    def latest_snapshot(self, source_id: str) -> StoredSnapshot | None:
        row = self._db.execute(
            "SELECT * FROM snapshots WHERE source_id = ? ORDER BY id DESC LIMIT 1", (source_id,)
        ).fetchone()
        return from_row(StoredSnapshot, row) if row else None

    def latest_snapshots(self) -> dict[str, StoredSnapshot]:
        """Every source's latest snapshot, by source id, in one query: a pass starts with all."""
        return {
            row["source_id"]: from_row(StoredSnapshot, row)
            for row in self._db.execute(
                "SELECT * FROM snapshots WHERE id IN (SELECT MAX(id) FROM snapshots GROUP BY source_id)"
            )
        }

    def latest_version(self, source_id: str) -> Version | None:
        row = self._db.execute(
            "SELECT * FROM versions WHERE source_id = ? ORDER BY id DESC LIMIT 1", (source_id,)
        ).fetchone()
        return from_row(Version, row) if row else None

    def versions(self, source_id: str) -> list[Version]:
        rows = self._db.execute(
            "SELECT * FROM versions WHERE source_id = ? ORDER BY id", (source_id,)
        )
        return [from_row(Version, row) for row in rows]

    def extractors(self) -> dict[str, str]:
        """Each source's fingerprint of the extraction rules that made its latest version."""
        return {
            row[0]: str(row[1] or "")
            for row in self._db.execute("SELECT id, extractor FROM sources")
        }

    def source_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM sources ORDER BY id")]

    def checks(self, source_id: str, limit: int = 50) -> list[sqlite3.Row]:
        return list(
            self._db.execute(
                "SELECT * FROM checks WHERE source_id = ? ORDER BY id DESC LIMIT ?",
                (source_id, limit),
            )
        )

    def changes(self, source_id: str) -> list[StoredChange]:
        rows = self._db.execute(
            "SELECT * FROM changes WHERE source_id = ? ORDER BY id", (source_id,)
        )
        return [from_row(StoredChange, row) for row in rows]

    def change(self, change_id: int) -> StoredChange | None:
        row = self._db.execute("SELECT * FROM changes WHERE id = ?", (change_id,)).fetchone()
        return from_row(StoredChange, row) if row else None

    def source(self, source_id: str) -> Source | None:
        """A source as last recorded in the catalog (it may have left sources.yaml since)."""
        row = self._db.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            return None
        audiences = tuple(a for a in row["audiences"].split(",") if a)
        return Source(
            row["id"], row["platform"], row["document_type"], row["url"], audiences=audiences
        )

    def has_snapshot_url(self, url: str) -> bool:
        """Whether a snapshot was recorded from this URL (imports record `<repo>#<commit>`)."""
        return (
            self._db.execute("SELECT 1 FROM snapshots WHERE url = ? LIMIT 1", (url,)).fetchone()
            is not None
        )

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

    def version_sha(self, version_id: int) -> str:
        row = self._db.execute("SELECT sha256 FROM versions WHERE id = ?", (version_id,)).fetchone()
        return str(row[0]) if row else ""

    def version(self, version_id: int) -> Version | None:
        row = self._db.execute("SELECT * FROM versions WHERE id = ?", (version_id,)).fetchone()
        return from_row(Version, row) if row else None

    def _names(self, relative: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM snapshots WHERE path = ? UNION ALL SELECT 1 FROM versions WHERE path = ?"
                " UNION ALL SELECT 1 FROM changes WHERE path = ? LIMIT 1",
                (relative, relative, relative),
            ).fetchone()
            is not None
        )


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
