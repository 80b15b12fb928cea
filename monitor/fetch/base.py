"""The fetching seam: the Fetcher protocol, and the registry that picks one by fetch mode.

Owns: what every fetcher offers (`fetch` a source into a Snapshot, NotModified or
FetchFailure, never raising for what a server does; `close`), and `Fetchers`, the registry a
pass is given: one fetcher per FetchMode, each built the first time a source needs it (so no
browser starts in a pass of plain pages) and all closed with the registry. Must never: know
how a particular fetcher works.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol, Self

from monitor.model import (
    Conditional,
    FailureReason,
    FetchFailure,
    FetchMode,
    FetchResult,
    Snapshot,
    Source,
)
from monitor.pages import combine


class Fetcher(Protocol):
    """Fetches a source's page. Thread-safe: one instance serves a whole pass."""

    def fetch(self, source: Source, conditional: Conditional | None = None) -> FetchResult:
        """A Snapshot, NotModified or FetchFailure; never raises for what a server does."""
        ...

    def close(self) -> None:
        """Release what the fetcher holds (sessions, browsers); idempotent."""
        ...


class Fetchers:
    """The fetchers of a pass, keyed by FetchMode, each made on first use by its factory."""

    def __init__(
        self,
        factories: Mapping[FetchMode, Callable[[], Fetcher]],
        *,
        borrowed: tuple[Fetcher, ...] = (),
    ) -> None:
        """`borrowed` fetchers are served but closed by whoever lent them (a daemon's HTTP
        fetcher, say, whose robots.txt cache outlives a pass)."""
        self._factories = dict(factories)
        self._borrowed = borrowed
        self._made: dict[FetchMode, Fetcher] = {}
        self._guard = threading.Lock()

    def has(self, mode: FetchMode) -> bool:
        return mode in self._factories

    def get(self, mode: FetchMode) -> Fetcher:
        """The fetcher for `mode`, made now if it is the first call; KeyError for a mode
        this registry has no fetcher for."""
        with self._guard:
            fetcher = self._made.get(mode)
            if fetcher is None:
                fetcher = self._made[mode] = self._factories[mode]()
            return fetcher

    def made(self, mode: FetchMode) -> bool:
        """Whether the fetcher for `mode` has been made (a browser started, say)."""
        with self._guard:
            return mode in self._made

    def fetch(
        self,
        source: Source,
        conditional: Conditional | None = None,
        *,
        mode: FetchMode | None = None,
    ) -> FetchResult:
        """Fetch `source` with the fetcher of its own mode, or of `mode` when given. A source
        of several pages is fetched page after page (each with its own mode; `mode` then
        replaces only `auto`) into one snapshot; one page failing fails it."""
        if not source.pages:
            return self.get(mode or source.fetch).fetch(source, conditional)
        snapshots: list[Snapshot] = []
        pages = source.page_sources()
        for number, page in enumerate(pages, start=1):
            page_mode = mode if mode and page.fetch is FetchMode.AUTO else page.fetch
            result = self.get(page_mode).fetch(page, None)
            if not isinstance(result, Snapshot):
                detail = getattr(result, "detail", "not modified on an unconditional request")
                reason = getattr(result, "reason", FailureReason.HTTP_ERROR)
                return FetchFailure(
                    source.id,
                    result.fetched_at,
                    page.url,
                    reason,
                    f"page {number} of {len(pages)} ({page.url}): {detail}",
                    getattr(result, "status", None),
                )
            snapshots.append(result)
        return combine(source.id, snapshots)

    def close(self) -> None:
        with self._guard:
            made = list(self._made.values())
            self._made.clear()
        for fetcher in reversed(made):  # the browser (made later) before the HTTP session
            if not any(fetcher is b for b in self._borrowed):
                fetcher.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
