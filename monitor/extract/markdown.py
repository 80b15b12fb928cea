"""Documents as Markdown: the archived version format, and reading any terms Markdown.

Owns: rendering a Document to readable Markdown (front matter with title and effective date,
one '#' heading per heading-path level, one paragraph per clause, every character that
Markdown would interpret escaped) and parsing Markdown back into a Document through the shared
DocumentBuilder, so that parse(render(d)) == d. The same reader takes Open Terms Archive
versions (lists, tables, bold lead-ins, links). markdown-it-py lives here. Must never: do I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from monitor.extract.document import PSEUDO_HEADING_LEVEL, DocumentBuilder, looks_like_heading
from monitor.model import Document

_PARSER = MarkdownIt("commonmark").enable("table")
# a link's URL is normalised (percent-encoded, punycode) at each link of each parse: a tenth of
# an import's parsing, the same few hundred URLs again at every version. Same function, cached.
_PARSER.normalizeLink = functools.lru_cache(maxsize=4096)(_PARSER.normalizeLink)  # type: ignore[method-assign]
FRONT_MATTER_RE = re.compile(r"\A---\n((?:[a-z_]+: .*\n)*)---\n")
# Backslash first, so that the backslashes added for the others are not escaped again.
# str.replace per character is ten times faster here than one regex sub.
INLINE_SPECIALS = "\\`*_[]<>&!|~#"
LINE_START_RE = re.compile(r"^([+\-=>]|\d+(?=[.)](?:\s|$)))")
HTML_TAG_RE = re.compile(r"<[^>]+>")
BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)


def escape(text: str) -> str:
    """Plain text -> Markdown that renders (and parses back) to exactly that text."""
    for char in INLINE_SPECIALS:
        if char in text:
            text = text.replace(char, "\\" + char)
    match = LINE_START_RE.match(text)
    if match:
        if match.group(1)[0].isdigit():
            end = match.end()
            text = f"{text[:end]}\\{text[end:]}"
        else:
            text = "\\" + text
    return text


@dataclass(frozen=True, slots=True)
class RenderedVersion:
    """A Document as the archive stores it: its Markdown in UTF-8, that file's sha256, and its
    number of clauses. Small to send from a worker process, where a Document is not."""

    data: bytes
    sha256: str
    clauses: int


def render_version(document: Document) -> RenderedVersion:
    data = render(document).encode("utf-8")
    return RenderedVersion(data, hashlib.sha256(data).hexdigest(), len(document.clauses))


def render(document: Document) -> str:
    """The archived Markdown of a Document."""
    lines = ["---", f"title: {json.dumps(document.title, ensure_ascii=False)}"]
    if document.effective_date:
        lines.append(f"effective_date: {json.dumps(document.effective_date, ensure_ascii=False)}")
    lines += ["---", ""]
    previous: tuple[str, ...] = ()
    for clause in document.clauses:
        path = clause.heading_path
        common = 0
        while common < min(len(path), len(previous)) and path[common] == previous[common]:
            common += 1
        if common == len(path) and len(path) < len(previous):
            if not path:
                raise ValueError(f"clause {clause.key!r} follows headings but has none")
            common -= 1  # repeat the heading to close the deeper ones
        for depth in range(common, len(path)):
            if depth < PSEUDO_HEADING_LEVEL - 1:
                lines += [f"{'#' * (depth + 1)} {escape(path[depth])}", ""]
            else:
                lines += [f"**{escape(path[depth])}**", ""]
        lines += [escape(clause.full_text), ""]
        previous = path
    return "\n".join(lines)


def _inline_text(token: Token) -> tuple[str, bool]:
    """Plain text of an inline token and whether all of it is bold (a pseudo heading)."""
    parts: list[str] = []
    bold_depth = 0
    all_bold = True
    for child in token.children or []:
        kind = child.type
        if kind == "strong_open":
            bold_depth += 1
        elif kind == "strong_close":
            bold_depth -= 1
        elif kind in ("text", "code_inline"):
            if child.content.strip() and bold_depth == 0:
                all_bold = False
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "html_inline":
            if BR_RE.match(child.content):
                parts.append(" ")
        elif kind == "image":
            parts.append(child.content)
    text = "".join(parts)
    return text, all_bold and bool(text.strip())


def _html_text(html: str) -> str:
    return HTML_TAG_RE.sub(" ", BR_RE.sub(" ", html))


def parse(markdown: str, title: str = "") -> Document:
    """Read terms Markdown (ours or Open Terms Archive's) into a Document."""
    effective_date = None
    match = FRONT_MATTER_RE.match(markdown)
    if match:
        for line in match.group(1).splitlines():
            key, _, value = line.partition(": ")
            if key == "title":
                title = json.loads(value)
            elif key == "effective_date":
                effective_date = json.loads(value)
        markdown = markdown[match.end() :]
    builder = DocumentBuilder()
    # The stated date of the front matter is the Document's: set before reading, so that a later
    # "Effective May 17, 2024" heading stays a heading, as it was in the Document rendered.
    builder.effective_date = effective_date
    for section in _sections(markdown):
        for level, text, label in _read_section(section):
            if level is None:
                builder.text(text, label)
            else:
                builder.heading(level, text)
    return builder.build(title)


# Markdown cut before an ATX heading at the start of a line, or before a line that starts at
# its first column after a blank line, reads as the whole does, piece by piece: either line
# ends whatever block is open (a paragraph, a list, a table, a quote; a blank line ends the
# rest, and indented continuations are not cut). Versions of one document share most
# pieces, and each is read once (_read_section's cache). Not so with fenced code, raw HTML
# blocks that run to a closing marker, or link reference definitions (they reach across
# pieces): such a text is read whole. tests/test_markdown.py checks both ways on the corpus.
_SECTION_RE = re.compile(r"^(?=#{1,6}(?:[ \t]|$))|(?<=\n\n)(?=\S)", re.MULTILINE)
_READ_WHOLE_RE = re.compile(
    r"^ {0,3}(?:```|~~~|<(?:script|pre|style|textarea|!--|\?|![A-Za-z]|!\[CDATA\[)"
    r"|\[[^\]\n]*\]:)",
    re.MULTILINE | re.IGNORECASE,
)


def _sections(markdown: str) -> list[str]:
    if _READ_WHOLE_RE.search(markdown):
        return [markdown]
    return [section for section in _SECTION_RE.split(markdown) if section]


_Call = tuple[int | None, str, str | None]


@functools.lru_cache(maxsize=8192)
def _read_section(markdown: str) -> tuple[_Call, ...]:
    """What a piece of Markdown tells the DocumentBuilder, in order: a heading (its level, its
    text) or a text (None, the text, its list label)."""
    calls: list[_Call] = []
    tokens = _PARSER.parse(markdown)
    item_label: str | None = None
    in_row: list[str] | None = None
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "heading_open":
            calls.append((int(token.tag[1]), _inline_text(tokens[index + 1])[0], None))
        elif kind == "list_item_open":
            item_label = f"{token.info}{token.markup}" if token.info else None
        elif kind == "list_item_close":
            item_label = None
        elif kind == "tr_open":
            in_row = []
        elif kind in ("th_open", "td_open") and in_row is not None:
            in_row.append(_inline_text(tokens[index + 1])[0].strip())
        elif kind == "tr_close" and in_row is not None:
            calls.append((None, " | ".join(cell for cell in in_row if cell), None))
            in_row = None
        elif kind == "inline" and tokens[index - 1].type == "paragraph_open":
            text, all_bold = _inline_text(token)
            label, item_label = item_label, None
            if all_bold and looks_like_heading(text):
                calls.append((PSEUDO_HEADING_LEVEL, f"{label} {text}" if label else text, None))
            else:
                calls.append((None, text, label))
        elif kind in ("fence", "code_block"):
            for paragraph in token.content.split("\n\n"):
                calls.append((None, paragraph, None))
        elif kind == "html_block":
            calls.append((None, _html_text(token.content), None))
    return tuple(calls)
