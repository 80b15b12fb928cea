"""HTTP fetching, politely: the only module that talks to web servers (requests lives here).

Owns: the session and its User-Agent, connect/read timeouts and each request's total deadline
(a watchdog shuts down the socket of a request that outlives it), a streamed body with a size cap
counted after decompression (compression bombs stop early), retries with exponential backoff
on connection errors, 429 (Retry-After honoured) and 5xx, conditional GET (ETag and
Last-Modified, giving NotModified), a minimum delay between two requests to one host,
robots.txt, content-type and charset checks, and turning a bot wall, challenge or login page
(monitor.fetch.bot_walls says which) into a FetchFailure, never a Snapshot. Must never: parse terms,
write files.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import os
import random
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import requests
import requests.adapters
import urllib3
from protego import Protego

from monitor.config import FetchSettings
from monitor.fetch.bot_walls import detect_block
from monitor.model import (
    Conditional,
    FailureReason,
    FetchFailure,
    FetchResult,
    NotModified,
    Snapshot,
    Source,
)

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
ACCEPTED_TYPES = (*TEXT_TYPES, "application/pdf")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHUNK = 64 * 1024  # urllib3 (2.6 and later) decompresses no more than this a read
PREVIEW_CHARS = 400_000  # how much of a body the bot-wall check reads
ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_TTL = 24 * 3600.0
META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE
)
XML_ENCODING_RE = re.compile(rb"""^<\?xml[^>]+encoding=["']([a-zA-Z0-9_\-.]+)""")


def utcnow() -> datetime:
    return datetime.now(UTC)


