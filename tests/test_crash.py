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
    )


@pytest.mark.slow
def test_kill_during_a_pass_leaves_a_verifiable_archive(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    rng = random.Random(20261125)
    entries = []
    for n in range(24):
        path = f"/terms/{n}"
        page = terms_html(f"Terms {n}", clauses=300)  # ~150 KB: parsing and writing take a while
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
    for trial in range(TRIALS):
        if trial % 2:  # every other trial, change a few pages so that versions are written too
            for n in rng.sample(range(24), 4):
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
    assert summary["counts"]["failed"] == 0 and len(summary["sources"]) == 24
    verify = _cli(tmp_path, "verify", "--json")
    out, _ = verify.communicate(timeout=60)
    assert json.loads(out)["ok"]
