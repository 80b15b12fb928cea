"""What a tracking pass runs in its worker processes.

Owns: extracting a new snapshot and rendering its version file, for monitor.track: in a worker
process of its own in big passes, on the fetching thread in small ones; starting worker
processes (for a pass, and for an import's planning); and ending a worker whose pass has
died. Imports extraction and Markdown only, so that a worker started by the
forkserver stays small (31 MB, where importing monitor.track and all it imports makes 41).
Must never: write files, touch the catalog, or fetch.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from typing import Any

from monitor.extract import readers
from monitor.extract.markdown import RenderedVersion, render_version
from monitor.model import Document, FetchFailure, Snapshot, Source


def extract_version(
    snapshot: Snapshot, source: Source, min_chars: int, with_document: bool
) -> tuple[Document | FetchFailure | None, RenderedVersion | None]:
    """The snapshot's version file and, if `with_document` (a diff will need it), its Document;
    or the FetchFailure that extraction ended in. A Document takes 0.5 ms to send between
    processes, its rendered file a tenth of that."""
    document = readers.extract(snapshot, source, min_chars=min_chars)
    if isinstance(document, FetchFailure):
        return document, None
    return (document if with_document else None), render_version(document)


def end_with_parent() -> None:
    """A worker's initializer: end this worker as soon as the process that runs the pass is
    gone, killed with -9 included. A worker otherwise waits for tasks forever, and a forked one
    holds the archive's lock file open."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a pool's worker
        return

    def wait() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=wait, name="end-with-parent", daemon=True).start()


def _start(setup: Callable[..., None] | None, setup_args: tuple[Any, ...]) -> None:
    end_with_parent()
    if setup is not None:
        setup(*setup_args)


def pool(
    workers: int, setup: Callable[..., None] | None = None, setup_args: tuple[Any, ...] = ()
) -> concurrent.futures.ProcessPoolExecutor:
    """Worker processes for CPU work beside this one (a pass's extraction, an import's
    planning), each running `setup(*setup_args)` first: forked while this is the process's
    only thread, ready in milliseconds with everything imported, where a forkserver worker
    takes a quarter of a second of CPU to import it all; from a fork server when other
    threads run (forking them is unsafe). Each ends with its parent (decision 0007)."""
    alone = threading.active_count() == 1
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork" if alone else "forkserver"),
        initializer=_start,
        initargs=(setup, setup_args),
    )
