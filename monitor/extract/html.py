"""The HTML reader: an HTML page into a Document of Clauses.

Owns: parsing the page whole (a page the parser gave up on is NotTerms, never a shorter
Document), choosing the terms content (the source's `select`/`remove`, CSS and range selectors
run by monitor.extract.selection, or without them monitor.extract.main_content's choice),
keeping the structure people cite (headings, number labels, lists, tables as rows,
definitions, bold lead-in headings), and refusing a selection that matched nothing.
monitor.extract.readers chooses this reader by media type. lxml lives here and in the modules
below, CSS in monitor.css (bs4 is not used: lxml alone parses a 300 KB page about ten times
faster). Must never: fetch, write files, or read the clock.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from monitor.errors import NotTerms
from monitor.extract.document import (
    MAX_PSEUDO_HEADING_CHARS,
    PSEUDO_HEADING_LEVEL,
    DocumentBuilder,
    looks_like_heading,
)
from monitor.extract.main_content import decode_emails, main_content, remove_chrome
from monitor.extract.selection import choose
from monitor.extract.selection import remove as remove_content
from monitor.model import Document, Selector

DROP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "iframe",
        "object",
        "embed",
        "canvas",
        "select",
        "option",
        "input",
        "textarea",
        "head",
        "link",
        "meta",
    ]
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "body",
        "html",
        "blockquote",
        "pre",
        "address",
        "figure",
        "figcaption",
        "center",
        "details",
        "summary",
        "hr",
        "dt",
        "dd",
        "fieldset",
        "legend",
        "button",
    ]
)
BOLD_TAGS = ("b", "strong")
# inline elements that, with no element inside them and no ARIA role, only hold text
PLAIN_INLINE_TAGS = frozenset(
    [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "span",
        "small",
        "sub",
        "sup",
        "code",
        "abbr",
        "cite",
        "mark",
        "s",
        "q",
        "time",
    ]
)
XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
_PARSERS = threading.local()  # a parser per thread: its error log is read after each parse
_TEXT_LENGTH = etree.XPath("string-length(normalize-space(.))")


def _ordinal(number: int, kind: str) -> str:
    if kind in ("a", "A"):
        label, n = "", number
        while n > 0:
            n, rest = divmod(n - 1, 26)
            label = chr(ord("a") + rest) + label
        return label.upper() if kind == "A" else label
    if kind in ("i", "I"):
        numerals = [(10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]
        label, n = "", number
        for value, letters in numerals:
            while n >= value:
                label, n = label + letters, n - value
        return label.upper() if kind == "I" else label
    return str(number)


def _flat_text(el: etree._Element) -> str:
    """The text of an element, with a space wherever a block or <br> separates words."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if not isinstance(node.tag, str) or node.tag in DROP_TAGS:
            return
        spaced = node.tag == "br" or node.tag in BLOCK_TAGS or node.tag in ("li", "td", "th", "tr")
        if spaced:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if spaced:
            parts.append(" ")

    walk(el)
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Bold:
    """Where the bold is, from one walk of a tree's <b> and <strong> elements."""

    holders: set[etree._Element]  # elements with a bold element inside them
    inside: set[etree._Element]  # elements inside a bold element (rarely any)

    @classmethod
    def of(cls, *roots: etree._Element) -> _Bold:
        holders: set[etree._Element] = set()
        inside: set[etree._Element] = set()
        for bold in itertools.chain.from_iterable(root.iter(*BOLD_TAGS) for root in roots):
            if len(bold):  # an element inside the bold: rare
                inside.update(bold.iterdescendants())
            for ancestor in bold.iterancestors():
                if ancestor in holders:
                    break  # its ancestors are in already
                holders.add(ancestor)
        return cls(holders, inside)


