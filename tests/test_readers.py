"""Read-only commands while another process writes the archive (issue 21 item 5): they take
no lock the writer holds and read what it has committed, never what it has not."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import monitor
from monitor.cli.main import ExitStatus
from tests.conftest import run_cli as cli
from tests.test_ota import FIRST_TWO, make_repo

WRITER = """
import sys
from pathlib import Path
from monitor.archive import Archive

archive = Archive(Path(sys.argv[1]))
with archive.lock():  # the write lock, and an open write transaction, as an import holds them
    archive.catalog.begin_batch()
    archive.catalog.execute("UPDATE versions SET recorded_at = '1999-09-09T00:00:00+00:00'")
    archive.catalog.execute("UPDATE sources SET platform = 'Uncommitted'")
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes it
    archive.catalog.rollback()
"""


def test_read_only_commands_run_while_another_process_holds_the_archive(tmp_path: Path) -> None:
    (tmp_path / "clausewatch.toml").write_text("lock_timeout = 8\n")
    repo = make_repo(tmp_path, "Example/Terms.md", FIRST_TWO)
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK and "2 versions imported" in out, out
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "archive")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(Path(monitor.__file__).parents[1])},
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "holding\n"
        timings = {}
        outputs = {}
        for argv in (
            ("history", "example-terms"),
            ("diff", "example-terms"),
            ("show", "example-terms", "1"),
            ("site", "build"),
            ("feeds",),
        ):
            started = time.monotonic()
            code, out, err = cli(tmp_path, *argv)
            timings[argv[0]] = time.monotonic() - started
            assert code == ExitStatus.OK, (argv, out, err)
            outputs[argv[0]] = out + err
        assert all(t < 5 for t in timings.values()), timings  # was 8 s each, then exit 1
        assert "2024-01-01" in outputs["history"] and "2024-03-01" in outputs["history"]
        assert "1999" not in outputs["history"]  # nothing the writer has not committed
        assert "train our AI models" in outputs["diff"]
        assert "You keep ownership" in outputs["show"]
        assert "another clausewatch process is writing" in outputs["site"]
        page = (tmp_path / "public" / "sources" / "example-terms" / "index.html").read_text()
        assert "Uncommitted" not in page and "Example" in page
    finally:
        assert writer.stdin is not None
        writer.stdin.close()
        writer.wait(timeout=30)
    # the writer gone, the catalog is back in the rollback journal (a full disk can open it)
    assert not (tmp_path / "archive" / "catalog.sqlite-wal").exists()
    # and a build records the alert it could not and lists it
    code, out, err = cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK and "another clausewatch process" not in err
    assert "Uncommitted" not in (tmp_path / "public" / "index.html").read_text()
