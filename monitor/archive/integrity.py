"""Integrity: `clausewatch verify`, every catalog row against its file.

Owns: checking that each snapshot, version and change named in the catalog is on disk, whole
(its sha256), and readable, and listing the files that no row names (what a crash left before
a commit: harmless). Must never: repair or delete anything.
"""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
from dataclasses import dataclass, field

from monitor.archive.catalog import CATALOG, Catalog


@dataclass(slots=True)
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # files with no catalog row: harmless
    snapshots: int = 0
    versions: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class Integrity(Catalog):
    """`verify` for an Archive."""

    def _check_files(
        self, table: str, noun: str, known: set[str], problems: list[str], gzipped: bool = False
    ) -> int:
        """Check every row of `table` against its file; returns the number of rows."""
        count = 0
        for row in self._db.execute(f"SELECT id, path, sha256 FROM {table}"):
            count += 1
            known.add(row["path"])
            path = self.root / row["path"]
            try:
                data = path.read_bytes()
                if gzipped:
                    data = gzip.decompress(data)
            except FileNotFoundError:
                problems.append(f"{path}: {noun} {row['id']} is in the catalog but missing")
                continue
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                problems.append(f"{path}: {noun} {row['id']} is unreadable: {exc}")
                continue
            if hashlib.sha256(data).hexdigest() != row["sha256"]:
                problems.append(f"{path}: {noun} {row['id']} does not match its sha256")
        return count

    def verify(self) -> VerifyReport:
        """Check that every catalog row has its file, whole, and list files with no row."""
        report = VerifyReport()
        try:
            result = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.Error as exc:
            report.problems.append(f"{self.root / CATALOG}: {exc}")
            return report
        if result != "ok":
            report.problems.append(f"{self.root / CATALOG}: integrity check failed: {result}")
        known: set[str] = set()
        report.snapshots = self._check_files(
            "snapshots", "snapshot", known, report.problems, gzipped=True
        )
        report.versions = self._check_files("versions", "version", known, report.problems)
        self._check_files("changes", "change", known, report.problems)
        for kind in ("snapshots", "versions", "changes"):
            for path in sorted(self.root.glob(f"*/{kind}/*")):
                relative = path.relative_to(self.root).as_posix()
                if relative not in known:
                    report.orphans.append(relative)
        return report
