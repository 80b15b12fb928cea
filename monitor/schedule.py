"""The scheduler daemon: `clausewatch run` (APScheduler lives here, pinned to 3.x).

Owns: one job per source from its schedule (an interval with jitter, or a 5-field cron line
with cron's weekday numbers, 0 = Sunday), the weekly digest job, and the pass job that fetches
every source whose job has fired (so that due sources are fetched together, hosts in
parallel); due times kept in the catalog so that a restart resumes (a missed run is one run,
not many); one daemon per archive; SIGTERM/SIGINT finish the write in progress and release
the lock; the maintainer error policy (a source is reported after N consecutive failures,
once, and again when it recovers: to the log and the maintainer feed, never to creators).
Job functions are methods of a Daemon built from sources.yaml at start, never pickled
references, so no stored job can vanish because its function moved. Must never: parse pages
or judge changes (it only calls track and publish).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from monitor.archive import Archive
from monitor.archive.lock import hold_lock
from monitor.config import Settings, cron_trigger, parse_interval, trigger_for
from monitor.errors import ArchiveLocked
from monitor.fetch import fetchers_for
from monitor.fetch.http import HttpFetcher
from monitor.model import Outcome, Source
from monitor.publish.digest import period_of_send
from monitor.rules.files import load_rules
from monitor.track import PassSummary, run_pass

log = logging.getLogger("clausewatch.schedule")
DIGEST_JOB = "digest"
PASS_JOB = "pass"
# After SIGTERM, the pass ends within seconds (track.STOP_GRACE); should anything else still
# hold the daemon this long after the signal, it exits at once (the kernel releases its locks,
# SQLite rolls back what was not committed).
STOP_DEADLINE = 15.0


def next_due(
    schedule: str, last_run: datetime | None, now: datetime, rng: random.Random | None = None
) -> datetime:
    """When a job should next run, given when it last ran: never ran, or overdue -> now (all
    missed runs are one run); otherwise the next time its schedule allows."""
    if last_run is None:
        return now
    interval = parse_interval(schedule)
    if interval is not None:
        every, jitter = interval
        due = last_run + timedelta(seconds=every + (rng or random).uniform(0, jitter))
    else:
        fire = cron_trigger(schedule).get_next_fire_time(None, last_run + timedelta(seconds=1))
        due = fire if fire is not None else now
    return max(due, now) if due > now else now


def previous_fire(
    trigger: CronTrigger, now: datetime, horizon: timedelta = timedelta(days=8)
) -> datetime | None:
    """The last time a cron trigger fired at or before `now`, within `horizon` (a digest that was
    due while the daemon was down is sent at start, once)."""
    fire = trigger.get_next_fire_time(None, now - horizon)
    last = None
    for _ in range(20_000):  # bounded: a cron line that fires every minute for 8 days is 11,520
        if fire is None or fire > now:
            break
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


class NoticeKind(StrEnum):
    FAILING = "failing"  # failed N checks in a row
    RECOVERED = "recovered"  # fetched again after N or more failures


@dataclass(frozen=True, slots=True)
class FailureNotice:
    """A maintainer's notice: a source failing N times in a row, or recovering."""

    source_id: str
    at: datetime
    kind: NoticeKind
    detail: str


def failure_notices(
    history: Sequence[tuple[str, str]], source_id: str, at: datetime, threshold: int
) -> list[FailureNotice]:
    """Notices due after the newest check. `history` is (outcome, detail), newest first."""
    if not history:
        return []
    streak = 0
    for outcome, _ in history:
        if outcome != Outcome.FAILED.value:
            break
        streak += 1
    newest_outcome, newest_detail = history[0]
    if newest_outcome == Outcome.FAILED.value and streak == threshold:
        return [
            FailureNotice(
                source_id,
                at,
                NoticeKind.FAILING,
                f"{threshold} failed checks in a row; last: {newest_detail}",
            )
        ]
    if newest_outcome != Outcome.FAILED.value and len(history) > threshold:
        previous = 0
        for outcome, _ in history[1:]:
            if outcome != Outcome.FAILED.value:
                break
            previous += 1
        if previous >= threshold:
            return [
                FailureNotice(
                    source_id,
                    at,
                    NoticeKind.RECOVERED,
                    f"fetched again after {previous} failed checks",
                )
            ]
    return []


class DaemonLock:
    """One daemon per archive: a second `clausewatch run` refuses to start."""

    def __init__(self, archive_dir: Path) -> None:
        self.path = archive_dir / ".daemon.lock"
        self._held = contextlib.ExitStack()

    def __enter__(self) -> DaemonLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def busy(holder: str) -> ArchiveLocked:
            return ArchiveLocked(
                f"{self.path.parent}: another `clausewatch run` is already watching this archive "
                f"({holder or 'unknown process'}); stop it first, or use another archive"
            )

        self._held.enter_context(hold_lock(self.path, busy=busy))
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.close()


