"""The one exception tree of Clausewatch.

Owns: ClausewatchError and its subclasses. Expected outcomes (a 304, a failed fetch, a bot
wall) are values in monitor.model, never exceptions. Only monitor.cli.main turns these into exit
codes; library code never exits the process. Every message says what and where.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ClausewatchError(Exception):
    """Root of every error Clausewatch raises on purpose."""


class ConfigError(ClausewatchError):
    """Bad settings or a bad sources file. `where` is "file:line" and, if known, the source id."""

    def __init__(self, message: str, *, where: str = "", source_id: str | None = None) -> None:
        self.message = message
        self.where = where
        self.source_id = source_id
        parts = [p for p in (where, f"source {source_id!r}" if source_id else "") if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)


class ArchiveError(ClausewatchError):
    """The archive cannot be read or written (disk full, read-only, corrupt catalog)."""


class ArchiveLocked(ArchiveError):
    """Another Clausewatch process holds the archive lock."""


class UsageError(ClausewatchError):
    """The command line asks for something that cannot be done (unknown source id, ...)."""


class NotTerms(ClausewatchError):
    """The content is empty or too short to be terms; turned into a FetchFailure by
    monitor.extract.readers.extract(), never raised past it."""


class DamagedFile(ArchiveError):
    """An archive file that the catalog names is missing or unreadable. The message names the
    file and what it held; `clausewatch verify --repair` restores what can be restored."""


class DamagedCatalog(ArchiveError):
    """The catalog fails SQLite's integrity check: nothing may be written into it."""


def did_you_mean(name: str, known: Iterable[str], *, listed_by: str = "") -> str:
    """What follows "no such NAME" in a message: all the known names when they are few, else
    the nearest few (difflib) and how many there are, never a line of a hundred ids.
    `listed_by` names the command that lists them all."""
    names = sorted(set(known))
    if not names:
        return " (none known)"
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = ""
    if near:
        quoted = [repr(n) for n in near]
        hint = "; did you mean " + (
            quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        )
        hint += "?"
    if len(names) <= 8:
        return f"{hint} (known: {', '.join(names)})"
    listing = f"; {listed_by} lists them" if listed_by else ""
    return f"{hint} ({len(names)} known{listing})"
