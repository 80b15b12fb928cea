"""Documents of several pages (`pages:` in sources.yaml, `combine` in Open Terms Archive).

Owns: the format of the one snapshot of a multi-page document, written by fetching
(monitor.fetch.base) and read by extraction (monitor.extract.html), which is why it sits below
both: a MIME multipart/mixed message that holds
every page's bytes exactly as served (each part with its media type, charset, URL and the
way it was fetched), and reading it back into its parts. The boundary is derived from the
parts, so that the same pages give the same bytes (and the raw-hash short-circuit holds).
Must never: fetch or parse terms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.model import FetchMode, Page, Snapshot

MULTIPART = "multipart/mixed"
_FETCHED_WITH = "X-Clausewatch-Fetched-With"


@dataclass(frozen=True, slots=True)
class Part:
    """One page of a multi-page snapshot."""

    url: str
    content_type: str
    encoding: str | None
    fetched_with: FetchMode
    content: bytes


def combine(source_id: str, snapshots: list[Snapshot]) -> Snapshot:
    """One snapshot holding `snapshots` (the pages, in order). It was fetched with the browser
    if any page was."""
    digest = hashlib.sha256()
    for snapshot in snapshots:
        digest.update(snapshot.sha256.encode())
    boundary = f"clausewatch-{digest.hexdigest()[:32]}".encode()
    assert not any(boundary in s.content for s in snapshots)  # a sha256 prefix of themselves
    out = [b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="' + boundary + b'"\r\n']
    for snapshot in snapshots:
        ctype = snapshot.content_type
        if snapshot.encoding:
            ctype += f"; charset={snapshot.encoding}"
        out.append(
            b"\r\n--"
            + boundary
            + b"\r\n"
            + f"Content-Type: {ctype}\r\nContent-Location: {snapshot.url}\r\n"
            f"{_FETCHED_WITH}: {snapshot.fetched_with.value}\r\n\r\n".encode()
            + snapshot.content
        )
    out.append(b"\r\n--" + boundary + b"--\r\n")
    first = snapshots[0]
    browser = any(s.fetched_with is FetchMode.BROWSER for s in snapshots)
    return Snapshot(
        source_id=source_id,
        fetched_at=first.fetched_at,
        url=first.url,
        status=200,
        content=b"".join(out),
        content_type=MULTIPART,
        encoding=None,
        fetched_with=FetchMode.BROWSER if browser else FetchMode.HTTP,
    )


def split(content: bytes) -> list[Part]:
    """The parts of a snapshot made by `combine`; ValueError if it is not one."""
    head, sep, rest = content.partition(b"\r\n\r\n")
    marker = b'boundary="'
    start = head.find(marker)
    if not sep or start < 0:
        raise ValueError("not a multi-page snapshot: no multipart boundary")
    boundary = head[start + len(marker) : head.index(b'"', start + len(marker))]
    body, end, _ = (b"\r\n" + rest).partition(b"\r\n--" + boundary + b"--")
    if not end:
        raise ValueError("multi-page snapshot is cut short: no closing boundary")
    parts = []
    for chunk in body.split(b"\r\n--" + boundary + b"\r\n")[1:]:
        headers, _, data = chunk.partition(b"\r\n\r\n")
        fields = {}
        for line in headers.decode("utf-8", errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        ctype, _, params = fields.get("content-type", "").partition(";")
        _, _, charset = params.partition("charset=")
        parts.append(
            Part(
                url=fields.get("content-location", ""),
                content_type=ctype.strip(),
                encoding=charset.strip() or None,
                fetched_with=FetchMode(fields.get(_FETCHED_WITH.lower(), "http")),
                content=data,
            )
        )
    return parts


def recorded_pages(content: bytes) -> tuple[Page, ...]:
    """The pages a multi-page snapshot holds, as it recorded them: each page's URL and the way
    it was fetched, with no selectors (the snapshot keeps none); ValueError if it is not one."""
    return tuple(Page(part.url, fetch=part.fetched_with) for part in split(content))
