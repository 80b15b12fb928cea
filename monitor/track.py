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
import dataclasses
import hashlib
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from monitor import trust, worker
from monitor.alerts import make_alert
from monitor.archive import Archive
from monitor.archive.catalog import StoredChange, StoredSnapshot, conditional_for
from monitor.archive.files import compress_snapshot
from monitor.archive.store import IMPORTED_EXTRACTOR
from monitor.config import Settings
from monitor.diff import diff
from monitor.errors import ArchiveError, DamagedFile
from monitor.extract import markdown, readers
from monitor.fetch import Fetchers
from monitor.fetch.auto import render_instead
from monitor.flag import flag_changes
from monitor.model import (
    Alert,
    ChangeSet,
    Conditional,
    Document,
    FailureReason,
    FetchFailure,
    FetchMode,
    FetchResult,
    NotModified,
    Origin,
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
STOP_GRACE = 2.0  # seconds a stopping pass waits for its fetching threads
# Characters of version texts record_alerts keeps in memory per source: trust looks back over
# the whole history for text a lost section dropped, so most histories are kept whole
TEXT_CHARS_KEPT = 40_000_000


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
                    "version": r.version,  # its number within the source
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


@dataclass(frozen=True, slots=True)
class _LastFetch:
    """What the archive knows of a source before fetching it again."""

    conditional: Conditional | None  # validators for a conditional GET
    sha256: str | None  # of the last snapshot's bytes

    @classmethod
    def of(cls, latest: StoredSnapshot | None) -> _LastFetch:
        return cls(conditional_for(latest), latest.sha256 if latest else None)


def _fetch_and_extract(
    source: Source,
    fetchers: Fetchers,
    last: _LastFetch,
    min_chars: int,
    pool: concurrent.futures.Executor | None = None,
    mode: FetchMode | None = None,
) -> _Work:
    last_sha = last.sha256
    result = fetchers.fetch(source, last.conditional, mode=mode)
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
    if (
        mode is None
        and fetchers.has(FetchMode.BROWSER)
        and render_instead(source, result, extracted)
    ):
        # `auto`: a page with no terms text over plain HTTP (an app shell) is rendered
        escalated = _fetch_and_extract(
            source, fetchers, last, min_chars, pool, mode=FetchMode.BROWSER
        )
        if not isinstance(escalated.result, FetchFailure):
            return escalated
        assert isinstance(extracted, FetchFailure)
        detail = f"{extracted.detail}; in the browser: {escalated.result.detail}"
        extracted = dataclasses.replace(extracted, detail=detail)
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
    old, changeset = _changes_since_last(archive, source.id, document) if document else (None, None)
    if changeset is not None and old is not None and document is not None:
        changeset = trust.with_suspicion(changeset, old, document)
    stored = archive.store(
        result,
        rendered,
        extractor=extractor_fingerprint(source),
        changeset=changeset,
        flags=flag_changes(changeset, rules(), (old, document)) if changeset else (),
        compressed=work.compressed,
    )
    clauses = rendered.clauses
    detail = {
        Outcome.NEW: f"first version, {clauses} clauses",
        Outcome.CHANGED: f"new version, {clauses} clauses",
        Outcome.UNCHANGED: "terms text unchanged",
    }.get(stored.outcome, "")
    version_id = stored.version.id if stored.version else None
    number = stored.version.number if stored.version else None
    return SourceResult(source.id, stored.outcome, detail, version_id, version=number)


def _changes_since_last(
    archive: Archive, source_id: str, document: Document
) -> tuple[Document | None, ChangeSet | None]:
    """The last archived version's Document (the flags read list lead-ins in it) and the
    clause diff from it to `document`; (None, None) when there is no earlier version."""
    previous = archive.latest_version(source_id)
    if previous is None:
        return None, None
    old = archive.read_version(previous)
    return old, None if old == document else diff(old, document, previous.id)


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
    if latest is None or extractor in ("", fingerprint, IMPORTED_EXTRACTOR):
        return False  # (an imported snapshot is OTA's Markdown, not the page: nothing to redo)
    document = readers.extract(
        archive.read_snapshot(latest), source, min_chars=settings.min_clause_chars
    )
    if isinstance(document, FetchFailure):
        return False  # the new selectors fail on the old page; the next fetch will say so
    # A technical upgrade's ChangeSet is kept for the record, but never flagged: it never alerts.
    stored = archive.store(
        archive.read_snapshot(latest),
        document,
        extractor=fingerprint,
        origin=Origin.TECHNICAL,
        recorded_at=now,
        changeset=_changes_since_last(archive, source.id, document)[1],
    )
    return stored.version is not None


def run_pass(
    sources: Sequence[Source],
    archive: Archive,
    fetchers: Fetchers,
    settings: Settings,
    *,
    rules: RuleSet | None = None,
    authority: str = "clausewatch",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_result: Callable[[SourceResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> PassSummary:
    """One tracking pass over `sources`. The caller holds the archive lock.

    When `should_stop` turns true (SIGTERM), the write in progress finishes and the pass ends
    within STOP_GRACE seconds, even with a fetch still waiting on a server; sources not yet
    stored are simply fetched again next time.
    """
    summary = PassSummary(started_at=clock())
    try:
        archive.sync_sources(list(sources), summary.started_at)
    except ArchiveError as exc:  # disk full, read-only: every source fails the same clear way
        for source in sources:
            summary.results.append(SourceResult(source.id, Outcome.FAILED, f"archive: {exc}"))
        summary.finished_at = clock()
        return summary
    _Pass(summary, sources, archive, fetchers, settings, rules, clock, on_result, should_stop).run()
    with contextlib.suppress(ArchiveError):  # idempotent: the next pass or publish catches up
        record_alerts(archive, authority)
    summary.finished_at = clock()
    return summary


class _Pass:
    """The steps of one run_pass: prepare each source's state, fetch on threads (one host's
    sources one after another), and store on the calling thread, committing in batches."""

    def __init__(
        self,
        summary: PassSummary,
        sources: Sequence[Source],
        archive: Archive,
        fetchers: Fetchers,
        settings: Settings,
        rules: RuleSet | None,
        clock: Callable[[], datetime],
        on_result: Callable[[SourceResult], None] | None,
        should_stop: Callable[[], bool],
    ) -> None:
        self.summary = summary
        self.sources = sources
        self.archive = archive
        self.fetchers = fetchers
        self.settings = settings
        self._rules = rules
        self.clock = clock
        self.on_result = on_result
        self.should_stop = should_stop
        self.states: dict[str, _LastFetch] = {}
        # Bounded: fetching threads wait while the archive catches up, so that at most a few
        # fetched pages are held in memory at once, however many sources a pass has.
        self.pending: queue.Queue[_Work] = queue.Queue(maxsize=2 * max(1, settings.workers))
        self.hosts: queue.Queue[list[Source]] = queue.Queue()
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.done: list[SourceResult] = []  # stored, waiting for the next commit to be reported
        self.last_commit = time.monotonic()
        self.stored_all = threading.Event()  # storing ended: fetching threads put nothing more

    def rules(self) -> RuleSet:
        """The rules, compiled the first time a change needs them: a pass where nothing
        changed (most of them) never pays the 0.1 s."""
        if self._rules is None:
            self._rules = load_rules(self.settings.rules or None)
        return self._rules

    def run(self) -> None:
        self.prepare()
        groups: dict[str, list[Source]] = {}
        for source in self.sources:
            groups.setdefault((urlsplit(source.url).hostname or "").lower(), []).append(source)
        for group in groups.values():
            self.hosts.put(group)
        threads = [
            threading.Thread(target=self.fetch_hosts, name=f"track-{n}", daemon=True)
            for n in range(max(1, min(self.settings.workers, len(groups))))
        ]
        self.pool = self.start_pool()
        for thread in threads:
            thread.start()
        try:
            with self.archive.batch():
                self.store_results(threads)
                self.commit()
        except ArchiveError as exc:  # the batch could not start or end: nothing of it is stored
            self.report(exc)
        self.stored_all.set()
        # A stopping pass leaves a fetch that still waits on a server to its deadline: the
        # thread is a daemon, and puts nothing more once it sees the stop.
        grace = time.monotonic() + STOP_GRACE
        for thread in threads:
            thread.join(max(0.0, grace - time.monotonic()) if self.should_stop() else None)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def prepare(self) -> None:
        """Each source's conditional-request state and last hash; re-extract first where the
        extraction rules changed."""
        latest_snapshots, extractors = self.archive.latest_snapshots(), self.archive.extractors()
        for source in self.sources:
            latest = latest_snapshots.get(source.id)
            with contextlib.suppress(ArchiveError):  # the pass reports the same error per source
                upgrade_extraction(
                    source,
                    self.archive,
                    self.settings,
                    self.clock(),
                    latest,
                    extractors.get(source.id, ""),
                )
            self.states[source.id] = _LastFetch.of(latest)

    def start_pool(self) -> concurrent.futures.ProcessPoolExecutor | None:
        """Extraction (CPU work) moves to worker processes once a pass is big enough to repay
        starting them: cores - 1, since this process still fetches and writes. Forked while
        this is the only thread (`clausewatch track`): ready in milliseconds with everything
        imported, where a forkserver worker takes a quarter of a second of CPU to import it
        all. Forking a process with other threads (the daemon's scheduler) is unsafe:
        forkserver there. Rendered pages do not count: the browser keeps the cores busy while
        one renders, and the worker's memory is better left to it."""
        plain = sum(source.fetch is not FetchMode.BROWSER for source in self.sources)
        if plain < PROCESS_POOL_FROM or (os.cpu_count() or 1) <= 1:
            return None
        alone = threading.active_count() == 1
        pool = worker.pool(max(1, (os.cpu_count() or 2) - 1))
        if alone:
            pool.submit(int)  # the first task forks the workers: now, before the threads start
        return pool

    def fetch_hosts(self) -> None:
        """A fetching thread: take one host's sources at a time until none is left."""
        while True:
            try:
                group = self.hosts.get_nowait()
            except queue.Empty:
                return
            for source in group:
                if self.should_stop() or self.stored_all.is_set():
                    return
                try:
                    work = _fetch_and_extract(
                        source,
                        self.fetchers,
                        self.states[source.id],
                        self.settings.min_clause_chars,
                        self.pool,
                    )
                except Exception as exc:  # a bug must not stop the other sources
                    failure = FetchFailure(
                        source.id,
                        self.clock(),
                        source.url,
                        FailureReason.CONNECTION,
                        f"unexpected error: {type(exc).__name__}: {exc}",
                    )
                    work = _Work(source, failure)
                while True:  # wait for room, unless the pass is being stopped
                    try:
                        self.pending.put(work, timeout=0.2)
                        break
                    except queue.Full:
                        if self.should_stop() or self.stored_all.is_set():
                            return

    def store_results(self, threads: list[threading.Thread]) -> None:
        """Store what the threads fetched, as it comes; commit every COMMIT_EVERY results and
        every COMMIT_SECONDS, also while waiting for a slow server."""
        received = 0
        while received < len(self.sources):
            try:
                work = self.pending.get(timeout=0.2)
            except queue.Empty:
                if self.should_stop() or (
                    not any(t.is_alive() for t in threads) and self.pending.empty()
                ):
                    return
                if self.done and time.monotonic() - self.last_commit >= COMMIT_SECONDS:
                    self.commit()
                continue
            received += 1
            try:
                self.done.append(_store(self.archive, work, self.rules))
            except ArchiveError as exc:
                self.done.append(SourceResult(work.source.id, Outcome.FAILED, f"archive: {exc}"))
            if self.should_stop():
                return  # the write in progress is done; the rest is fetched again next time
            if (
                len(self.done) >= COMMIT_EVERY
                or time.monotonic() - self.last_commit >= COMMIT_SECONDS
            ):
                self.commit()

    def report(self, error: ArchiveError | None = None) -> None:
        """Report the stored results waiting in `done`, as failures if `error` kept them from
        being committed."""
        for result in self.done:
            if error is not None:
                result = SourceResult(result.source_id, Outcome.FAILED, f"archive: {error}")
            self.summary.results.append(result)
            if self.on_result:
                self.on_result(result)
        self.done.clear()

    def commit(self) -> None:
        """Commit the batch so far and report its results."""
        try:
            self.archive.commit()
        except ArchiveError as exc:
            self.report(exc)
        else:
            self.report()
        self.last_commit = time.monotonic()


def record_alerts(
    archive: Archive,
    authority: str = "clausewatch",
    tally: Counter[str] | None = None,
    now: datetime | None = None,
    source_id: str | None = None,
    decided: Collection[str] = (),
) -> int:
    """Decide every stored ChangeSet not yet decided (monitor.trust.decide), or `source_id`'s
    (an import decides each document's as soon as it is stored, then the others', leaving
    the sources it `decided` alone): give it its Alert,
    or record that it has none and why; a held one stays undecided until a later capture
    confirms it or undoes it. Idempotent, so a crash between storing a change and alerting on it
    is mended by the next call. `tally` counts the verdicts; returns the alerts made. An alert
    of a kind that waits for a later capture records when it was decided (`now`): the digest
    tells it then (publish.digest.told_at)."""
    made = 0
    decided_at = now or datetime.now(UTC)
    pending: dict[str, list[StoredChange]] = {}
    for change in archive.changes_without_alerts(source_id):
        if change.source_id not in decided:
            pending.setdefault(change.source_id, []).append(change)
    earlier: dict[str, list[Alert]] = {}  # each source's alerts so far, oldest first
    read = archive.alerts(source_id=source_id) if pending else []
    for known in reversed(read):  # read once, not per source
        earlier.setdefault(known.source_id, []).append(known)
    for sid, changes in pending.items():
        source = archive.source(sid)
        if source is None:
            continue
        history = _history(archive, sid, earlier.get(sid, []))
        index = {v.id: n for n, v in enumerate(history.versions)}
        for change in changes:
            changeset = archive.or_skip(archive.read_changeset, change)
            flags = archive.or_skip(archive.read_flags, change)
            if changeset is None or flags is None or change.new_version_id not in index:
                continue  # a damaged change file: reported, and alerted once repaired
            try:
                decision = trust.decide(
                    sid,
                    changeset,
                    flags,
                    change.technical,
                    history,
                    index[change.new_version_id],
                )
            except DamagedFile as exc:  # a version it needs is damaged: decided once repaired
                archive.skipped.append(str(exc))
                continue
            if tally is not None:
                tally[decision.verdict.value] += 1
            if decision.verdict is trust.Verdict.HOLD:
                continue
            alert = None
            if decision.verdict is trust.Verdict.ALERT:
                alert = make_alert(
                    source,
                    change.id,
                    change.recorded_at,
                    changeset,
                    decision.flags,
                    authority=authority,
                    technical=change.technical,
                )
                if alert is not None and decision.waited:  # told when confirmed (digest)
                    alert = dataclasses.replace(alert, decided_at=decided_at)
            archive.record_alert(change, alert, decision.reason)
            if decision.verdict is trust.Verdict.CANCEL:
                history.cancelled.add(change.new_version_id)
            if alert is not None:
                made += 1
                for flag in alert.flags:
                    history.alerted[trust.flag_key(sid, flag)] = change.recorded_at
    return made


def _history(archive: Archive, source_id: str, alerts: list[Alert]) -> trust.History:
    """A source's versions for monitor.trust, their texts read (and normalised) on demand;
    `alerts` are its alerts so far, oldest first."""
    versions = archive.versions(source_id)
    texts: dict[int, str] = {}
    kept = 0  # characters in texts
    confirmed: set[int] | None = None

    def text(i: int) -> str:
        nonlocal kept
        version = versions[i]
        if version.id not in texts:
            read = trust.normal(archive.read_version(version).text)
            while texts and kept + len(read) > TEXT_CHARS_KEPT:  # drop the oldest read
                kept -= len(texts.pop(next(iter(texts))))
            texts[version.id] = read
            kept += len(read)
        return texts[version.id]

    def is_confirmed(i: int) -> bool:
        nonlocal confirmed
        if confirmed is None:
            confirmed = archive.confirmed_versions(source_id)
        return versions[i].id in confirmed

    alerted: dict[str, datetime] = {}
    for alert in alerts:  # oldest first: the newest date of a key stays
        for flag in alert.flags:
            alerted[trust.flag_key(source_id, flag)] = alert.recorded_at
    reasons = archive.alert_reasons(source_id)
    cancelled = {
        change.new_version_id
        for change in archive.changes(source_id)
        if reasons.get(change.id, "").startswith("not alerted")
    }
    return trust.History(versions, text, is_confirmed, alerted, cancelled)
