"""Browser fetching: a terms page rendered in headless Chromium, through Playwright.

Owns: one browser per pass (started when the first source needs it, started again if it
crashes, a few times at most), a browser context per host, a page per fetch (closed after
it), waiting until the `select` target holds text that has stopped growing (bounded by
`browser_timeout`), then the rendered DOM as the snapshot, recorded as fetched with the
browser. Politeness is the HTTP fetcher's: its robots.txt cache and per-host turns, so a page
fetched both ways waits out the host delay between the two. The size cap and the bot-wall check
apply to the rendered page. Pages of several hosts render at once (`browser_pages`), on one
event loop in a thread of its own; the fetching threads wait for their page with a deadline.

A missing browser, a crash or a hang is a FetchFailure for the sources it touches
(FailureReason.BROWSER, naming the command that installs Chromium when there is none), never an
exception. No Chromium outlives the pass: the browser is closed with the fetcher, killed if it
does not close, and started through `setpriv --pdeathsig KILL`, so that it dies with its
parent (Playwright's driver, which itself ends when this process does, killed with -9 too).
Must never: parse terms or touch the archive.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config import FetchSettings
from monitor.fetch.bot_walls import detect_block
from monitor.fetch.http import ACCEPTED_TYPES, PREVIEW_CHARS, HttpFetcher, media_type
from monitor.model import (
    Conditional,
    FailureReason,
    FetchFailure,
    FetchMode,
    FetchResult,
    Snapshot,
    Source,
)

DEBIAN_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = (
    "install Chromium with `apt-get install chromium` (Debian, Ubuntu) or "
    "`python -m playwright install chromium`, or set fetch.chromium to a Chromium binary"
)
# Debian's chromium as root needs --no-sandbox; the rest keeps a pass from phoning home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--blink-settings=imagesEnabled=false",  # images are never terms text: not loaded
    "--disable-remote-fonts",  # nor are web fonts
    "--autoplay-policy=user-gesture-required",  # nor audio or video
    # Chromium 156's headless windows each load the omnibox popup, a WebUI page in a renderer
    # process of its own: twice the processes per page and, measured with bench/browser.py,
    # two thirds of a pass's CPU. The spare renderer Chromium keeps started for the next
    # navigation is memory a page-at-a-time pass never uses.
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,SpareRendererForSitePerProcess",
)
MAX_LAUNCHES = 3  # per pass: a browser that keeps crashing fails its sources, not the pass
IDLE_CONTEXTS = 8  # contexts of hosts with no page open, kept for their next page
SETTLE_POLL_MS = 100  # the text must keep its length this long to be taken as settled
# Whether the select target (or the body) holds any text; then its length, in characters.
HAS_TEXT_JS = """(selector) => {
  for (const el of document.querySelectorAll(selector)) {
    if ((el.innerText || el.textContent || "").trim()) return true;
  }
  return false;
}"""
TEXT_LENGTH_JS = """(selector) => {
  let total = 0;
  for (const el of document.querySelectorAll(selector)) {
    total += (el.innerText || el.textContent || "").trim().length;
  }
  return total;
}"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def chromium_path(settings: FetchSettings) -> str | None:
    """The Chromium to run: the configured one, Debian's, one on PATH, or None for Playwright's own
    (`python -m playwright install chromium` downloads it)."""
    if settings.chromium:
        return settings.chromium
    if os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    return shutil.which("chromium")


class _Unavailable(Exception):
    """The browser cannot be used for this fetch (missing, crashed, hung)."""


