"""The archive: every raw snapshot and every extracted version, on disk and in the catalog.

Owns: the Archive, composed of its catalog (monitor.archive.catalog: the SQLite rows and their
queries), its files (monitor.archive.files: atomic writes inside the archive folder), its
ledger (monitor.archive.ledger: alerts, sends, notices) and its integrity check
(monitor.archive.integrity); storing a snapshot or version only when it differs from the last
one; the writes of a pass (a snapshot row and the version row made from it are committed in one
transaction after both files are on disk, so a crash leaves either both or neither; inside a
batch, one syncfs before each commit); reading archived files back; the lock that keeps two
writers apart; `verify` and its repairs. Must never: fetch, parse HTML, or decide what a change
means (repairs get the extraction and the diff from their caller).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from monitor.archive.catalog import (
    CATALOG_REPAIR,
    Catalog,
    Check,
    FileRow,
    Stored,
    StoredChange,
    StoredSnapshot,
    iso,
)
from monitor.archive.files import (
    REPAIR_HINT,
    ArchiveFiles,
    compress_snapshot,
    snapshot_suffix,
    stamp,
    sync_filesystem,
)
from monitor.archive.integrity import Integrity, VerifyReport
from monitor.archive.ledger import Ledger, Notice, SendStatus
from monitor.archive.lock import hold_lock
from monitor.archive.serialize import (
    changeset_from_dict,
    changeset_to_dict,
    flag_from_dict,
    flag_to_dict,
)
from monitor.errors import ArchiveError, ArchiveLocked, DamagedFile
from monitor.extract import markdown
from monitor.model import (
    Alert,
    ChangeSet,
    Document,
    FetchFailure,
    Flag,
    NotModified,
    Origin,
    Outcome,
    Snapshot,
    Source,
    Version,
)
from monitor.sources import check_id

R = TypeVar("R")
T = TypeVar("T")
LOCK = ".lock"
STALE_TEMP_SECONDS = 3600.0  # a temp file this old is no write in progress: a killed run's
REPAIRED_NOTICE = "repaired"
# the extractor of versions imported from an Open Terms Archive versions repository
IMPORTED_EXTRACTOR = "ota-markdown"
READ_VERSIONS = 8  # versions whose Documents read_version remembers

# What `verify --repair` needs from the stages above the archive: a snapshot extracted again
# (or why it no longer extracts), and a ChangeSet rebuilt from its two versions with its flags.
Reextract = Callable[[Snapshot], Document | str]
Rediff = Callable[[Document, Document, int, int, Origin], tuple[ChangeSet, tuple[Flag, ...]]]


@dataclass(slots=True)
class RepairReport:
    """What `verify --repair` did, and what it could not do."""

    repaired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unrepaired


class Archive:
    """One archive folder: its catalog, files, ledger and integrity check. Use
    `with archive.lock():` around writes. `check=False` opens a damaged catalog, to verify it."""

    def __init__(
        self,
        root: Path,
        *,
        lock_timeout: float = 60.0,
        check: bool = True,
        catalog: Catalog | None = None,
    ) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        self.catalog = catalog or Catalog(root, check=check)
        self.files = ArchiveFiles(root)
        self.ledger = Ledger(self.catalog)
        self.integrity = Integrity(self.catalog, self.files)
        self._unsynced = False  # files written in this batch and not yet made durable
        self.skipped: list[str] = []  # damaged files that or_skip() met, for the caller to report
        self._read_versions: OrderedDict[str, Document] = OrderedDict()  # by sha256

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def lock(self, shared: bool = False, timeout: float | None = None) -> Iterator[None]:
        """Hold the archive's write lock; a second writer waits `timeout` seconds (default
        `lock_timeout`), then fails. `shared=True` is for readers: it takes no lock a writer
        holds, only a consistent view of the catalog (Catalog.reading), so `history`, `diff`,
        `show` and `verify` run while an import or a pass writes. They see what it has
        committed: its files are on disk before the rows that name them are committed."""
        if shared:
            with self.catalog.reading():
                yield
            return
        timeout = self.lock_timeout if timeout is None else timeout

        def busy(holder: str) -> ArchiveLocked:
            return ArchiveLocked(
                f"{self.root}: the archive is in use by another clausewatch process"
                f" ({holder or 'unknown holder'}); waited {timeout:.0f}s."
                " Try again when it has finished."
            )

        with hold_lock(self.root / LOCK, timeout=timeout, busy=busy):
            self.catalog.write_ahead()  # readers then read beside this writer
            try:
                # half-written files of a crashed run (never renamed) are not data
                for tmp in self.files.temp_files():
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                yield
            finally:
                self.catalog.write_ahead(False)

    # --- reading files ------------------------------------------------------------------

    def read_snapshot(self, stored: StoredSnapshot) -> Snapshot:
        what = f"snapshot {stored.id} of {stored.source_id}"
        try:
            content = gzip.decompress(self.files.read(stored.path, what))
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DamagedFile(
                f"{self.root / stored.path}: {what} is unreadable ({exc}); {REPAIR_HINT}"
            ) from exc
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
        """The Document of an archived version. The last few read are remembered by their
        file's sha256 (files are never overwritten), so a history flipping between a few texts
        (an import reads each one back to diff the next) parses each once."""
        document = self._read_versions.get(version.sha256)
        if document is not None:
            self._read_versions.move_to_end(version.sha256)
            return document
        document = self._parse_version(version)
        self._remember(version.sha256, document)
        return document

    def _remember(self, sha256: str, document: Document) -> None:
        self._read_versions[sha256] = document
        if len(self._read_versions) > READ_VERSIONS:
            self._read_versions.popitem(last=False)

    def _parse_version(self, version: Version) -> Document:
        data = self.files.read(version.path, f"version {version.id} of {version.source_id}")
        try:
            return markdown.parse(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DamagedFile(
                f"{self.root / version.path}: version {version.id} of {version.source_id}"
                f" is not UTF-8 ({exc}); {REPAIR_HINT}"
            ) from exc

    def _change_data(self, change: StoredChange) -> dict[str, object]:
        what = f"change {change.id} of {change.source_id}"
        data = self.files.read(change.path, what)
        try:
            parsed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DamagedFile(
                f"{self.root / change.path}: {what} is not valid JSON ({exc}); {REPAIR_HINT}"
            ) from exc
        if not isinstance(parsed, dict):
            raise DamagedFile(f"{self.root / change.path}: {what} is not a ChangeSet")
        return parsed

    def read_change_file(self, change: StoredChange) -> dict[str, object]:
        """A change's file as stored: the ChangeSet with its source, recorded_at, technical
        and flags (what `clausewatch diff --json` prints)."""
        return self._change_data(change)

    def read_changeset(self, change: StoredChange) -> ChangeSet:
        return changeset_from_dict(self._change_data(change))

    def read_flags(self, change: StoredChange) -> tuple[Flag, ...]:
        flags = self._change_data(change).get("flags", [])
        return tuple(flag_from_dict(f) for f in flags) if isinstance(flags, list) else ()

    def or_skip(self, read: Callable[[R], T], item: R) -> T | None:
        """`read(item)`, or None if it meets a damaged file (missing, unreadable): the problem is
        kept in `skipped`, for the command to report, and the caller goes on without it."""
        try:
            return read(item)
        except DamagedFile as exc:
            self.skipped.append(str(exc))
            return None

    # --- writes ------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes into few commits (each a few fsyncs). Inside, every write is a
        savepoint; `commit()` makes what is done durable. Files are always on disk before the
        rows that name them, so a crash before a commit only leaves harmless orphans. Writes
        not yet committed when the batch ends with an error are rolled back."""
        self.catalog.begin_batch()
        try:
            yield
            self.catalog.end_batch()
            self._commit()
        except BaseException:
            self.catalog.end_batch()
            self.catalog.rollback()
            raise

    def commit(self) -> None:
        """Inside a batch: make every write so far durable, then go on batching. If the commit
        fails (disk full), its writes are rolled back and the error is raised; the batch goes on."""
        if not self.catalog.in_batch:
            return
        error: ArchiveError | None = None
        try:
            self._commit()
        except ArchiveError as exc:
            error = exc
        self.catalog.restart_batch()
        if error is not None:
            raise error

    def _commit(self) -> None:
        """The files first, then the rows that name them."""
        if self._unsynced:
            try:
                sync_filesystem(self.root)
            except OSError as exc:
                self.catalog.rollback()
                raise ArchiveError(
                    f"{self.catalog.path}: cannot write the archive files: {exc}"
                ) from exc
            self._unsynced = False
        self.catalog.commit()

    def _put(self, relative: str, data: bytes) -> None:
        """Write an archive file. Inside a batch its fsyncs wait for the batch's next commit,
        which syncs the whole file system once before the rows naming it are committed. A
        different file already at the path that no row names is what a crash left before that
        commit (possibly cut short): it was never archived, and is replaced."""
        batch = self.catalog.in_batch
        self.files.write(
            relative, data, sync=not batch, orphan=lambda: not self.catalog.names(relative)
        )
        self._unsynced = self._unsynced or batch

    def _new_path(self, stem: str, suffix: str) -> str:
        """`stem + suffix`, or `stem-2 + suffix` and so on while a row names the path already:
        the same bytes again within the second that the stamp names (a page that flips back
        and forth between passes run close together)."""
        path = stem + suffix
        for n in range(2, 10_000):
            if not (self.files.exists(path) and self.catalog.names(path)):
                return path
            path = f"{stem}-{n}{suffix}"
        raise ArchiveError(f"{self.root / stem}{suffix}: too many files of the same name")

    def _safe_id(self, source_id: str) -> str:
        """A source id names a folder of the archive: an unsafe one is never written."""
        problem = check_id(source_id)
        if problem:
            raise ArchiveError(
                f"{self.root}: refusing the unsafe source id {source_id!r}: {problem}"
            )
        return source_id

    def sync_sources(self, sources: list[Source], now: datetime) -> None:
        """Record new sources and changed descriptions; writes nothing when nothing changed."""
        for source in sources:
            self._safe_id(source.id)
        self.catalog.sync_sources(sources, now)

    def record_failure(self, failure: FetchFailure) -> None:
        with self.catalog.write():
            self.catalog.add_check(
                Check(
                    failure.source_id,
                    failure.fetched_at,
                    Outcome.FAILED,
                    reason=failure.reason,
                    detail=failure.detail,
                    status=failure.status,
                    url=failure.url,
                )
            )

    def record_not_modified(self, result: NotModified) -> None:
        latest = self.catalog.latest_snapshot(result.source_id)
        version = self.catalog.latest_version(result.source_id)  # still seen: it confirms it
        with self.catalog.write():
            self.catalog.add_check(
                Check(
                    result.source_id,
                    result.fetched_at,
                    Outcome.NOT_MODIFIED,
                    url=result.url,
                    snapshot_id=latest.id if latest else None,
                    version_id=version.id if version else None,
                )
            )

    def record_unchanged(
        self, snapshot: Snapshot, detail: str = "same bytes as the last snapshot"
    ) -> None:
        """The server sent the very bytes of the last snapshot: nothing new to store. (Also an
        imported history's later check: `detail` says which.)"""
        latest = self.catalog.latest_snapshot(snapshot.source_id)
        version = self.catalog.latest_version(snapshot.source_id)
        with self.catalog.write():
            self.catalog.add_check(
                Check(
                    snapshot.source_id,
                    snapshot.fetched_at,
                    Outcome.UNCHANGED,
                    detail=detail,
                    status=snapshot.status,
                    url=snapshot.url,
                    snapshot_id=latest.id if latest else None,
                    version_id=version.id if version else None,
                )
            )

    def store(
        self,
        snapshot: Snapshot,
        document: Document | markdown.RenderedVersion,
        *,
        extractor: str = "",
        origin: Origin = Origin.FETCHED,
        recorded_at: datetime | None = None,
        changeset: ChangeSet | None = None,
        flags: tuple[Flag, ...] = (),
        compressed: bytes | None = None,
    ) -> Stored:
        """Archive a snapshot and the Document extracted from it, each only if new.

        `compressed` is `compress_snapshot(snapshot.content)` if the caller already made it,
        and `document` may come as its version file, already rendered (markdown.render_version).
        `origin` TECHNICAL marks a re-extraction of an archived snapshot with new rules or
        selectors: the version is stored but never alerts. `changeset` (from the previous
        version to `document`) is stored with the version, in the same transaction. A version
        from a snapshot fetched another way than the last one (plain HTTP, then rendered in a
        browser, or back) is TECHNICAL too: the way of fetching alone never raises a change.
        """
        sid = self._safe_id(snapshot.source_id)
        recorded_at = recorded_at or snapshot.fetched_at
        latest = self.catalog.latest_snapshot(sid)
        previous = self.catalog.latest_version(sid)
        switched = latest is not None and latest.fetched_with is not snapshot.fetched_with
        if switched and previous is not None:
            origin = Origin.TECHNICAL
        # the first tracked version after imported history is compared with Open Terms
        # Archive's text of the page, extracted its own way: the difference is mostly theirs
        # and ours, so it is stored as technical, as a change of extraction rules is
        after_import = (
            previous is not None
            and extractor != IMPORTED_EXTRACTOR
            and self.catalog.extractor(sid) == IMPORTED_EXTRACTOR
        )
        if after_import:
            origin = Origin.TECHNICAL
        rendered = (
            document
            if isinstance(document, markdown.RenderedVersion)
            else markdown.render_version(document)
        )
        # the files first (nothing names them yet), then the rows, in one transaction
        snapshot_path = self._write_snapshot(snapshot, latest, compressed)
        version_path = self._write_version(sid, rendered, previous, recorded_at)
        with self.catalog.write():
            snapshot_id = latest.id if latest else None
            if snapshot_path:
                snapshot_id = self.catalog.add_snapshot(snapshot, snapshot_path)
            version = None
            if version_path:
                version = self.catalog.add_version(
                    sid,
                    recorded_at,
                    snapshot_id,
                    rendered.sha256,
                    version_path,
                    rendered.clauses,
                    extractor,
                    origin,
                )
            self.catalog.set_extractor(sid, extractor)
            change = None
            if version and changeset is not None and previous is not None:
                changeset = ChangeSet(previous.id, version.id, changeset.changes, changeset.notes)
                change = self._store_changeset(sid, changeset, flags, recorded_at, origin)
            outcome = _outcome(previous, version)
            now_latest = version or previous
            self.catalog.add_check(
                Check(
                    sid,
                    recorded_at,
                    outcome,
                    detail=_check_detail(
                        origin,
                        snapshot_path,
                        version_path,
                        snapshot if switched else None,
                        after_import,
                    ),
                    status=snapshot.status,
                    url=snapshot.url,
                    snapshot_id=snapshot_id,
                    version_id=now_latest.id if now_latest else None,
                )
            )
        if version is not None and not isinstance(document, markdown.RenderedVersion):
            # its file parses back into this very Document (rendering is lossless:
            # test_markdown's round trips), so reading it back to diff the next one need not
            self._remember(rendered.sha256, document)
        return Stored(
            outcome, snapshot_id, version, previous, change, changeset if change else None
        )

    def _write_snapshot(
        self, snapshot: Snapshot, latest: StoredSnapshot | None, compressed: bytes | None
    ) -> str | None:
        """Write the snapshot's file unless it has the last snapshot's bytes; its path or None."""
        if latest is not None and latest.sha256 == snapshot.sha256:
            return None
        path = self._new_path(
            f"{snapshot.source_id}/snapshots/{stamp(snapshot.fetched_at)}-{snapshot.sha256[:8]}",
            snapshot_suffix(snapshot.content_type),
        )
        self._put(path, compressed or compress_snapshot(snapshot.content))
        return path

    def _write_version(
        self,
        sid: str,
        rendered: markdown.RenderedVersion,
        previous: Version | None,
        recorded_at: datetime,
    ) -> str | None:
        """Write the version's file unless it is the last version's text; its path or None."""
        if previous is not None and previous.sha256 == rendered.sha256:
            return None
        path = self._new_path(f"{sid}/versions/{stamp(recorded_at)}-{rendered.sha256[:8]}", ".md")
        self._put(path, rendered.data)
        return path

    def _store_changeset(
        self,
        sid: str,
        changeset: ChangeSet,
        flags: tuple[Flag, ...],
        at: datetime,
        origin: Origin,
    ) -> StoredChange:
        """Write a ChangeSet's JSON (with its flags), then its rows; the caller commits."""
        body = _changeset_json(sid, changeset, flags, at, origin)
        digest = hashlib.sha256(body).hexdigest()
        path = f"{sid}/changes/{stamp(at)}-{digest[:8]}.json"
        self._put(path, body)
        return self.catalog.add_change(sid, at, changeset, path, digest, origin, flags)

    # --- verify and repair -------------------------------------------------------------

    def verify(self) -> VerifyReport:
        return self.integrity.verify()

    def repair(self, reextract: Reextract, rediff: Rediff) -> RepairReport:
        """`verify --repair`, under the exclusive lock: remove the files no row names (what
        killed runs left) and old temp files; write again each lost or damaged version (from
        its snapshot) and change (from its two versions). What cannot be restored (a raw
        snapshot, a version whose snapshot is gone too) is reported, never guessed."""
        report = RepairReport()
        found = self.verify()
        if found.catalog_damaged:
            report.unrepaired.extend(found.problems)
            report.unrepaired.append(
                f"{self.catalog.path}: to repair the catalog: {CATALOG_REPAIR}"
            )
            return report
        for relative in found.orphans:
            self.files.remove(relative)
            report.removed.append(relative)
        for tmp in self.files.temp_files(older_than=STALE_TEMP_SECONDS):
            tmp.unlink(missing_ok=True)
            report.removed.append(tmp.relative_to(self.root).as_posix())
        for row in found.damaged:
            try:
                if row.kind == "versions":
                    done = self._restore_version(row, reextract)
                elif row.kind == "changes":
                    done = self._restore_change(row, rediff)
                else:
                    done = ""
                    report.unrepaired.append(
                        f"{self.root / row.path}: snapshot {row.id} of {row.source_id} cannot be"
                        " restored (the page as served is gone); the versions made from it stand"
                    )
            except ArchiveError as exc:
                report.unrepaired.append(
                    f"{self.root / row.path}: {row.noun} {row.id} of {row.source_id} cannot be"
                    f" {'re-extracted' if row.kind == 'versions' else 'rebuilt'}: {exc}"
                )
                continue
            if done:
                report.repaired.append(done)
                self.ledger.record_notice(row.source_id, datetime.now(UTC), REPAIRED_NOTICE, done)
        return report

    def _restore_version(self, row: FileRow, reextract: Reextract) -> str:
        version = self.catalog.version(row.id)
        snapshot = (
            self.catalog.snapshot(version.snapshot_id) if version and version.snapshot_id else None
        )
        if version is None or snapshot is None:
            raise ArchiveError("it has no snapshot to extract it from")
        try:
            content = self.read_snapshot(snapshot)
        except DamagedFile:
            raise ArchiveError(
                f"its snapshot {snapshot.id} ({snapshot.path}) is damaged or lost too"
            ) from None
        document = reextract(content)
        if isinstance(document, str):
            raise ArchiveError(f"snapshot {snapshot.id} no longer extracts: {document}")
        rendered = markdown.render_version(document)
        return self._restore(row, rendered.data, "re-extracted from its snapshot")

    def _restore_change(self, row: FileRow, rediff: Rediff) -> str:
        change = self.catalog.change(row.id)
        assert change is not None
        new = self.catalog.version(change.new_version_id)
        old = self.catalog.version(change.old_version_id) if change.old_version_id else None
        if old is None or new is None:
            raise ArchiveError("one of its two versions is not in the catalog")
        origin = Origin.TECHNICAL if change.technical else Origin.FETCHED
        changeset, flags = rediff(
            self.read_version(old), self.read_version(new), old.id, new.id, origin
        )
        body = _changeset_json(row.source_id, changeset, flags, change.recorded_at, origin)
        return self._restore(row, body, "rebuilt from its two versions")

    def _restore(self, row: FileRow, data: bytes, how: str) -> str:
        """Write `data` for a damaged row: at its own path when it is the very content lost;
        else beside it (`-repaired`), the row then naming it, and the report saying so."""
        digest = hashlib.sha256(data).hexdigest()
        what = f"{row.noun} {row.id} of {row.source_id}"
        if digest == row.sha256:
            self.files.write(row.path, data, sync=True, orphan=lambda: True)
            return f"{self.root / row.path}: {what} {how}"
        stem, _, suffix = row.path.rpartition("/")[2].partition(".")
        folder = row.path.rpartition("/")[0]
        path = self._new_path(f"{folder}/{stem}-repaired", f".{suffix}")
        self.files.write(path, data, sync=True, orphan=lambda: True)
        with self.catalog.write():
            self.catalog.set_file(row, path, digest)
        return (
            f"{self.root / path}: {what} {how}; it differs from the lost file (the rules or"
            " the extraction changed since), so it was written beside it and marked repaired"
        )

    # --- the catalog's and the ledger's reads and writes, for callers ----------------------

    def latest_snapshot(self, source_id: str) -> StoredSnapshot | None:
        return self.catalog.latest_snapshot(source_id)

    def latest_snapshots(self) -> dict[str, StoredSnapshot]:
        return self.catalog.latest_snapshots()

    def latest_version(self, source_id: str) -> Version | None:
        return self.catalog.latest_version(source_id)

    def versions(self, source_id: str) -> list[Version]:
        return self.catalog.versions(source_id)

    def version(self, version_id: int) -> Version | None:
        return self.catalog.version(version_id)

    def version_sha(self, version_id: int) -> str:
        return self.catalog.version_sha(version_id)

    def extractors(self) -> dict[str, str]:
        return self.catalog.extractors()

    def source_ids(self) -> list[str]:
        return self.catalog.source_ids()

    def source(self, source_id: str) -> Source | None:
        return self.catalog.source(source_id)

    def checks(self, source_id: str, limit: int = 50) -> list[Check]:
        return self.catalog.checks(source_id, limit)

    def check_history(self, source_id: str, limit: int) -> list[tuple[str, str]]:
        return self.catalog.check_history(source_id, limit)

    def last_check(self, source_id: str) -> datetime | None:
        return self.catalog.last_check(source_id)

    def changes(self, source_id: str) -> list[StoredChange]:
        return self.catalog.changes(source_id)

    def change(self, change_id: int) -> StoredChange | None:
        return self.catalog.change(change_id)

    def has_snapshot_url(self, url: str) -> bool:
        return self.catalog.has_snapshot_url(url)

    def changes_without_alerts(self, source_id: str | None = None) -> list[StoredChange]:
        return self.ledger.changes_without_alerts(source_id)

    def record_alert(self, change: StoredChange, alert: Alert | None, reason: str = "") -> None:
        self.ledger.record_alert(change, alert, reason)

    def alert_reasons(self, source_id: str) -> dict[int, str]:
        return self.ledger.reasons(source_id)

    def confirmed_versions(self, source_id: str) -> set[int]:
        return self.catalog.confirmed_versions(source_id)

    def alerts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        source_id: str | None = None,
    ) -> list[Alert]:
        return self.ledger.alerts(since, until, source_id)

    def sent(self, period: str, recipient: str) -> bool:
        return self.ledger.sent(period, recipient)

    def record_send(
        self,
        period: str,
        recipient: str,
        at: datetime,
        status: SendStatus,
        message_id: str | None,
        error: str = "",
    ) -> None:
        self.ledger.record_send(period, recipient, at, status, message_id, error)

    def last_send_at(self) -> datetime | None:
        return self.ledger.last_send_at()

    def record_notice(self, source_id: str, at: datetime, kind: str, detail: str) -> None:
        self.ledger.record_notice(source_id, at, kind, detail)

    def notices(self, since: datetime | None = None) -> list[Notice]:
        return self.ledger.notices(since)


