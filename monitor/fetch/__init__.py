"""Fetching: one terms page (or the pages of one document) from the web into a Snapshot,
politely.

Owns: the Fetcher protocol and the registry a pass is given, keyed by a source's fetch mode
(base); plain HTTP with retries, per-host turns, conditional requests and a total deadline per
request (http); rendering in headless Chromium (browser); plain-then-rendered (auto); the
charset check, robots.txt (RFC 9309, with protego), and telling bot walls from terms
(bot_walls). Documents of several pages are fetched by the registry into one snapshot
(monitor.pages holds its format). Must never: parse the terms text or touch the archive.
"""

from __future__ import annotations

from monitor.config import FetchSettings
from monitor.fetch.auto import AutoFetcher
from monitor.fetch.base import Fetcher, Fetchers
from monitor.fetch.browser import BrowserFetcher
from monitor.fetch.http import HttpFetcher
from monitor.model import FetchMode

__all__ = ["Fetcher", "Fetchers", "HttpFetcher", "fetchers_for"]


def fetchers_for(settings: FetchSettings, http: HttpFetcher | None = None) -> Fetchers:
    """The fetchers of a pass: `http` (or a new HttpFetcher), the browser, made when a source
    first needs it and sharing the HTTP fetcher's host turns and robots.txt, and `auto`."""
    plain = http or HttpFetcher(settings)

    def browser() -> Fetcher:
        return BrowserFetcher(settings, plain)

    def auto() -> Fetcher:
        return AutoFetcher(plain, lambda: fetchers.get(FetchMode.BROWSER))

    fetchers = Fetchers(
        {FetchMode.HTTP: lambda: plain, FetchMode.BROWSER: browser, FetchMode.AUTO: auto},
        borrowed=(http,) if http else (),
    )
    return fetchers