class BrowserFetcher:
    """Renders pages in one headless Chromium per pass. Thread-safe: one serves a whole pass."""

    def __init__(
        self,
        settings: FetchSettings,
        http: HttpFetcher,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._folder: Path | None = None  # the launcher script and the browser's pid file
        # touched on the loop's thread only:
        self._playwright: Any = None
        self._browser: Any = None
        self._contexts: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._slots: asyncio.Semaphore | None = None
        self._launching: asyncio.Lock | None = None
        self._launches = 0
        self._broken = ""  # why the browser cannot be started again, once it cannot
        self._closed = False

    # --- the calling threads' side -----------------------------------------------------

    def fetch(self, source: Source, conditional: Conditional | None = None) -> FetchResult:
        """Render `source.url`; a conditional GET does not apply to a rendered page."""
        url = source.url
        if self.settings.respect_robots and not source.ignore_robots:
            refusal = self._http.robots_refusal(url)
            if refusal:
                return FetchFailure(source.id, self._clock(), url, *refusal)
        started = self._clock()
        deadline = self.settings.browser_timeout * 2 + 15  # a slot, a launch and the page
        with self._http.turn(url):
            try:
                future = self._submit(self._render(source))
            except RuntimeError as exc:  # the fetcher is closed
                return self._failure(source, started, FailureReason.BROWSER, str(exc))
            try:
                return future.result(timeout=deadline)
            except concurrent.futures.TimeoutError:
                future.cancel()
                self._kill_browser()  # hung: the next source gets a new one
                return self._failure(
                    source,
                    started,
                    FailureReason.BROWSER,
                    f"the browser did not answer within {deadline:.0f}s; it was stopped",
                )
            except Exception as exc:  # a bug must fail this source only
                return self._failure(
                    source, started, FailureReason.BROWSER, f"{type(exc).__name__}: {exc}"
                )

    def close(self) -> None:
        """Close the browser and end its thread; kill the browser if it does not close."""
        with self._guard:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self._closed = True
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        except Exception:  # hung or broken: its processes are killed instead
            self._kill_browser()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def browser_pid(self) -> int | None:
        """The process id of the running browser, if one was started (tests kill it)."""
        if self._folder is None:
            return None
        try:
            return int((self._folder / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _submit(
        self, work: Coroutine[Any, Any, FetchResult]
    ) -> concurrent.futures.Future[FetchResult]:
        with self._guard:
            if self._closed:
                raise RuntimeError("the browser fetcher is closed")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="browser", daemon=True
                )
                self._thread.start()
            return asyncio.run_coroutine_threadsafe(work, self._loop)

    def _kill_browser(self) -> None:
        """SIGKILL the browser's process group, if a browser was started and is still there."""
        pid = self.browser_pid()
        if pid is not None:
            with contextlib.suppress(OSError):  # Playwright starts it in a group of its own
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def _failure(
        self,
        source: Source,
        at: datetime,
        reason: FailureReason,
        detail: str,
        status: int | None = None,
    ) -> FetchFailure:
        return FetchFailure(source.id, at, source.url, reason, detail, status)

    # --- the browser's thread -------------------------------------------------------------

    def _launcher(self, binary: str) -> str:
        """A script that starts `binary` so that it dies with its parent, writing its pid
        first (made once a pass)."""
        if self._folder is not None:
            return str(self._folder / "chromium")
        setpriv = shutil.which("setpriv")
        self._folder = Path(tempfile.mkdtemp(prefix="clausewatch-browser-"))
        script = self._folder / "chromium"
        prefix = f"{setpriv} --pdeathsig KILL " if setpriv else ""
        script.write_text(
            f"#!/bin/sh\necho $$ > '{self._folder}/pid'\nexec {prefix}'{binary}' \"$@\"\n"
        )
        script.chmod(stat.S_IRWXU)
        return str(script)

    async def _browser_now(self) -> Any:
        """The running browser, started (again) if needed."""
        assert self._launching is not None
        async with self._launching:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._broken:
                raise _Unavailable(self._broken)
            if self._launches >= MAX_LAUNCHES:
                self._broken = f"the browser crashed {MAX_LAUNCHES} times in this pass"
                raise _Unavailable(self._broken)
            self._launches += 1
            self._contexts.clear()
            if self._browser is not None:
                with contextlib.suppress(Exception):
                    await self._browser.close()
                self._browser = None
            try:
                from playwright.async_api import async_playwright
            except ImportError:
                self._broken = "Playwright for Python is not installed: pip install playwright"
                raise _Unavailable(self._broken) from None
            try:
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                binary = chromium_path(self.settings) or self._playwright.chromium.executable_path
                if not os.access(binary, os.X_OK):
                    self._broken = f"no Chromium at {binary}: {INSTALL_HINT}"
                    raise _Unavailable(self._broken)
                self._browser = await self._playwright.chromium.launch(
                    executable_path=self._launcher(binary),
                    headless=True,
                    args=list(CHROMIUM_ARGS),
                    timeout=self.settings.browser_timeout * 1000,
                )
            except _Unavailable:
                raise
            except Exception as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if "Executable doesn't exist" in str(exc) or "ENOENT" in str(exc):
                    self._broken = f"no Chromium found ({text}): {INSTALL_HINT}"
                    raise _Unavailable(self._broken) from None
                raise _Unavailable(f"the browser could not be started: {text}") from None
            return self._browser

    async def _context(self, host: str) -> Any:
        """The host's context (its cookies and storage), made on first use."""
        browser = await self._browser_now()
        held = self._contexts.pop(host, None)
        if held is None:
            context = await browser.new_context(
                user_agent=self.settings.user_agent,
                accept_downloads=False,
                service_workers="block",
                locale="en-US",
                extra_http_headers={"Accept-Language": "en"},
            )
            held = (context, 0)
        self._contexts[host] = (held[0], held[1] + 1)
        return held[0]

    async def _release(self, host: str) -> None:
        """One page of `host` is done; close idle contexts beyond the few kept."""
        held = self._contexts.get(host)
        if held is not None:
            self._contexts[host] = (held[0], held[1] - 1)
        idle = [h for h, (_, users) in self._contexts.items() if users <= 0]
        for old in idle[: max(0, len(idle) - IDLE_CONTEXTS)]:
            context, _ = self._contexts.pop(old)
            with contextlib.suppress(Exception):
                await context.close()

    async def _render(self, source: Source) -> FetchResult:
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.settings.browser_pages))
            self._launching = asyncio.Lock()
        async with self._slots:
            fetched_at = self._clock()
            host = (urlsplit(source.url).hostname or "").lower()
            try:
                context = await self._context(host)
            except _Unavailable as exc:
                return self._failure(source, fetched_at, FailureReason.BROWSER, str(exc))
            try:
                page = await context.new_page()
            except Exception as exc:
                await self._release(host)
                return self._failure(
                    source, fetched_at, FailureReason.BROWSER, f"no page could be opened: {exc}"
                )
            try:
                return await self._load(page, source, fetched_at)
            except Exception as exc:
                return self._page_failure(source, fetched_at, exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(page.close(), 5)
                await self._release(host)

    def _page_failure(self, source: Source, at: datetime, exc: Exception) -> FetchFailure:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        name = type(exc).__name__
        if "Download is starting" in str(exc):
            return self._failure(
                source, at, FailureReason.CONTENT_TYPE, "the page is a download, not a page"
            )
        if name == "TimeoutError" or isinstance(exc, asyncio.TimeoutError):
            return self._failure(source, at, FailureReason.TIMEOUT, f"in the browser: {text}")
        if name == "TargetClosedError" or "has been closed" in text or "crash" in text.lower():
            return self._failure(source, at, FailureReason.BROWSER, f"the browser crashed: {text}")
        if "net::ERR_" in text:
            return self._failure(source, at, FailureReason.CONNECTION, f"in the browser: {text}")
        if "navigat" in text.lower() or "context was destroyed" in text:
            return self._failure(
                source, at, FailureReason.REDIRECT, f"the page navigated away: {text}"
            )
        return self._failure(source, at, FailureReason.BROWSER, f"{name}: {text}")

    async def _load(self, page: Any, source: Source, fetched_at: datetime) -> FetchResult:
        timeout_ms = self.settings.browser_timeout * 1000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.browser_timeout
        # a range selector's start element stands for the range (it must hold text first)
        selectors = [s if isinstance(s, str) else getattr(s, "start", "") for s in source.select]
        selectors = [s for s in selectors if s]
        # With a select target, its text is waited for; without one, the whole page's load.
        response = await page.goto(
            source.url,
            wait_until="domcontentloaded" if selectors else "load",
            timeout=timeout_ms,
        )
        if response is None:
            return self._failure(source, fetched_at, FailureReason.CONNECTION, "no response")
        status = response.status
        headers = await response.all_headers()
        ctype, _ = media_type(headers.get("content-type"))
        if ctype and ctype not in ("text/html", "application/xhtml+xml"):
            if ctype not in ACCEPTED_TYPES:
                return self._failure(
                    source,
                    fetched_at,
                    FailureReason.CONTENT_TYPE,
                    f"content type {ctype!r} is not one of {', '.join(ACCEPTED_TYPES)}",
                    status,
                )
            return self._failure(
                source,
                fetched_at,
                FailureReason.CONTENT_TYPE,
                f"{ctype} is not rendered: use fetch: http for this page",
                status,
            )
        target = ", ".join(selectors) if selectors else "body"
        if status < 400:
            # at the deadline the page is taken as it is: extraction says if terms are there
            await self._settle(page, target, deadline)
        final_url = response.url
        if page.url.split("#")[0] != final_url.split("#")[0]:
            return self._failure(
                source,
                fetched_at,
                FailureReason.REDIRECT,
                f"the page navigated away to {page.url}",
                status,
            )
        html = await page.content()
        content = html.encode("utf-8")
        if len(content) > self.settings.max_bytes:
            return self._failure(
                source,
                fetched_at,
                FailureReason.TOO_LARGE,
                f"rendered page exceeds {self.settings.max_bytes} bytes",
                status,
            )
        block = detect_block(status, headers, html[:PREVIEW_CHARS])
        if block:
            return self._failure(source, fetched_at, FailureReason.BLOCKED, block, status)
        if status >= 400 or status < 200:
            return self._failure(
                source,
                fetched_at,
                FailureReason.HTTP_ERROR,
                f"HTTP {status} in the browser",
                status,
            )
        return Snapshot(
            source_id=source.id,
            fetched_at=fetched_at,
            url=final_url,
            status=status,
            content=content,
            content_type="text/html",
            encoding="utf-8",
            fetched_with=FetchMode.BROWSER,
        )

    async def _settle(self, page: Any, target: str, deadline: float) -> bool:
        """Wait until `target` holds text (checked in the page, on each animation frame),
        then until its length stops changing for a poll; False if that did not happen
        before `deadline`."""
        loop = asyncio.get_running_loop()
        try:
            await page.wait_for_function(
                HAS_TEXT_JS, arg=target, timeout=max(1.0, (deadline - loop.time()) * 1000)
            )
        except Exception as exc:
            if type(exc).__name__ == "TimeoutError":
                return False
            raise
        last = await page.evaluate(TEXT_LENGTH_JS, target)
        while loop.time() < deadline:
            await asyncio.sleep(SETTLE_POLL_MS / 1000)
            length = await page.evaluate(TEXT_LENGTH_JS, target)
            if length == last:
                return True
            last = length
        return False

    async def _shutdown(self) -> None:
        """Close contexts, browser and driver; raises if the browser would not close."""
        for context, _ in list(self._contexts.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 5)
        self._contexts.clear()
        browser, self._browser = self._browser, None
        closed = True
        if browser is not None and browser.is_connected():
            try:
                await asyncio.wait_for(browser.close(), 5)
            except Exception:
                closed = False
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._playwright.stop(), 5)
        self._playwright = None
        if not closed:
            raise _Unavailable("the browser did not close")
