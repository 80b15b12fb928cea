"""schedule.py: trigger maths as pure functions, the failure policy, and a real daemon in a
subprocess that is stopped with SIGTERM and restarted against a loopback server."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli.main import ExitStatus
from monitor.config import cron_trigger, cron_weekdays
from monitor.schedule import failure_notices, next_due, previous_fire
from tests.conftest import ROOT, run_cli, terms_html, write_sources

WED = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1", "mon"),
        ("1-5", "mon-fri"),
        ("0,6", "sun,sat"),
        ("*", "*"),
        ("MON", "mon"),
        ("*/2", "*/2"),
    ],
)
def test_cron_weekday_numbers_mean_what_cron_means(field: str, names: str) -> None:
    assert cron_weekdays(field) == names


def test_cron_trigger_fires_on_monday_morning() -> None:
    assert cron_trigger("0 6 * * 1").get_next_fire_time(None, WED) == datetime(
        2026, 11, 30, 6, 0, tzinfo=UTC
    )
    assert cron_trigger("30 8 * * 0").get_next_fire_time(None, WED) == datetime(
        2026, 11, 29, 8, 30, tzinfo=UTC
    )


def test_next_due() -> None:
    rng = random.Random(1)
    assert next_due("every 6h ~30m", None, WED) == WED  # never ran: now
    due = next_due("every 6h ~30m", WED - timedelta(hours=1), WED, rng)
    assert WED + timedelta(hours=5) <= due <= WED + timedelta(hours=5, minutes=30)
    assert next_due("every 6h", WED - timedelta(days=3), WED) == WED  # many missed runs: one, now
    assert next_due("0 6 * * 1", WED - timedelta(hours=1), WED) == datetime(
        2026, 11, 30, 6, 0, tzinfo=UTC
    )
    assert next_due("0 6 * * 1", WED - timedelta(days=7), WED) == WED  # Monday's run was missed


def test_previous_fire() -> None:
    assert previous_fire(cron_trigger("0 8 * * 1"), WED) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_failure_policy_reports_once_and_on_recovery() -> None:
    failed, ok = ("failed", "timeout"), ("unchanged", "")
    assert failure_notices([failed, failed], "s", WED, 3) == []
    (notice,) = failure_notices([failed, failed, failed, ok], "s", WED, 3)
    assert notice.kind == "failing" and "3 failed checks in a row; last: timeout" in notice.detail
    assert failure_notices([failed, failed, failed, failed], "s", WED, 3) == []  # told once
    (back,) = failure_notices([ok, failed, failed, failed, failed], "s", WED, 3)
    assert back.kind == "recovered" and "after 4 failed checks" in back.detail
    assert failure_notices([ok, failed, ok], "s", WED, 3) == []


def entry(url: str) -> dict[str, object]:
    return {
        "id": "example-terms",
        "platform": "P",
        "document_type": "T",
        "url": url,
        "ignore_robots": True,
        "schedule": "every 6h",
    }


def make_due(tmp_path: Path) -> None:
    """Pretend the last check was long ago, so that the source is due again."""
    with sqlite3.connect(tmp_path / "archive" / "catalog.sqlite") as db:
        db.execute("UPDATE checks SET checked_at = '2020-01-01T00:00:00+00:00'")


def test_run_once_fetches_what_is_due_then_nothing(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    code, out, _ = run_cli(tmp_path, "run", "--once")
    assert code == ExitStatus.OK and "1 new" in out
    code, out, _ = run_cli(tmp_path, "run", "--once")
    assert code == ExitStatus.OK and "Nothing is due." in out
    assert [request.path for request, _ in httpserver.log] == ["/terms"]  # not fetched again
    make_due(tmp_path)
    code, out, _ = run_cli(tmp_path, "run", "--once")
    assert code == ExitStatus.OK and "1 unchanged" in out, out
    assert [request.path for request, _ in httpserver.log] == ["/terms", "/terms"]


def test_a_failing_source_is_reported_once_to_maintainers_and_again_when_it_recovers(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    (tmp_path / "clausewatch.toml").write_text("failure_alert_after = 2\n")
    httpserver.expect_request("/terms").respond_with_data("down", status=404)
    for _ in range(3):
        code, _, _ = run_cli(tmp_path, "run", "--once")
        assert code == ExitStatus.ERROR
        make_due(tmp_path)
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    code, _, _ = run_cli(tmp_path, "run", "--once")
    assert code == ExitStatus.OK
    with sqlite3.connect(tmp_path / "archive" / "catalog.sqlite") as db:
        kinds = [row[0] for row in db.execute("SELECT kind FROM notices ORDER BY id")]
    assert kinds == ["failing", "recovered"]  # told when it reached 2 failures, not again at 3
    maintainer = (tmp_path / "public" / "feeds" / "maintainer.atom").read_text()
    assert "example-terms: failing" in maintainer and "example-terms: recovered" in maintainer
    assert "failing" not in (tmp_path / "public" / "feeds" / "all.atom").read_text()


def _daemon(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLAUSEWATCH_HOST_DELAY": "0", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_daemon_stops_on_sigterm_resumes_after_restart_and_refuses_a_twin(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "id": "example-terms",
                "platform": "P",
                "document_type": "T",
                "url": httpserver.url_for("/terms"),
                "ignore_robots": True,
                "schedule": "every 6h",
            }
        ],
    )
    daemon = _daemon(tmp_path)
    try:
        assert _wait_for(
            lambda: len(httpserver.log) >= 1 and (tmp_path / "archive" / "catalog.sqlite").exists(),
            30,
        )
        assert _wait_for(lambda: _checks(tmp_path) == 1, 30)
        twin = _daemon(tmp_path)
        _, twin_err = twin.communicate(timeout=30)
        assert (
            twin.returncode == ExitStatus.ERROR
            and b"another `clausewatch run` is already watching" in twin_err
        )
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        assert daemon.returncode == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    restarted = _daemon(tmp_path)  # the lock was released
    try:
        time.sleep(3)
        assert restarted.poll() is None
        # not due for six hours: no refetch
        assert [r.path for r, _ in httpserver.log] == ["/terms"] and _checks(tmp_path) == 1
        restarted.send_signal(signal.SIGINT)
        restarted.wait(timeout=30)
        assert restarted.returncode == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()


def _checks(tmp_path: Path) -> int:
    try:
        with sqlite3.connect(tmp_path / "archive" / "catalog.sqlite") as db:
            return int(db.execute("SELECT count(*) FROM checks").fetchone()[0])
    except sqlite3.Error:
        return -1


def test_a_digest_missed_while_the_daemon_was_down_is_sent_at_start(tmp_path: Path) -> None:
    from monitor.archive import Archive, SendStatus
    from monitor.config import MailSettings, Settings, Subscriber
    from monitor.schedule import DIGEST_JOB, Daemon

    settings = Settings(
        archive_dir=tmp_path / "archive",
        mail=MailSettings(subscribers=(Subscriber("ana@example.org"),)),
    )
    Archive(settings.archive_dir).close()
    now = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday; Monday 08:00 was missed

    def job_time() -> datetime | None:
        daemon = Daemon(
            [],
            settings,
            publish=lambda archive: None,
            send_digest=lambda: None,
            digest_schedule="0 8 * * 1",
        )
        daemon.add_jobs(now)
        return getattr(daemon.scheduler.get_job(DIGEST_JOB), "next_run_time", None)  # pending job

    def record(period: str, at: datetime) -> None:
        with Archive(settings.archive_dir) as archive:
            archive.record_send(period, "ana@example.org", at, SendStatus.SENT, "<m@x>")

    assert job_time() == now
    # a past week sent by hand after Monday's fire (`digest --until 2026-11-15 --send`) is
    # not this week's digest: Monday's is still due
    record("2026-11-09/2026-11-15", datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert job_time() == now
    # Monday 23 Nov 08:00 sends the week Monday 16 to Sunday 22 November
    record("2026-11-16/2026-11-22", datetime(2026, 11, 23, 8, 1, tzinfo=UTC))
    assert job_time() is None  # already sent: the cron trigger decides, once started
