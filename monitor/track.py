"""Tracking: the pipeline for one source and for many, fetch -> extract -> archive.

Owns: one tracking pass over a list of sources (hosts fetched concurrently by a bounded thread
pool, the sources of one host one after another), the raw-hash short-circuit (same bytes as the
last snapshot: no parsing), re-extracting the last snapshot first when extraction rules or
selectors changed (a technical upgrade, which never alerts), and the error policy: a failed
source records its failure, keeps its last good version, and the pass goes on. Archive writes
happen on the calling thread only. Must never: print, exit, or read settings files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import multiprocessing
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from monitor import worker
from monitor.alerts import make_alert
from monitor.archive import Archive
from monitor.archive.catalog import StoredSnapshot, conditional_for
from monitor.archive.files import compress_snapshot
from monitor.config import Settings
from monitor.diff import diff
from monitor.errors import ArchiveError
from monitor.extract import html as extract
from monitor.extract import markdown
from monitor.fetch.http import Fetcher
from monitor.flag import flag_changes
from monitor.model import (
    ChangeSet,
    Document,
    FailureReason,
    FetchFailure,
    FetchResult,
    NotModified,
    Outcome,
    Snapshot,
    Source,
    SourceResult,
)
from monitor.rules.files import load_rules
from monitor.rules.language import RuleSet

# Bump when extraction rules change in a way that changes Documents: every source's last
# snapshot is then re-extracted once and the difference stored as a technical upgrade.
EXTRACTOR_VERSION = "1"
PROCESS_POOL_FROM = 24  # sources in a pass before extraction moves to worker processes
COMMIT_EVERY = 25  # stored sources per catalog commit (each commit costs a few fsyncs)
COMMIT_SECONDS = 1.0  # and at least this often, so that progress is durable


def extractor_fingerprint(source: Source) -> str:
    """Identifies the rules that turn this source's page into a Document."""
    parts = [
        EXTRACTOR_VERSION,
        "|".join(map(str, source.select)),
        "|".join(map(str, source.remove)),
    ]
    for page in source.pages:  # (none for a one-page source: its fingerprint stays as it was)
        parts += [page.url, "|".join(map(str, page.select)), "|".join(map(str, page.remove))]
    spec = "\n".join(parts)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


@dataclass(slots=True)
class PassSummary:
    """The results of one pass, in the order sources finished."""

    started_at: datetime
    finished_at: datetime | None = None
    results: list[SourceResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.outcome.value for r in self.results)
        return {o.value: counted.get(o.value, 0) for o in Outcome}

    @property
    def all_failed(self) -> bool:
        return bool(self.results) and all(r.outcome is Outcome.FAILED for r in self.results)

    def as_dict(self) -> dict[str, object]:
        return {
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": self.finished_at.isoformat(timespec="seconds")
            if self.finished_at
            else None,
            "counts": self.counts,
            "sources": [
                {
                    "id": r.source_id,
                    "outcome": r.outcome.value,
                    "detail": r.detail,
                    "version_id": r.version_id,
                    "reason": r.failure.reason.value if r.failure else None,
                }
                for r in sorted(self.results, key=lambda r: r.source_id)
            ],
        }


@dataclass(frozen=True, slots=True)
class _Work:
    """What a fetching thread found for one source, before anything is archived. A new
    snapshot comes with its rendered version and, unless it is the source's first, its
    Document for the diff."""

    source: Source
    result: FetchResult
    document: Document | FetchFailure | None = None
    same_bytes: bool = False
    compressed: bytes | None = None  # the snapshot, gzipped on the fetching thread
    rendered: markdown.RenderedVersion | None = None


def _fetch_and_extract(
    source: Source,
    fetcher: Fetcher,
    archive_state: tuple[object, str | None],
    min_chars: int,
    pool: concurrent.futures.Executor | None = None,
) -> _Work:
    conditional, last_sha = archive_state
    result = fetcher.fetch(source, conditional)  # type: ignore[arg-type]
    if not isinstance(result, Snapshot):
        return _Work(source, result)
    if result.sha256 == last_sha:
        return _Work(source, result, same_bytes=True)
    # The Document itself is only kept if a diff will need it: a first version is stored as
    # rendered.
    with_document = last_sha is not None
    if pool is None:
        extracted, rendered = worker.extract_version(result, source, min_chars, with_document)
        compressed = compress_snapshot(result.content) if rendered else None
    else:
        # CPU work on two cores at once: another process extracts and renders while this
        # thread gzips the snapshot (ISA-L runs without the GIL). A snapshot that fails
        # extraction is not kept, and its gzip is wasted; that is rare.
        extracting = pool.submit(worker.extract_version, result, source, min_chars, with_document)
        compressed = compress_snapshot(result.content)
        extracted, rendered = extracting.result()
    return _Work(source, result, extracted, compressed=compressed, rendered=rendered)


