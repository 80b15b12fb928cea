"""What every command shares: the Environment, exit statuses, terminal safety, archive access.

Owns: the Environment main() talks to (tests pass their own), ExitStatus, making untrusted
text inert for a terminal, and small helpers the command modules share. Must never: import a
command module.
"""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.markup import escape

from monitor.archive import Archive
from monitor.config import Settings
from monitor.errors import UsageError, did_you_mean
from monitor.extract.document import CONTROL_RE, clean_text
from monitor.model import Version

__all__ = [
    "CONTROL_RE",
    "HELD",
    "Environment",
    "ExitStatus",
    "alert_statuses",
    "is_file",
    "open_archive",
    "out_dir",
    "plain",
    "safe",
]


HELD = "held: not alerted until a later capture confirms it"


def alert_statuses(archive: Archive, source_id: str) -> dict[int, str]:
    """What became of each change of a source, by change id, for `history` and `diff`: the
    alert's title, "not alerted: <why>" (monitor.trust), HELD while undecided, or "" when
    there was nothing to tell creators (technical, cosmetic, no creator flag)."""
    reasons = archive.alert_reasons(source_id)
    titles = {a.change_id: a.title for a in archive.alerts() if a.source_id == source_id}
    statuses = {}
    for change in archive.changes(source_id):
        if change.id in titles:
            statuses[change.id] = titles[change.id]
        else:
            statuses[change.id] = reasons.get(change.id, HELD)
    return statuses


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # a run failed (every source failed, verify found problems, I/O error)
    USAGE = 2  # bad command line, settings or sources file
    FLAGGED = 3  # `check` found AI-training or broad-licence language


def safe(text: str) -> str:
    """Untrusted text made inert for a terminal: no control characters, no rich markup."""
    return escape(clean_text(text, "\N{REPLACEMENT CHARACTER}"))


@dataclass
class Environment:
    """What main() talks to; tests pass their own (HTTPie style)."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)

    @property
    def interactive(self) -> bool:
        return bool(getattr(self.stderr, "isatty", lambda: False)())


def open_archive(settings: Settings) -> Archive:
    if not (settings.archive_dir / "catalog.sqlite").exists():
        raise UsageError(
            f"{settings.archive_dir}: no archive here yet (run `clausewatch track` first)"
        )
    return Archive(settings.archive_dir, lock_timeout=settings.lock_timeout)


def archived_versions(archive: Archive, source_id: str) -> list[Version]:
    """A source's versions, oldest first; an id with none is a UsageError that suggests the
    nearest archived ids (every command that takes a source id of the archive)."""
    versions = archive.versions(source_id)
    if not versions:
        raise UsageError(
            f"source {source_id!r} has no archived versions"
            + did_you_mean(source_id, archive.source_ids())
        )
    return versions


def version_numbers(versions: list[Version]) -> str:
    """A source's version numbers for a message: "1 to 18" (they run without gaps)."""
    numbers = [v.number for v in versions]
    if numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 2:
        return f"1 to {len(numbers)}"
    return ", ".join(map(str, numbers))


def report_skipped(archive: Archive, env: Environment) -> None:
    """Tell on stderr which damaged archive files a command skipped (see Archive.or_skip)."""
    for problem in dict.fromkeys(archive.skipped):
        env.stderr.write(f"clausewatch: skipped a damaged archive file: {safe(problem)}\n")


def out_dir(given: Path | None, settings: Settings, env: Environment) -> Path:
    """A public folder given on the command line (relative to the working directory), or the
    configured public_dir."""
    if given is None:
        return settings.public_dir
    return given if given.is_absolute() else env.cwd / given


def is_file(path: Path) -> bool:
    """Whether a path names an existing file. Text that cannot be a path (a name over the
    system's 255 bytes, a NUL) names none: commands that take FILE|TEXT then read it as text."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def plain(text: str) -> str:
    """Archived text for a terminal: line breaks kept, every other control character replaced."""
    return clean_text(text, "\ufffd")