def _is_bold_heading(el: etree._Element, bold: _Bold) -> str | None:
    """The text of a short paragraph whose every word is bold, or None: most paragraphs have
    no bold at all, and most that do stop at their first plain word."""
    if el not in bold.holders:
        return None
    inside_bold = el.tag in BOLD_TAGS or el in bold.inside
    if not _all_bold(el, inside_bold) or _TEXT_LENGTH(el) > MAX_PSEUDO_HEADING_CHARS:
        return None
    text = " ".join(_flat_text(el).split())
    if not looks_like_heading(text):
        return None
    if any(child.tag in BLOCK_TAGS or child.tag in HEADINGS for child in el.iterdescendants()):
        return None
    return text


def _all_bold(el: etree._Element, bold: bool) -> bool:
    """Whether every word of the text under `el` stands inside a <b> or <strong>."""
    bold = bold or el.tag in BOLD_TAGS
    children = list(el)
    if not bold:
        # plain text directly in `el` first: a bold lead-in ("<b>4.2 Licence</b>. You grant")
        # is told apart without a walk into the bold (loops, not generators: this runs for
        # every paragraph with a bold word)
        if el.text and not el.text.isspace():
            return False
        for child in children:
            tail = child.tail
            if tail and not tail.isspace():
                return False
    for child in children:
        if isinstance(child.tag, str) and not _all_bold(child, bold):
            return False
    return True


class _Walker:
    """Walks the chosen content in reading order, feeding a DocumentBuilder."""

    def __init__(self, builder: DocumentBuilder, bold: _Bold) -> None:
        self.builder = builder
        self.bold = bold
        self.buffer: list[str] = []
        self.label: str | None = None

    def flush(self) -> None:
        if not self.buffer:
            return  # most calls: a block ends right after another
        text = "".join(self.buffer)
        self.buffer.clear()
        if text.strip():
            label, self.label = self.label, None  # a list number belongs to the item's first text
            self.builder.text(text, label)

    def children(self, el: etree._Element) -> None:
        if el.text:
            self.buffer.append(el.text)
        for child in el:
            if child.tag in PLAIN_INLINE_TAGS and not len(child) and child.get("role") is None:
                # a bold word, a link: its text is all there is to it (most elements of terms)
                if child.text:
                    self.buffer.append(child.text)
            else:
                self.node(child)
            if child.tail:
                self.buffer.append(child.tail)

    def node(self, el: etree._Element) -> None:
        tag = el.tag
        if not isinstance(tag, str) or tag in DROP_TAGS:
            return
        if tag == "br":
            self.buffer.append(" ")
            return
        level = HEADINGS.get(tag)
        if level is None and el.get("role") == "heading":
            level = int(el.get("aria-level", "2")) if el.get("aria-level", "").isdigit() else 2
        if level is not None:
            self.flush()
            self.builder.heading(min(level, 6), _flat_text(el))
            return
        if tag == "table":
            self.flush()
            self.table(el)
        elif tag in ("ul", "ol", "menu"):
            self.flush()
            self.list(el)
        elif tag == "dl":
            self.flush()
            self.definitions(el)
        elif tag == "li" or tag in BLOCK_TAGS:
            self.flush()
            heading = _is_bold_heading(el, self.bold) if tag in ("p", "div", "li") else None
            if heading:
                label, self.label = self.label, None
                self.builder.heading(
                    PSEUDO_HEADING_LEVEL, f"{label} {heading}" if label else heading
                )
                return
            self.children(el)
            self.flush()
        else:
            self.children(el)  # inline: a, span, strong, em... (blocks inside still flush)

    def list(self, el: etree._Element) -> None:
        ordered = el.tag == "ol"
        kind = el.get("type", "1")
        start = el.get("start", "1")
        number = int(start) if start.lstrip("-").isdigit() else 1
        for item in el:
            if not isinstance(item.tag, str):
                continue
            if item.tag != "li":
                self.node(item)
                continue
            value = item.get("value", "")
            if value.isdigit():
                number = int(value)
            self.flush()
            self.label = f"{_ordinal(number, kind)}." if ordered else None
            self.node(item)
            self.label = None
            number += 1

    def definitions(self, el: etree._Element) -> None:
        term = ""
        for item in el:
            if item.tag == "dt":
                term = " ".join(_flat_text(item).split())
            elif item.tag == "dd":
                self.buffer.append(f"{term}: " if term else "")
                self.children(item)
                self.flush()
                term = ""
            elif isinstance(item.tag, str):
                self.node(item)
        if term:
            self.builder.text(term)

    def table(self, el: etree._Element) -> None:
        rows = [row for row in el.iter("tr") if _owner_table(row) is el]
        cells = [[c for c in row if c.tag in ("td", "th")] for row in rows]
        layout = len(rows) > 0 and (
            all(len(row) <= 1 for row in cells)
            or any(
                c.find(".//table") is not None
                or any(c.iter(*HEADINGS))
                or len(_flat_text(c)) > 3000
                for row in cells
                for c in row
            )
        )
        for row in cells:
            if layout:
                for cell in row:
                    self.children(cell)
                    self.flush()
                continue
            texts = [" ".join(_flat_text(c).split()) for c in row]
            self.builder.text(" | ".join(t for t in texts if t))