def _failed(source: Source, failure: FetchFailure) -> SourceResult:
    return SourceResult(
        source.id, Outcome.FAILED, f"{failure.reason.value}: {failure.detail}", failure=failure
    )


def _store(archive: Archive, work: _Work, rules: Callable[[], RuleSet]) -> SourceResult:
    source, result = work.source, work.result
    if isinstance(result, NotModified):
        archive.record_not_modified(result)
        return SourceResult(source.id, Outcome.NOT_MODIFIED, "HTTP 304")
    if isinstance(result, FetchFailure):
        archive.record_failure(result)
        return _failed(source, result)
    if work.same_bytes:
        archive.record_unchanged(result)
        return SourceResult(source.id, Outcome.UNCHANGED, "same bytes as the last snapshot")
    if isinstance(work.document, FetchFailure):
        archive.record_failure(work.document)
        return _failed(source, work.document)
    rendered, document = work.rendered, work.document
    assert rendered is not None
    if document is None and archive.latest_version(source.id) is not None:
        # sent without its Document, as the source had no snapshot when fetched; a pass
        # holds the archive lock, so this is not expected, but a version is never stored
        # without its diff (parsing it back takes 7.5 ms)
        document = markdown.parse(rendered.data.decode("utf-8"))
    changeset = _changes_since_last(archive, source.id, document) if document else None
    stored = archive.store(
        result,
        rendered,
        extractor=extractor_fingerprint(source),
        changeset=changeset,
        flags=flag_changes(changeset, rules()) if changeset else (),
        compressed=work.compressed,
    )
    clauses = rendered.clauses
    detail = {
        Outcome.NEW: f"first version, {clauses} clauses",
        Outcome.CHANGED: f"new version, {clauses} clauses",
        Outcome.UNCHANGED: "terms text unchanged",
    }.get(stored.outcome, "")
    version_id = stored.version.id if stored.version else None
    return SourceResult(source.id, stored.outcome, detail, version_id)


def _changes_since_last(archive: Archive, source_id: str, document: Document) -> ChangeSet | None:
    """The clause diff from the last archived version to `document`, or None if there is none."""
    previous = archive.latest_version(source_id)
    if previous is None:
        return None
    old = archive.read_version(previous)
    return None if old == document else diff(old, document, previous.id)


def upgrade_extraction(
    source: Source,
    archive: Archive,
    settings: Settings,
    now: datetime,
    latest: StoredSnapshot | None,
    extractor: str,
) -> bool:
    """Re-extract `latest`, the last snapshot, if the extraction rules changed since
    `extractor` made its version; True if a version was added."""
    fingerprint = extractor_fingerprint(source)
    if latest is None or extractor in ("", fingerprint):
        return False
    document = extract.extract(
        archive.read_snapshot(latest), source, min_chars=settings.min_clause_chars
    )
    if isinstance(document, FetchFailure):
        return False  # the new selectors fail on the old page; the next fetch will say so
    # A technical upgrade's ChangeSet is kept for the record, but never flagged: it never alerts.
    stored = archive.store(
        archive.read_snapshot(latest),
        document,
        extractor=fingerprint,
        technical=True,
        recorded_at=now,
        changeset=_changes_since_last(archive, source.id, document),
    )
    return stored.version is not None