def media_type(header: str | None) -> tuple[str, str | None]:
    """'text/html; charset=UTF-8' -> ('text/html', 'UTF-8')."""
    if not header:
        return "", None
    parts = [p.strip() for p in header.split(";")]
    charset = None
    for param in parts[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return parts[0].lower(), charset


def sniff_type(body: bytes) -> str:
    head = body[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body", b"<!--")):
        return "text/html"
    return ""


def choose_encoding(
    body: bytes, declared: str | None, content_type: str
) -> tuple[str | None, str, str | None]:
    """Pick and check the charset of a text body. Returns (encoding, problem or "", and the
    text that the check decoded where it has it: most pages, which the bot-wall check then
    reads rather than decoding the body once more)."""
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "", None
    candidates: list[tuple[str, str]] = []
    if declared:
        candidates.append((declared, "Content-Type header"))
    if content_type != "text/plain":
        for pattern in (XML_ENCODING_RE, META_CHARSET_RE):
            found = pattern.search(body[:4096])
            if found:
                candidates.append((found.group(1).decode("ascii"), "page's own declaration"))
                break
    for name, origin in candidates:
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            return None, f"unknown charset {name!r} in the {origin}", None
        if codec in ("latin-1", "iso8859-1", "ascii"):
            codec = "cp1252"  # what browsers do (WHATWG encoding standard)
        try:
            return codec, "", body.decode(codec)  # the common case: one strict decode
        except UnicodeDecodeError:
            pass
        text = body.decode(codec, errors="replace")
        bad = text.count("\ufffd") - body.decode(codec, errors="ignore").count("\ufffd")
        if bad <= max(8, len(body) // 10000) or bad == 0:
            return codec, "", text
        return None, f"{bad} byte sequences are not valid {name} (declared in the {origin})", None
    try:
        return "utf-8", "", body.decode("utf-8")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(body[:200_000]).best()
        if best is None:
            return None, "no charset declared and none could be detected", None
        return best.encoding, "", None


def _preview(content: bytes, charset: str | None) -> str:
    """Enough of the body, decoded leniently, to recognise a bot wall."""
    try:
        return content[:PREVIEW_CHARS].decode(charset or "utf-8", errors="replace")
    except LookupError:
        return content[:PREVIEW_CHARS].decode("utf-8", errors="replace")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(slots=True)
class _Retry:
    reason: FailureReason
    detail: str
    status: int | None = None
    wait: float | None = None  # from Retry-After


@dataclass(slots=True)
class _Host:
    lock: threading.Lock
    next_at: float = 0.0


def _no_credentials(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


@dataclass(slots=True)
class _Watch:
    deadline: float  # time.monotonic()
    connection: object = None  # the urllib3 connection the request is made on
    expired: bool = False
    shut: bool = False


def _shut_down(connection: object) -> bool:
    """End every read on the connection's socket now, from any thread; False if it has none
    yet. The plain socket's shutdown, even for TLS: the reading thread keeps its TLS state and
    sees the end of the stream."""
    sock = getattr(connection, "sock", None)
    if not isinstance(sock, socket.socket):
        return False
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    return True


class _Deadlines:
    """Total deadlines for requests. `read_timeout` bounds each read, so a server that sends a
    byte every half second never times out; one thread shuts down the socket of any request
    that outlives its deadline, and the read blocked on it ends at once. A request is watched
    on the thread that makes it (the connection pools below say which connection it uses)."""

    RECHECK = 0.25  # seconds, for an expired request whose socket is not connected yet

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watches: dict[int, _Watch] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, seconds: float) -> Iterator[_Watch]:
        watch = _Watch(time.monotonic() + seconds)
        key = threading.get_ident()
        with self._changed:
            self._watches[key] = watch
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-deadlines", daemon=True
                )
                self._thread.start()
            self._changed.notify()
        try:
            yield watch
        finally:
            with self._changed:
                self._watches.pop(key, None)

    def attach(self, connection: object) -> None:
        """The calling thread's request is now made on `connection`."""
        with self._changed:
            watch = self._watches.get(threading.get_ident())
            if watch is not None:
                watch.connection = connection
                self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                soonest = math.inf
                for watch in self._watches.values():
                    if watch.shut:
                        continue
                    if watch.deadline <= now:
                        watch.expired = True
                        watch.shut = _shut_down(watch.connection)
                        if not watch.shut:
                            soonest = min(soonest, now + self.RECHECK)
                    else:
                        soonest = min(soonest, watch.deadline)
                self._changed.wait(None if soonest == math.inf else soonest - now)


DEADLINES = _Deadlines()


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        DEADLINES.attach(conn)
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        DEADLINES.attach(conn)
        return super()._make_request(conn, *args, **kwargs)


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with pools whose requests DEADLINES can end."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS brings pools of its own
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


class Fetcher:
    """Fetches terms pages politely. Thread-safe: one instance serves a whole pass."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._session = requests.Session()
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, _WatchedAdapter())
        self._session.max_redirects = settings.max_redirects
        # Terms pages are public: no credentials from ~/.netrc (an auth that adds nothing
        # keeps requests from looking there).
        self._session.auth = _no_credentials
        if not urllib.request.getproxies():
            # Without proxy variables, what requests reads from the environment on every
            # request (proxies, no_proxy, CA bundle: 0.4 ms of a 3.5 ms fetch) is read once.
            self._session.trust_env = False
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                self._session.verify = bundle
        self._session.headers.update(
            {
                "User-Agent": settings.user_agent,
                "Accept": (
                    "text/html,application/xhtml+xml,application/pdf;q=0.9,"
                    "text/plain;q=0.8,text/markdown;q=0.8"
                ),
                "Accept-Language": "en",
                "Accept-Encoding": "gzip, deflate",
            }
        )
        # robots.txt groups name a product token: "Clausewatch", not the whole User-Agent
        self._robot_name = (
            settings.user_agent.split("/")[0].split()[0] if settings.user_agent.strip() else "*"
        )
        self._guard = threading.Lock()
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, tuple[float, Protego]] = {}

    def close(self) -> None:
        self._session.close()

    @contextlib.contextmanager
    def _turn(self, url: str) -> Iterator[None]:
        """Hold the host for one request, after waiting out its minimum delay."""
        host = (urlsplit(url).hostname or "").lower()
        with self._guard:
            state = self._hosts.setdefault(host, _Host(threading.Lock()))
        with state.lock:
            wait = state.next_at - self._monotonic()
            if wait > 0:
                self._sleep(wait)
            try:
                yield
            finally:
                state.next_at = self._monotonic() + self.settings.host_delay

    def fetch(self, source: Source, conditional: Conditional | None = None) -> FetchResult:
        """Fetch a source's URL: Snapshot, NotModified or FetchFailure. Never raises for HTTP."""
        return self.fetch_url(
            source.url,
            source_id=source.id,
            conditional=conditional,
            respect_robots=self.settings.respect_robots and not source.ignore_robots,
        )

    def fetch_url(
        self,
        url: str,
        *,
        source_id: str,
        conditional: Conditional | None = None,
        respect_robots: bool = True,
    ) -> FetchResult:
        if respect_robots:
            refusal = self._robots_refusal(url)
            if refusal:
                return FetchFailure(source_id, self._clock(), url, *refusal)
        headers = {}
        if conditional and conditional.etag:
            headers["If-None-Match"] = conditional.etag
        if conditional and conditional.last_modified:
            headers["If-Modified-Since"] = conditional.last_modified
        retry: _Retry | None = None
        for attempt in range(self.settings.retries + 1):
            if attempt:
                assert retry is not None
                delay = retry.wait
                if delay is None:
                    base = self.settings.backoff_base * 2 ** (attempt - 1)
                    delay = min(self.settings.backoff_max, base) * (0.5 + random.random() / 2)
                elif delay > self.settings.max_retry_after:
                    break
                self._sleep(delay)
            with self._turn(url), DEADLINES.watch(self.settings.total_timeout) as watch:
                result = self._attempt(url, source_id, headers)
            if watch.expired and isinstance(result, (_Retry, FetchFailure)):
                return FetchFailure(
                    source_id, self._clock(), url, FailureReason.TIMEOUT, self._too_slow(url)
                )
            if not isinstance(result, _Retry):
                return result
            retry = result
        assert retry is not None
        detail = retry.detail
        if retry.wait is not None and retry.wait > self.settings.max_retry_after:
            detail += f"; Retry-After {retry.wait:.0f}s is longer than {self.settings.max_retry_after:.0f}s"
        else:
            detail += f" (after {self.settings.retries + 1} attempts)"
        return FetchFailure(source_id, self._clock(), url, retry.reason, detail, retry.status)

    def _too_slow(self, url: str) -> str:
        return (
            f"no complete answer from {url} within total_timeout "
            f"({self.settings.total_timeout:g} s): the server sends too slowly"
        )

    def _attempt(self, url: str, source_id: str, headers: dict[str, str]) -> FetchResult | _Retry:
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        fetched_at = self._clock()

        def failure(reason: FailureReason, detail: str, status: int | None = None) -> FetchFailure:
            return FetchFailure(source_id, fetched_at, url, reason, detail, status)

        try:
            response = self._session.get(url, headers=headers, stream=True, timeout=timeout)
        except requests.TooManyRedirects as exc:
            return failure(FailureReason.REDIRECT, f"redirect loop or too many redirects: {exc}")
        except requests.Timeout as exc:
            return _Retry(FailureReason.TIMEOUT, f"timed out: {exc}")
        except requests.ConnectionError as exc:
            return _Retry(FailureReason.CONNECTION, f"connection failed: {exc}")
        except requests.RequestException as exc:
            return failure(FailureReason.CONNECTION, f"request failed: {exc}")
        with response:
            return self._read(response, source_id, fetched_at, failure)

    def _read(
        self,
        response: requests.Response,
        source_id: str,
        fetched_at: datetime,
        failure: Callable[..., FetchFailure],
    ) -> FetchResult | _Retry:
        status = response.status_code
        final_url = response.url
        if status == 304:
            return NotModified(source_id, fetched_at, final_url)
        limit = self.settings.max_bytes
        declared = response.headers.get("Content-Length", "")
        if (
            declared.isdigit()
            and int(declared) > limit
            and "Content-Encoding" not in response.headers
        ):
            return failure(
                FailureReason.TOO_LARGE, f"Content-Length {declared} exceeds {limit} bytes", status
            )
        body = bytearray()
        try:
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > limit:
                    return failure(
                        FailureReason.TOO_LARGE,
                        f"body exceeds {limit} bytes (after decompression)",
                        status,
                    )
        except requests.exceptions.ChunkedEncodingError as exc:
            return _Retry(FailureReason.TRUNCATED, f"body cut short: {exc}", status)
        except requests.exceptions.ContentDecodingError as exc:
            return failure(FailureReason.DECODE, f"cannot decompress body: {exc}", status)
        except requests.Timeout as exc:
            return _Retry(FailureReason.TIMEOUT, f"timed out reading body: {exc}", status)
        except requests.ConnectionError as exc:
            return _Retry(FailureReason.CONNECTION, f"connection lost reading body: {exc}", status)
        content = bytes(body)
        ctype, charset = media_type(response.headers.get("Content-Type"))
        if not ctype or ctype == "application/octet-stream":
            ctype = sniff_type(content) or ctype
        encoding, problem, text = None, "", None
        if ctype in TEXT_TYPES and 200 <= status < 400:  # what becomes a Snapshot, if not a wall
            encoding, problem, text = choose_encoding(content, charset, ctype)
        block = None
        if ctype in TEXT_TYPES or not ctype:
            preview = text[:PREVIEW_CHARS] if text is not None else _preview(content, charset)
            block = detect_block(status, response.headers, preview)
        if block:
            return failure(FailureReason.BLOCKED, block, status)
        if status in RETRY_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"), fetched_at)
            return _Retry(
                FailureReason.HTTP_ERROR, f"HTTP {status} {response.reason}", status, wait
            )
        if status >= 400 or status < 200:
            return failure(FailureReason.HTTP_ERROR, f"HTTP {status} {response.reason}", status)
        if ctype not in ACCEPTED_TYPES:
            return failure(
                FailureReason.CONTENT_TYPE,
                f"content type {ctype or 'missing'!r} is not one of {', '.join(ACCEPTED_TYPES)}",
                status,
            )
        if not content.strip():
            return failure(FailureReason.NOT_TERMS, "empty body", status)
        if problem:
            return failure(FailureReason.DECODE, problem, status)
        return Snapshot(
            source_id=source_id,
            fetched_at=fetched_at,
            url=final_url,
            status=status,
            content=content,
            content_type=ctype,
            encoding=encoding,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )

    def _robots_refusal(self, url: str) -> tuple[FailureReason, str] | None:
        """Why robots.txt keeps us from fetching the URL, or None when it may be fetched."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            cached = self._robots.get(origin)
        if cached is None or self._monotonic() - cached[0] > ROBOTS_TTL:
            rules = self._load_robots(origin)
            if not isinstance(rules, Protego):
                return rules  # not cached: the next pass asks again
            cached = (self._monotonic(), rules)
            with self._guard:
                self._robots[origin] = cached
        if cached[1].can_fetch(url, self._robot_name):
            return None
        return (
            FailureReason.ROBOTS,
            f"robots.txt of {origin} disallows this URL (set ignore_robots: true to override)",
        )

    def _load_robots(self, origin: str) -> Protego | tuple[FailureReason, str]:
        """Parsed robots.txt; a 4xx means no rules (RFC 9309), 5xx or no answer forbids all."""
        robots_url = f"{origin}/robots.txt"
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        watch = _Watch(math.inf)
        try:
            with self._turn(robots_url), DEADLINES.watch(self.settings.total_timeout) as watch:
                response = self._session.get(robots_url, timeout=timeout, stream=True)
                with response:
                    body = response.raw.read(ROBOTS_MAX_BYTES, decode_content=True) or b""
        except requests.Timeout as exc:
            return FailureReason.TIMEOUT, f"timed out asking {robots_url}: {exc}"
        except requests.RequestException as exc:
            if watch.expired:
                return FailureReason.TIMEOUT, self._too_slow(robots_url)
            return FailureReason.CONNECTION, f"cannot reach {origin} (asking for robots.txt): {exc}"
        except Exception as exc:  # urllib3 decode errors and the like
            if watch.expired:
                return FailureReason.TIMEOUT, self._too_slow(robots_url)
            return FailureReason.ROBOTS, f"{robots_url} could not be read ({exc}); not fetching"
        if response.status_code >= 500:
            return (
                FailureReason.ROBOTS,
                f"{robots_url} answered HTTP {response.status_code}; RFC 9309 says not to crawl",
            )
        if response.status_code >= 400:
            return Protego.parse("")
        # Protego follows RFC 9309: "*" and "$" in paths, the longest match wins
        return Protego.parse(body.decode("utf-8", errors="replace"))
