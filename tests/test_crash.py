"""Crash consistency: kill -9 a real `clausewatch track` mid-pass, then verify and go on."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.track import PROCESS_POOL_FROM
from tests.conftest import ROOT, terms_html, write_sources

TRIALS = 30  # kill -9 at 30 random moments of a pass (bounded)


def _cli(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLAUSEWATCH_HOST_DELAY": "0", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its worker processes share its process group
    )


def _left_behind(group: int) -> list[int]:
    """Live processes (zombies aside) of a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == group and state != "Z":
            found.append(int(stat.parent.name))
    return found


def _serve_sources(httpserver: HTTPServer, tmp_path: Path) -> None:
    """24 sources of ~150 KB pages (parsing and writing take a while): enough for a worker
    process (PROCESS_POOL_FROM)."""
    entries = []
    for n in range(PROCESS_POOL_FROM):
        path = f"/terms/{n}"
        page = terms_html(f"Terms {n}", clauses=300)
        httpserver.expect_request(path).respond_with_data(page, content_type="text/html")
        entries.append(
            {
                "id": f"doc-{n}",
                "platform": "P",
                "document_type": "T",
                "url": httpserver.url_for(path),
                "ignore_robots": True,
            }
        )
    write_sources(tmp_path / "sources.yaml", entries)


def test_worker_processes_end_with_a_killed_pass(httpserver: HTTPServer, tmp_path: Path) -> None:
    _serve_sources(httpserver, tmp_path)
    process = _cli(tmp_path, "track", "--json")
    for _ in range(200):  # until a worker process has started beside the pass (bounded: 10 s)
        if len(_left_behind(process.pid)) > 1 or process.poll() is not None:
            break
        time.sleep(0.05)
    assert process.poll() is None and len(_left_behind(process.pid)) > 1
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    for _ in range(100):  # bounded: 5 s
        if not _left_behind(process.pid):
            break
        time.sleep(0.05)
    assert not _left_behind(process.pid), "worker processes outlived the pass"


@pytest.mark.slow
def test_kill_during_a_pass_leaves_a_verifiable_archive(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    rng = random.Random(20261125)
    _serve_sources(httpserver, tmp_path)
    for trial in range(TRIALS):
        if trial % 2:  # every other trial, change a few pages so that versions are written too
            for n in rng.sample(range(PROCESS_POOL_FROM), 4):
                httpserver.expect_request(f"/terms/{n}").respond_with_data(
                    terms_html(
                        f"Terms {n}",
                        clauses=300,
                        extra=f"<p>Change {trial}: new wording of the terms.</p>",
                    ),
                    content_type="text/html",
                )
        process = _cli(tmp_path, "track", "--json")
        time.sleep(rng.uniform(0.2, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        for _ in range(100):  # a pass's worker processes end with it (bounded: 5 s)
            if not _left_behind(process.pid):
                break
            time.sleep(0.05)
        assert not _left_behind(process.pid), (trial, "worker processes outlived the pass")
        verify = _cli(tmp_path, "verify", "--json")
        out, err = verify.communicate(timeout=60)
        if verify.returncode == 2:  # killed before the catalog existed
            continue
        report = json.loads(out)
        assert verify.returncode == 0 and report["ok"], (trial, report, err)
    final = _cli(tmp_path, "track", "--json")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    summary = json.loads(out)
    assert summary["counts"]["failed"] == 0 and len(summary["sources"]) == PROCESS_POOL_FROM
    verify = _cli(tmp_path, "verify", "--json")
    out, _ = verify.communicate(timeout=60)
    assert json.loads(out)["ok"]
