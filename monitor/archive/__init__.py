"""The archive: every snapshot, version and ChangeSet, on disk and in the catalog.

Owns: the Archive (store), composed of its parts: files written atomically inside the archive
folder (files), the SQLite catalog (catalog), what was published and sent (ledger),
verification (integrity), the file lock (lock), and JSON forms of values (serialize). Callers
use the Archive; they get dataclasses, never database rows. Must never: fetch, extract or
decide what a change means.
"""

from monitor.archive.ledger import Notice, SendStatus
from monitor.archive.store import Archive, RepairReport

__all__ = ["Archive", "Notice", "RepairReport", "SendStatus"]
