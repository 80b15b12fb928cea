"""The one file lock of Clausewatch: an flock on a small file that names its holder.

Owns: taking an flock (shared or exclusive, waiting up to a deadline), writing who holds it
into the file, and releasing it. Used by the Archive's write lock and the daemon's lock
(monitor.schedule). Must never: decide what the lock protects.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import ArchiveError

POLL_SECONDS = 0.1


@contextlib.contextmanager
def hold_lock(
    path: Path,
    *,
    shared: bool = False,
    timeout: float = 0.0,
    busy: Callable[[str], ArchiveError],
) -> Iterator[int]:
    """Hold an flock on `path` (created if needed). A lock held elsewhere is waited for up to
    `timeout` seconds (0: not at all); then `busy(holder)` is raised, `holder` being what the
    holder wrote ("pid 12 since ..."). An exclusive holder writes its own note."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot open the lock file: {exc.strerror}") from exc
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    raise busy(holder) from None
                time.sleep(POLL_SECONDS)
        if not shared:
            note = f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}"
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode(), 0)
        yield fd
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
