"""Readers by media type: which reader turns a Snapshot into a Document, and the checks after.

Owns: READERS, the registry from a snapshot's media type to its reader (HTML and XHTML, plain
text, PDF, Markdown: an imported Open Terms Archive version is read back as Markdown, never as
HTML; a document of several pages, each page by its own reader), an explicit failure for a
type no reader takes, and refusing a Document too short to be
terms. A new format is one entry here. Must never: fetch, write files, or read the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from monitor.errors import NotTerms
from monitor.extract.document import clause_key
from monitor.extract.html import html_document
from monitor.extract.markdown import parse as markdown_document
from monitor.extract.text import pdf_document, text_document
from monitor.model import Clause, Document, FailureReason, FetchFailure, Snapshot, Source
from monitor.pages import MULTIPART, split

# A reader raises NotTerms when the content holds no terms it can read.
Reader = Callable[[Snapshot, Source], Document]


def _html(snapshot: Snapshot, source: Source) -> Document:
    return html_document(snapshot.text, source.select, source.remove)


def _pages(snapshot: Snapshot, source: Source) -> Document:
    """A document of several pages (monitor.pages): each page read by its own reader with its
    own selectors, in order, as one Document (clause keys numbered across the pages, so that
    none repeats)."""
    try:
        parts = split(snapshot.content)
    except ValueError as exc:
        raise NotTerms(str(exc)) from None
    if len(parts) != len(source.pages):
        raise NotTerms(
            f"the snapshot holds {len(parts)} pages where the source lists {len(source.pages)}"
        )
    documents = []
    for number, (part, page) in enumerate(zip(parts, source.page_sources(), strict=True), 1):
        where = f"page {number} of {len(parts)} ({part.url})"
        reader = READERS.get(part.content_type)
        if reader is None or part.content_type == MULTIPART:
            raise NotTerms(f"{where}: no reader for media type {part.content_type!r}")
        page_snapshot = replace(
            snapshot,
            url=part.url,
            content=part.content,
            content_type=part.content_type,
            encoding=part.encoding,
            fetched_with=part.fetched_with,
            sha256="",
        )
        try:
            documents.append(reader(page_snapshot, page))
        except NotTerms as exc:
            raise NotTerms(f"{where}: {exc}") from None
    counts: dict[tuple[str, ...], int] = {}
    clauses = []
    for document in documents:
        for clause in document.clauses:
            counts[clause.heading_path] = counts.get(clause.heading_path, 0) + 1
            key = clause_key(clause.heading_path, counts[clause.heading_path])
            clauses.append(Clause(key, clause.heading_path, clause.label, clause.text))
    effective = next((d.effective_date for d in documents if d.effective_date), None)
    return Document(documents[0].title, tuple(clauses), effective)


READERS: dict[str, Reader] = {
    MULTIPART: _pages,
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
