"""The archive: every snapshot, version and ChangeSet, on disk and in the catalog.

Owns: files written atomically (files), the SQLite catalog (catalog), what was published and
sent (ledger), verification (integrity), JSON forms of values (serialize), and the Archive
that composes them (store). Must never: fetch, extract or decide what a change means.
"""

from monitor.archive.store import Archive

__all__ = ["Archive"]
