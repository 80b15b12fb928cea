"""The `auto` fetch mode: plain HTTP first, the browser when plain HTTP is refused; a source
whose last snapshot was rendered is rendered again directly.

Owns: when a plain fetch's failure is worth a rendered retry, as Open Terms Archive decides:
a bot wall or challenge, HTTP 403, 406 or 502, or a connection reset. (A page that is only an
app shell, with no terms text, is found by extraction: monitor.track asks for the browser
then.) Must never: render (monitor.fetch.browser does) or parse terms.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.fetch.base import Fetcher
from monitor.model import (
    Conditional,
    FailureReason,
    FetchFailure,
    FetchMode,
    FetchResult,
    Source,
)

ESCALATE_STATUSES = frozenset({403, 406, 502})


def worth_rendering(result: FetchResult) -> bool:
    """Whether a plain fetch's result is a refusal that a browser may get past."""
    if not isinstance(result, FetchFailure):
        return False
    if result.reason is FailureReason.BLOCKED:
        return True
    if result.reason is FailureReason.HTTP_ERROR:
        return result.status in ESCALATE_STATUSES
    if result.reason is FailureReason.CONNECTION:
        detail = result.detail.lower()
        return "reset" in detail or "aborted" in detail or "remotedisconnected" in detail
    return False


def render_instead(source: Source, result: FetchResult, extracted: object) -> bool:
    """Whether a plain page whose extraction gave `extracted` should be rendered instead:
    `auto` (for a page of its own, or for any of its pages) and no terms text in it."""
    return (
        isinstance(extracted, FetchFailure)
        and extracted.reason is FailureReason.NOT_TERMS
        and getattr(result, "fetched_with", None) is FetchMode.HTTP
        and any(s.fetch is FetchMode.AUTO for s in (source.page_sources() or (source,)))
    )


class AutoFetcher:
    """Plain HTTP, then the browser (made only when first needed) on a refusal."""

    def __init__(self, http: Fetcher, browser: Callable[[], Fetcher]) -> None:
        self._http = http
        self._browser = browser

    def fetch(self, source: Source, conditional: Conditional | None = None) -> FetchResult:
        if conditional is not None and conditional.fetched_with is FetchMode.BROWSER:
            # rendered last time: rendered again, without a plain request first (a page that
            # went back to serving its terms plainly is still tracked, just rendered)
            return self._browser().fetch(source, None)
        result = self._http.fetch(source, conditional)
        if not worth_rendering(result):
            return result
        assert isinstance(result, FetchFailure)
        rendered = self._browser().fetch(source, None)
        if isinstance(rendered, FetchFailure):
            # the plain refusal is the diagnosis; what the browser met is added to it
            return FetchFailure(
                result.source_id,
                result.fetched_at,
                result.url,
                result.reason,
                f"{result.detail}; in the browser: {rendered.reason.value}: {rendered.detail}",
                result.status,
            )
        return rendered

    def close(self) -> None:
        """The HTTP and browser fetchers are the registry's; it closes them."""