def _outcome(previous: Version | None, version: Version | None) -> Outcome:
    if version is None:
        return Outcome.UNCHANGED
    return Outcome.NEW if previous is None else Outcome.CHANGED


def _check_detail(
    origin: Origin,
    snapshot_path: str | None,
    version_path: str | None,
    switched: Snapshot | None = None,
    after_import: bool = False,
) -> str:
    if version_path is None and snapshot_path is not None:
        return "the page changed but its terms text did not"
    if after_import and version_path is not None:
        return (
            "first tracked version after imported history: compared with Open Terms Archive's"
            " extraction of the page, stored as technical, never alerts"
        )
    if switched is not None and version_path is not None:
        return f"fetched with {switched.fetched_with.value}: stored as technical, never alerts"
    return "technical upgrade: re-extracted with new rules" if origin is Origin.TECHNICAL else ""


def _changeset_json(
    sid: str, changeset: ChangeSet, flags: tuple[Flag, ...], at: datetime, origin: Origin
) -> bytes:
    """A ChangeSet's file: its JSON form, with where it belongs and its flags."""
    assert changeset.new_version_id is not None
    data: dict[str, object] = {
        "source_id": sid,
        "recorded_at": iso(at),
        "technical": origin is Origin.TECHNICAL,
    }
    data |= changeset_to_dict(changeset)
    data["flags"] = [flag_to_dict(f) for f in flags]
    # no indent: json's C encoder (with indent it is pure Python, 14 % of an import's time)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")
