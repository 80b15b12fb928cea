"""Readers by media type: which reader turns a Snapshot into a Document, and the checks after.

Owns: READERS, the registry from a snapshot's media type to its reader (HTML and XHTML, plain
text, PDF, Markdown: an imported Open Terms Archive version is read back as Markdown, never as
HTML), an explicit failure for a type no reader takes, and refusing a Document too short to be
terms. A new format is one entry here. Must never: fetch, write files, or read the clock.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.errors import NotTerms
from monitor.extract.html import html_document
from monitor.extract.markdown import parse as markdown_document
from monitor.extract.text import pdf_document, text_document
from monitor.model import Document, FailureReason, FetchFailure, Snapshot, Source

# A reader raises NotTerms when the content holds no terms it can read.
Reader = Callable[[Snapshot, Source], Document]


def _html(snapshot: Snapshot, source: Source) -> Document:
    return html_document(snapshot.text, source.select, source.remove)


READERS: dict[str, Reader] = {
    "text/html": _html,
    "application/xhtml+xml": _html,
    "text/plain": lambda snapshot, source: text_document(snapshot.text, source.title),
    "application/pdf": lambda snapshot, source: pdf_document(snapshot.content, source.title),
    "text/markdown": lambda snapshot, source: markdown_document(snapshot.text, source.title),
}


def extract(snapshot: Snapshot, source: Source, *, min_chars: int = 200) -> Document | FetchFailure:
    """The terms Document in a snapshot, or a FetchFailure saying why there is none."""

    def failure(reason: FailureReason, detail: str) -> FetchFailure:
        return FetchFailure(
            source.id, snapshot.fetched_at, snapshot.url, reason, detail, snapshot.status
        )

    reader = READERS.get(snapshot.content_type)
    if reader is None:
        return failure(
            FailureReason.CONTENT_TYPE,
            f"no reader for media type {snapshot.content_type!r} "
            f"(readers: {', '.join(sorted(READERS))})",
        )
    try:
        document = reader(snapshot, source)
    except NotTerms as exc:
        return failure(FailureReason.NOT_TERMS, str(exc))
    length = sum(len(c.full_text) for c in document.clauses)
    if length < min_chars:
        return failure(
            FailureReason.NOT_TERMS,
            f"the selection holds only {length} characters of text (at least {min_chars} expected)",
        )
    return document
