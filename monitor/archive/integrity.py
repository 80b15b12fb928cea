"""Integrity: `clausewatch verify`, every catalog row against its file.

Owns: checking the catalog with SQLite's integrity check, and each snapshot, version and change
named in it: on disk, readable, whole (its sha256); and listing the files that no row names
(what a run killed before its commit left: harmless, removed by `verify --repair`). Must never:
repair or delete anything (the Archive's repair does, from this report).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass, field

from monitor.archive.catalog import Catalog, FileRow
from monitor.archive.files import ArchiveFiles
from monitor.errors import ArchiveError


@dataclass(slots=True)
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # files with no catalog row: harmless
    damaged: list[FileRow] = field(default_factory=list)  # rows whose file is missing or bad
    catalog_damaged: bool = False
    snapshots: int = 0
    versions: int = 0
    changes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class Integrity:
    """`verify` for one archive: its catalog and its files."""

    def __init__(self, catalog: Catalog, files: ArchiveFiles) -> None:
        self.catalog = catalog
        self.files = files

    def check_file(self, row: FileRow) -> str:
        """ "" when the file of `row` is there, readable and whole; else what is wrong."""
        what = f"{row.noun} {row.id} of {row.source_id}"
        try:
            data = self.files.read(row.path, what)
            if row.kind == "snapshots":
                data = gzip.decompress(data)
        except ArchiveError as exc:
            return str(exc)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            return f"{self.files.root / row.path}: {what} is unreadable (damaged gzip: {exc})"
        if hashlib.sha256(data).hexdigest() != row.sha256:
            return f"{self.files.root / row.path}: {what} does not match its sha256"
        return ""

    def verify(self) -> VerifyReport:
        """Check the catalog, then that every row has its file, whole; list files with no row."""
        report = VerifyReport()
        problem = self.catalog.integrity_check()
        if problem:
            report.catalog_damaged = True
            report.problems.append(f"{self.catalog.path}: the catalog is damaged: {problem}")
            return report  # its rows cannot be trusted to say which files are orphans
        try:
            rows = self.catalog.file_rows()
        except ArchiveError as exc:
            report.catalog_damaged = True
            report.problems.append(str(exc))
            return report
        known = set()
        for row in rows:
            known.add(row.path)
            setattr(report, row.kind, getattr(report, row.kind) + 1)
            problem = self.check_file(row)
            if problem:
                report.problems.append(problem)
                report.damaged.append(row)
        report.orphans = [path for path in self.files.stored() if path not in known]
        return report