class Daemon:
    """The jobs of one `clausewatch run`, over the sources given at start."""

    def __init__(
        self,
        sources: Sequence[Source],
        settings: Settings,
        *,
        publish: Callable[[Archive], None],
        send_digest: Callable[[], None] | None = None,
        digest_schedule: str = "0 8 * * 1",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sources = {s.id: s for s in sources if s.enabled}
        self.settings = settings
        self.publish = publish
        self.send_digest = send_digest
        self.digest_schedule = digest_schedule
        self.clock = clock
        self.stop = threading.Event()
        self.due: set[str] = set()
        self.guard = threading.Lock()
        self.http = HttpFetcher(settings.fetch)  # its robots.txt cache lasts across passes
        self.rules = load_rules(settings.rules or None)
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600},
        )

    def last_runs(self) -> dict[str, datetime | None]:
        with Archive(self.settings.archive_dir, lock_timeout=self.settings.lock_timeout) as archive:
            return {sid: archive.last_check(sid) for sid in self.sources}

    def plan(self, now: datetime) -> dict[str, datetime]:
        """The first due time of every source job, from the catalog's last checks."""
        last = self.last_runs()
        return {sid: next_due(s.schedule, last[sid], now) for sid, s in self.sources.items()}

    def mark_due(self, source_id: str) -> None:
        with self.guard:
            self.due.add(source_id)
        if self.scheduler.running:
            self.scheduler.modify_job(PASS_JOB, next_run_time=self.clock())

    def run_due(self) -> PassSummary | None:
        """Fetch every source whose job has fired, in one pass; then alerts and publishing."""
        with self.guard:
            chosen = [self.sources[sid] for sid in sorted(self.due) if sid in self.sources]
            self.due.clear()
        if not chosen or self.stop.is_set():
            return None
        with (
            fetchers_for(self.settings.fetch, self.http) as fetchers,  # a browser per pass
            Archive(self.settings.archive_dir, lock_timeout=self.settings.lock_timeout) as archive,
            archive.lock(),
        ):
            summary = run_pass(
                chosen,
                archive,
                fetchers,
                self.settings,
                rules=self.rules,
                authority=self.settings.tag_authority,
                clock=self.clock,
                should_stop=self.stop.is_set,
            )
            for result in summary.results:
                history = archive.check_history(
                    result.source_id, self.settings.failure_alert_after + 1
                )
                for notice in failure_notices(
                    history, result.source_id, self.clock(), self.settings.failure_alert_after
                ):
                    level = logging.WARNING if notice.kind is NoticeKind.FAILING else logging.INFO
                    log.log(level, "source %s %s: %s", notice.source_id, notice.kind, notice.detail)
                    archive.record_notice(notice.source_id, notice.at, notice.kind, notice.detail)
            if any(
                r.outcome in (Outcome.NEW, Outcome.CHANGED) for r in summary.results
            ) or archive.notices(since=summary.started_at):
                self.publish(archive)
        counts = ", ".join(f"{n} {k}" for k, n in summary.counts.items() if n)
        log.info("pass over %d sources: %s", len(chosen), counts)
        return summary

    def add_jobs(self, now: datetime) -> None:
        for sid, first in self.plan(now).items():
            self.scheduler.add_job(
                self.mark_due,
                trigger_for(self.sources[sid].schedule),
                args=[sid],
                id=f"source:{sid}",
                next_run_time=first,
            )
        self.scheduler.add_job(self.run_due, "interval", hours=24, id=PASS_JOB, next_run_time=now)
        if self.send_digest is not None:
            trigger = cron_trigger(self.digest_schedule)
            with Archive(
                self.settings.archive_dir, lock_timeout=self.settings.lock_timeout
            ) as archive:
                missed = previous_fire(trigger, now)
                # overdue when someone has not had the period of the last scheduled time (not
                # "no send since": a past period sent by hand, `digest --until`, is not it)
                key = period_of_send(missed, self.settings.digest_days).key if missed else ""
                overdue = missed is not None and any(
                    not archive.sent(key, s.email) for s in self.settings.mail.subscribers
                )
            self.scheduler.add_job(
                self.send_digest,
                trigger,
                id=DIGEST_JOB,
                **({"next_run_time": now} if overdue else {}),
            )

    def once(self) -> PassSummary | None:
        """`clausewatch run --once`: one pass over everything due now, then return."""
        now = self.clock()
        for sid, due in self.plan(now).items():
            if due <= now:
                self.due.add(sid)
        return self.run_due()

    def forever(self) -> None:
        """Run until SIGTERM or SIGINT; the pass in progress finishes its current write."""

        def shut_down(signum: int, _frame: object) -> None:
            log.info("signal %d: finishing the write in progress, then stopping", signum)
            self.stop.set()
            threading.Thread(
                target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True
            ).start()
            threading.Thread(target=exit_if_still_running, daemon=True).start()

        def exit_if_still_running() -> None:
            time.sleep(STOP_DEADLINE)
            log.error("still busy %.0f s after the signal: exiting now", STOP_DEADLINE)
            logging.shutdown()
            os._exit(1)

        signal.signal(signal.SIGTERM, shut_down)
        signal.signal(signal.SIGINT, shut_down)
        self.add_jobs(self.clock())
        log.info("watching %d sources; state in %s", len(self.sources), self.settings.archive_dir)
        self.scheduler.start()
        self.http.close()