def _owner_table(row: etree._Element) -> etree._Element | None:
    parent = row.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent


def _parser(huge: bool) -> etree.HTMLParser:
    """This thread's parser (its error log is read after each parse), plain or `huge_tree`."""
    name = "huge" if huge else "plain"
    parser = getattr(_PARSERS, name, None)
    if parser is None:
        parser = etree.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=huge)
        setattr(_PARSERS, name, parser)
    return parser


def _parse(html: str) -> etree._Element | None:
    """The page's element tree; raises NotTerms when libxml2 gave up before the end.

    Past its limits (nesting deeper than 256) libxml2 stops reading with no exception, only a
    FATAL entry in the error log, and everything after would be silently lost (a clause after a
    deeply nested block, say). Such a page is parsed again with `huge_tree` (depth 2048; a
    fifth slower, so not for every page); a page the parser still gives up on is a failed
    fetch, never a version."""
    for huge in (False, True):
        parser = _parser(huge)
        try:
            # Plain etree elements: lxml.html's element classes cost a lookup on every access.
            root = etree.fromstring(html, parser)
        except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
            raise NotTerms(f"the page is not parseable HTML: {exc}") from None
        fatal = [e for e in parser.error_log if e.level == etree.ErrorLevels.FATAL]
        if not fatal:
            return root
    raise NotTerms(
        f"the HTML parser gave up at line {fatal[0].line} ({fatal[0].message.strip()}): "
        "the rest of the page would be lost"
    )


def html_document(
    html: str,
    select: Sequence[Selector] = (),
    remove: Sequence[Selector] = (),
    title: str = "",
) -> Document:
    """Extract a Document from HTML; raises NotTerms when the selection is empty."""
    html = XML_DECL_RE.sub("", html, count=1)
    if not html.strip():
        raise NotTerms("the page is empty")
    root = _parse(html)
    if root is None:
        raise NotTerms("the page has no HTML elements")
    page_title = " ".join((root.findtext(".//title") or "").split())
    if "cfemail" in html or "email-protection" in html:  # two XPath walks otherwise
        decode_emails(root)
    remove_content(root, remove)
    if select:
        chosen = choose(root, select)
    else:
        remove_chrome(root)
        chosen = [main_content(root)]
    builder = DocumentBuilder()
    copies = [el for el in chosen if el.getparent() is None and el is not root]  # ranges
    walker = _Walker(builder, _Bold.of(root, *copies))
    try:
        for el in chosen:
            walker.node(el)
            walker.flush()
    except RecursionError:  # the walk recurses per level: about 450 levels deep
        raise NotTerms(
            "the page nests its elements too deeply to read whole (hundreds of levels)"
        ) from None
    if not title:
        h1 = root.find(".//h1")
        title = page_title or (" ".join(_flat_text(h1).split()) if h1 is not None else "")
    return builder.build(title)