def run_pass(
    sources: Sequence[Source],
    archive: Archive,
    fetcher: Fetcher,
    settings: Settings,
    *,
    rules: RuleSet | None = None,
    authority: str = "clausewatch",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_result: Callable[[SourceResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> PassSummary:
    """One tracking pass over `sources`. The caller holds the archive lock.

    When `should_stop` turns true (SIGTERM), the write in progress finishes and the pass ends;
    sources not yet stored are simply fetched again next time.
    """
    loaded = [rules] if rules else []

    def current_rules() -> RuleSet:
        """The rules, compiled the first time a change needs them: a pass where nothing
        changed (most of them) never pays the 0.1 s."""
        if not loaded:
            loaded.append(load_rules())
        return loaded[0]

    summary = PassSummary(started_at=clock())
    try:
        archive.sync_sources(list(sources), summary.started_at)
    except ArchiveError as exc:  # disk full, read-only: every source fails the same clear way
        for source in sources:
            summary.results.append(SourceResult(source.id, Outcome.FAILED, f"archive: {exc}"))
        summary.finished_at = clock()
        return summary
    states: dict[str, tuple[object, str | None]] = {}
    latest_snapshots, extractors = archive.latest_snapshots(), archive.extractors()
    for source in sources:
        latest = latest_snapshots.get(source.id)
        with contextlib.suppress(ArchiveError):  # the pass below reports the same error per source
            upgrade_extraction(
                source, archive, settings, clock(), latest, extractors.get(source.id, "")
            )
        states[source.id] = (conditional_for(latest), latest.sha256 if latest else None)
    groups: dict[str, list[Source]] = {}
    for source in sources:
        groups.setdefault((urlsplit(source.url).hostname or "").lower(), []).append(source)
    # Bounded: workers wait while the archive catches up, so that at most a few fetched pages
    # are held in memory at once, however many sources a pass has.
    pending: queue.Queue[_Work] = queue.Queue(maxsize=2 * max(1, settings.workers))
    host_queue: queue.Queue[list[Source]] = queue.Queue()
    for group in groups.values():
        host_queue.put(group)

    def fetch_sources() -> None:
        while True:
            try:
                group = host_queue.get_nowait()
            except queue.Empty:
                return
            for source in group:
                if should_stop():
                    return
                try:
                    work = _fetch_and_extract(
                        source, fetcher, states[source.id], settings.min_clause_chars, pool
                    )
                except Exception as exc:  # a bug must not stop the other sources
                    failure = FetchFailure(
                        source.id,
                        clock(),
                        source.url,
                        FailureReason.CONNECTION,
                        f"unexpected error: {type(exc).__name__}: {exc}",
                    )
                    work = _Work(source, failure)
                while True:  # wait for room, unless the pass is being stopped
                    try:
                        pending.put(work, timeout=0.2)
                        break
                    except queue.Full:
                        if should_stop():
                            return

    threads = [
        threading.Thread(target=fetch_sources, name=f"track-{n}", daemon=True)
        for n in range(max(1, min(settings.workers, len(groups))))
    ]
    # Extraction (CPU work) moves to a worker process once a pass is big enough to repay
    # starting it: cores - 1 of them, since this process still fetches and writes. Forked while
    # this is the only thread (`clausewatch track`): ready in milliseconds with everything
    # imported, where a forkserver worker takes a quarter of a second of CPU to import it all.
    # Forking a process with other threads (the daemon's scheduler) is unsafe: forkserver there.
    pool = None
    if len(sources) >= PROCESS_POOL_FROM and (os.cpu_count() or 1) > 1:
        alone = threading.active_count() == 1
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=max(1, (os.cpu_count() or 2) - 1),
            mp_context=multiprocessing.get_context("fork" if alone else "forkserver"),
            initializer=worker.end_with_parent,
        )
        if alone:
            pool.submit(int)  # the first task forks the workers: now, before the threads start
    for thread in threads:
        thread.start()
    done: list[SourceResult] = []  # stored, waiting for the next commit to be reported
    last_commit = time.monotonic()

    def report(error: ArchiveError | None = None) -> None:
        """Report the stored results waiting in `done`, as failures if `error` kept them from
        being committed."""
        for result in done:
            if error is not None:
                result = SourceResult(result.source_id, Outcome.FAILED, f"archive: {error}")
            summary.results.append(result)
            if on_result:
                on_result(result)
        done.clear()

    def commit() -> None:
        """Commit the batch so far and report its results."""
        nonlocal last_commit
        try:
            archive.commit()
        except ArchiveError as exc:
            report(exc)
        else:
            report()
        last_commit = time.monotonic()

    received = 0
    try:
        with archive.batch():
            while received < len(sources):
                try:
                    work = pending.get(timeout=0.2)
                except queue.Empty:
                    if should_stop() or (
                        not any(t.is_alive() for t in threads) and pending.empty()
                    ):
                        break
                    continue
                received += 1
                try:
                    done.append(_store(archive, work, current_rules))
                except ArchiveError as exc:
                    done.append(SourceResult(work.source.id, Outcome.FAILED, f"archive: {exc}"))
                if should_stop():
                    break  # the write in progress is done; the rest is fetched again next time
                if len(done) >= COMMIT_EVERY or time.monotonic() - last_commit >= COMMIT_SECONDS:
                    commit()
            commit()
    except ArchiveError as exc:  # the batch could not start or end: nothing of it is stored
        report(exc)
    for thread in threads:
        thread.join()
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    with contextlib.suppress(ArchiveError):  # idempotent: the next pass or publish catches up
        record_alerts(archive, authority)
    summary.finished_at = clock()
    return summary


def record_alerts(archive: Archive, authority: str = "clausewatch") -> int:
    """Give every stored ChangeSet its Alert (or record that it has none). Idempotent, so a
    crash between storing a change and alerting on it is mended by the next call."""
    made = 0
    for change in archive.changes_without_alerts():
        source = archive.source(change.source_id)
        if source is None:
            continue
        alert = make_alert(
            source,
            change.id,
            change.recorded_at,
            archive.version_sha(change.new_version_id),
            archive.read_changeset(change),
            archive.read_flags(change),
            authority=authority,
            technical=change.technical,
        )
        archive.record_alert(change, alert)
        made += alert is not None
    return made
