"""A failure in a few words: what `clausewatch track` shows for a failed source.

Owns: reading a FetchFailure's detail (a requests/urllib3 exception, a Chromium net:: error,
an HTTP status, a fetcher's own sentence) into one short reason such as "dns: name not
resolved", "connection refused", "timeout after 30 s" or "http 403". The full detail stays
in the FetchFailure, the catalog and `track --verbose`. Must never: fetch, or change what a
failure is (its FailureReason decides that).
"""

from __future__ import annotations

import re

from monitor.model import FailureReason, FetchFailure

# (what the detail says, the reason in a few words), the first match wins: the plain-HTTP
# error comes first in an `auto` failure's detail, the browser's after "; in the browser:"
PATTERNS = (
    (
        re.compile(
            r"NameResolutionError|Name or service not known|nodename nor servname"
            r"|No address associated with hostname|getaddrinfo failed|ERR_NAME_NOT_RESOLVED",
        ),
        "dns: name not resolved",
    ),
    (
        re.compile(r"Temporary failure in name resolution|ERR_NAME_RESOLUTION_FAILED"),
        "dns: no answer from the resolver",
    ),
    (re.compile(r"Connection refused|ERR_CONNECTION_REFUSED"), "connection refused"),
    (
        re.compile(
            r"Connection reset|ConnectionResetError|ERR_CONNECTION_RESET|RemoteDisconnected"
            r"|Connection aborted|ERR_EMPTY_RESPONSE|ERR_CONNECTION_CLOSED"
        ),
        "connection reset",
    ),
    (
        re.compile(
            r"Network is unreachable|No route to host|ERR_INTERNET_DISCONNECTED"
            r"|ERR_ADDRESS_UNREACHABLE|ERR_NETWORK_CHANGED"
        ),
        "network unreachable",
    ),
    (re.compile(r"SSLError|CERTIFICATE_VERIFY_FAILED|ERR_CERT_|ERR_SSL_"), "tls: handshake failed"),
)
TOTAL_RE = re.compile(r"within total_timeout \(([\d.]+) s\)")
TIMEOUT_RE = re.compile(r"(?:connect|read) timeout=([\d.]+)")
CUT = 70  # characters of a detail no pattern knows


def short_reason(failure: FetchFailure) -> str:
    """One short line saying why a fetch or extraction failed."""
    detail = " ".join(failure.detail.split())
    if failure.reason is FailureReason.HTTP_ERROR and failure.status:
        return f"http {failure.status}"
    if failure.reason is FailureReason.TIMEOUT:
        total, each = TOTAL_RE.search(detail), TIMEOUT_RE.search(detail)
        if total:
            return f"timeout: incomplete after {float(total.group(1)):g} s"
        return f"timeout after {float(each.group(1)):g} s" if each else "timeout"
    if failure.reason in (FailureReason.CONNECTION, FailureReason.BROWSER):
        for pattern, reason in PATTERNS:
            if pattern.search(detail):
                return reason
    first = re.split(r";\s|:\s|\s\(", detail, maxsplit=1)[0]
    if len(first) > CUT:
        first = first[: CUT - 1].rstrip() + "…"
    return f"{failure.reason.value}: {first}" if first else failure.reason.value
