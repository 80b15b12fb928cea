"""Archive files: how the archive writes a file so that it is whole or absent, and never lost.

Owns: file names (`stamp`, `snapshot_suffix`), the gzip form of a stored snapshot, THE atomic
write of Clausewatch (temp file, fsync, rename, fsync of the folder; publishers use it too),
never overwriting an archived file, one syncfs for a batch of files, and ArchiveFiles: the
files of one archive, every path checked to stay inside it. Must never: touch the catalog or decide what a file holds; the
Archive (monitor.archive) says which file to write and when it is named in the catalog.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from isal import igzip

from monitor.errors import ArchiveError, DamagedFile

TMP_PREFIX = ".tmp-"
KINDS = ("snapshots", "versions", "changes")  # the folders of a source, in the order made
REPAIR_HINT = "run `clausewatch verify --repair` (README: The archive, repairs)"


def stamp(moment: datetime) -> str:
    """A file-name-safe UTC time: 2026-11-25T14-00-05Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def snapshot_suffix(content_type: str) -> str:
    return {"application/pdf": ".pdf.gz", "text/plain": ".txt.gz", "text/markdown": ".md.gz"}.get(
        content_type, ".html.gz"
    )


_MADE_DIRS: set[Path] = set()  # folders known to exist: mkdir is slow on some filesystems
# ISA-L's level 1 (isal.igzip, plain gzip files): on a 150 KB terms page it takes 0.22 ms,
# where zlib's level 1 takes 1.3 ms and its level 6 5.5 ms, for a 51 KB file (zlib 6: 42 KB).
GZIP_LEVEL = 1


def compress_snapshot(content: bytes) -> bytes:
    """A snapshot's stored form. Deterministic (no time in the header); callers may compute it
    on another thread, where ISA-L runs without holding the GIL."""
    return igzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0)


def _syncfs() -> Callable[[int], int] | None:
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except OSError:  # pragma: no cover - no C library to load
        return None


_SYNCFS = _syncfs()


def sync_filesystem(path: Path) -> None:
    """Make every file written on the file system holding `path` durable, in one call: Linux's
    syncfs, or os.sync where there is none. A batch of N files costs one journal commit instead
    of 2N fsyncs."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS is None or _SYNCFS(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes, *, sync: bool = True, orphan: Callable[[], bool] | None = None
) -> None:
    """Write a new file so that it is either whole or absent; never replace another file,
    unless `orphan()` says that the one there was never archived.

    With `sync=False` the file and folder fsyncs are left to the caller, who must call
    sync_filesystem() before committing any row that names the file."""
    if path.exists():
        if path.read_bytes() == data:
            return
        if orphan is None or not orphan():
            raise ArchiveError(f"{path}: refusing to overwrite an archived file with other content")
    _replace(path, data, sync=sync)


def replace_if_changed(path: Path, data: bytes) -> bool:
    """Replace a published file atomically, only when its bytes change; True when written.
    Unlike an archive file, a published one (a feed, a page) is rebuilt and replaced."""
    with contextlib.suppress(OSError):  # missing or unreadable: written (or a clear error)
        if path.read_bytes() == data:
            return False
    _replace(path, data, sync=False)
    return True


def _replace(path: Path, data: bytes, *, sync: bool) -> None:
    """The one atomic write: a temp file beside `path`, renamed over it."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        if path.parent not in _MADE_DIRS:
            # the source's folder once, then snapshots/ and versions/ in it: three mkdirs for
            # a new source, where mkdir(parents=True) twice makes four (one of them failing)
            if path.parent.parent not in _MADE_DIRS:
                path.parent.parent.mkdir(parents=True, exist_ok=True)
                _MADE_DIRS.add(path.parent.parent)
            path.parent.mkdir(exist_ok=True)
            _MADE_DIRS.add(path.parent)
        with open(tmp, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        if sync:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ArchiveError(f"{path}: cannot write: {exc.strerror or exc}") from exc


class ArchiveFiles:
    """The files of one archive folder: every path is checked to stay inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._inside = root.resolve()
        self._inside_folders: set[str] = set()  # folders (relative) found to stay inside

    def path(self, relative: str) -> Path:
        """The absolute path of an archive file; an ArchiveError for any path that would
        leave the archive (absolute, `..`, empty parts, a symlink out)."""
        parts = relative.split("/")
        if (
            not relative
            or relative.startswith("/")
            or any(p in ("", ".", "..") for p in parts)
            or "\\" in relative
            or "\0" in relative
        ):
            raise ArchiveError(f"{self.root}: refusing the unsafe archive path {relative!r}")
        path = self.root / relative
        folder = relative.rpartition("/")[0]
        if folder not in self._inside_folders:  # resolved once per folder: a pass is 1000s
            if not path.resolve().is_relative_to(self._inside):
                raise ArchiveError(f"{self.root}: {relative!r} leads outside the archive")
            if path.parent.is_dir():  # a folder made later is checked when first seen
                self._inside_folders.add(folder)
        return path

    def write(self, relative: str, data: bytes, *, sync: bool, orphan: Callable[[], bool]) -> None:
        write_atomic(self.path(relative), data, sync=sync, orphan=orphan)

    def read(self, relative: str, what: str) -> bytes:
        """The bytes of an archive file; DamagedFile if it is missing or unreadable, naming
        `what` it holds ("version 12 of x-terms") and the repair."""
        path = self.path(relative)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise DamagedFile(f"{path}: {what} is missing; {REPAIR_HINT}") from None
        except OSError as exc:
            raise DamagedFile(
                f"{path}: {what} is unreadable: {exc.strerror}; {REPAIR_HINT}"
            ) from exc

    def exists(self, relative: str) -> bool:
        return self.path(relative).exists()

    def stored(self) -> list[str]:
        """Every file in a source's snapshots/, versions/ or changes/ folder (temp files of
        writes in progress left out), relative to the root."""
        found = []
        for kind in KINDS:
            for path in self.root.glob(f"*/{kind}/*"):
                if not path.name.startswith(TMP_PREFIX):
                    found.append(path.relative_to(self.root).as_posix())
        return sorted(found)

    def temp_files(self, older_than: float = 0.0) -> list[Path]:
        """Temp files of writes that never finished, last modified over `older_than` seconds ago."""
        now = time.time()
        found = []
        for path in self.root.glob(f"*/*/{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime >= older_than:
                    found.append(path)
        return found

    def remove(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)
