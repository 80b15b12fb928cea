"""Plain text and PDF into Documents, paragraph by paragraph.

Owns: reading a text (or the text pypdf pulls out of a PDF) as paragraphs, headings in capitals
or numbered, page numbers dropped and words hyphenated across lines joined. Split from
monitor.extract.html, which chooses this reader by content type. pypdf is imported here only, when
a PDF is read. Must never: fetch, write files, or read the clock.
"""

from __future__ import annotations

import io
import re

from monitor.errors import NotTerms
from monitor.extract.document import DocumentBuilder, looks_like_heading
from monitor.model import Document

PAGE_NUMBER_RE = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)


def text_document(text: str, title: str = "") -> Document:
    """Plain text (or text pulled out of a PDF) into a Document, paragraph by paragraph."""
    builder = DocumentBuilder()
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    paragraph: list[str] = []

    def end_paragraph() -> None:
        if paragraph:
            builder.text(" ".join(paragraph))
            paragraph.clear()

    for index, line in enumerate(lines):
        if not line or PAGE_NUMBER_RE.match(line):
            end_paragraph()
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        heading_like = (
            len(line) <= 80
            and looks_like_heading(line)
            and not paragraph
            and (line.isupper() or not following or following[:1].isupper())
            and sum(c.isalpha() for c in line) >= 3
        )
        numbered = re.match(r"^\d{1,2}(?:\.\d{1,2})*\.?\s+[A-Z]", line)
        if heading_like and (line.isupper() or numbered):
            end_paragraph()
            builder.heading(2 if numbered else 1, line)
            continue
        if (
            paragraph
            and paragraph[-1].endswith((".", ":", ";"))
            and re.match(r"^(?:\(?[a-z0-9]{1,3}[.)]\s|[A-Z])", line)
        ):
            end_paragraph()
        if paragraph and paragraph[-1].endswith("-") and line[:1].islower():
            paragraph[-1] = paragraph[-1][:-1] + line  # a word hyphenated across lines
        else:
            paragraph.append(line)
    end_paragraph()
    return builder.build(title)


def pdf_document(content: bytes, title: str = "") -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise NotTerms(f"the PDF cannot be read: {exc}") from None
    return text_document("\n\n".join(pages), title or str(meta_title))
