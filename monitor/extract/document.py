"""Building Documents: the rules every reader of terms text shares.

Owns: the one cleaning of untrusted text for display (clean_text, CONTROL_RE), text
normalisation (spaces, zero-width characters, soft hyphens, quote styles, obfuscated
e-mail addresses), number labels ("7.2", "(a)"), the heading stack that gives each clause its
heading path, clause keys, bold lead-in "pseudo headings", and lifting the stated
effective/last-updated date out of the clauses into metadata. The HTML, PDF and Markdown
readers all build through DocumentBuilder so that one text gives one Document whichever format
it came in. Must never: do I/O or import a third-party library.
"""

from __future__ import annotations

import re
import unicodedata

from monitor.model import Clause, Document

PSEUDO_HEADING_LEVEL = 7  # a short all-bold paragraph: below every real heading
MAX_PSEUDO_HEADING_CHARS = 150

# A number label at the start of a clause: "7.", "7.2", "7.2.1.", "(a)", "(iv)", "a)", "1)", "A.",
# "Section 4", "Article 12".
LABEL_RE = re.compile(
    r"^(?P<label>"
    r"(?:(?:section|article|clause)\s+\d{1,3}(?:\.\d{1,3}){0,4}\.?"
    r"|\d{1,3}(?:\.\d{1,3}){1,4}\.?|\d{1,3}\.)(?=\s)"
    r"|\((?:[a-z]{1,2}|[ivxlc]{1,6}|\d{1,3})\)"
    r"|(?:\d{1,3}|[a-z]|[ivxlc]{1,6})\)(?=\s)"
    r"|[A-Z]\.(?=\s)"
    r")\s+",
    re.IGNORECASE,
)

# Invisible characters are deleted and typographic quotes made plain.
REPLACEMENTS = {
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e", ""),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
}
# Characters never shown, in any output: C0 controls but tab and line feed, DEL, C1 controls,
# the bidi marks, embeddings, overrides and isolates (a page could make displayed text read
# differently from what it says), lone surrogates and the two non-characters XML refuses.
# Raw snapshots keep them; extracted text and everything shown (feeds, pages, mail, terminal)
# goes through clean_text.
CONTROL_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
# str.replace per character: six times faster here than one regex sub, and str.translate is
# slower still on non-ASCII text
_REPLACE_ITEMS = tuple(REPLACEMENTS.items())
# "privacy [at] example [dot] com", "privacy (at) example.com"
AT_RE = re.compile(r"\s*[\[\(\{]\s*at\s*[\]\)\}]\s*", re.IGNORECASE)
DOT_RE = re.compile(r"\s*[\[\(\{]\s*dot\s*[\]\)\}]\s*", re.IGNORECASE)
MAYBE_OBFUSCATED_RE = re.compile(r"[\[\(\{]\s*at\s*[\]\)\}]", re.IGNORECASE)
OBFUSCATED_EMAIL_RE = re.compile(
    r"[\w.+-]+\s*[\[\(\{]\s*at\s*[\]\)\}]\s*[\w-]+(?:(?:\.|\s*[\[\(\{]\s*dot\s*[\]\)\}]\s*)[\w-]+)+",
    re.IGNORECASE,
)

MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DATE = (
    rf"(?:{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH},?\s+\d{{4}}"
    rf"|{MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})"
)
EFFECTIVE_DATE_RE = re.compile(
    r"^(?:(?:this|these|our)\s+[\w\s]{0,40}?\s+(?:was|were|is|are)\s+)?"
    r"(?:last\s+(?:updated|modified|revised|amended)|effective(?:\s+date)?|updated|revised"
    r"|date\s+of\s+last\s+(?:revision|update)|effective\s+as\s+of|in\s+effect\s+(?:from|since)"
    r"|version\s+date|published)"
    r"\s*(?:on|as\s+of|from)?\s*[:\-\u2013\u2014]?\s*"
    rf"(?P<date>{DATE})\s*\.?$",
    re.IGNORECASE,
)


def clean_text(text: str, mark: str = " ") -> str:
    """Text safe to show anywhere: every CONTROL_RE character replaced by `mark` (a space by
    default, so that words stay apart; a terminal shows U+FFFD). Tabs and line feeds are kept."""
    if text.isprintable():  # no control, format or line-break character: nothing to do
        return text
    return CONTROL_RE.sub(mark, text)


def normalize_text(text: str) -> str:
    """One line of clean text: no control or invisible characters, one kind of space and quote."""
    if not text.isascii():
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        for char, replacement in _REPLACE_ITEMS:
            if char in text:
                text = text.replace(char, replacement)
    text = collapse_spaces(text)
    if not text.isprintable():  # spaces are single ASCII ones by now: a control or bidi char
        text = collapse_spaces(CONTROL_RE.sub(" ", text))
    if _maybe_obfuscated(text):
        text = OBFUSCATED_EMAIL_RE.sub(lambda m: DOT_RE.sub(".", AT_RE.sub("@", m.group(0))), text)
    return text


def _maybe_obfuscated(text: str) -> bool:
    """MAYBE_OBFUSCATED_RE.search on text whose spaces are single: "[at]", "( AT )". Looking at
    each bracket with str.find takes half the time of the regex, and most text has no "[at]"."""
    for opener in "([{":
        start = text.find(opener)
        while start != -1:
            rest = text[start + 1 : start + 6].removeprefix(" ")
            if rest[:2].lower() == "at" and rest[2:].removeprefix(" ")[:1] in (")", "]", "}"):
                return True
            start = text.find(opener, start + 1)
    return False


# Every character but " " that str.isspace() and str.split() take for a space (a test checks)
OTHER_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_OTHER_SPACES = tuple(c for c in OTHER_SPACES if c.isascii())


def collapse_spaces(text: str) -> str:
    """`" ".join(text.split())`, without splitting text that has no run of spaces to collapse
    (most clauses): 28 substring scans cost a fifth of making a string of every word."""
    if "  " in text:
        return " ".join(text.split())  # str.split() knows every Unicode space, NBSP included
    for space in _ASCII_OTHER_SPACES if text.isascii() else OTHER_SPACES:  # a loop: no genexpr
        if space in text:
            return " ".join(text.split())
    return text.strip(" ")


def split_label(text: str) -> tuple[str | None, str]:
    """Split a leading number label off a clause text: "7.2 Licence" -> ("7.2", "Licence")."""
    match = LABEL_RE.match(text)
    if not match or match.end() >= len(text):
        return None, text
    return match.group("label"), text[match.end() :]


DATE_STATEMENT_SPLIT_RE = re.compile(r"(?<=\d)\s*[.;|]\s+|\s+[|\u2022\u00b7]\s+")


def stated_date(text: str) -> str | None:
    """The date in a clause that only states when the terms took effect or were updated.

    "Effective September 16, 2024. Last Revised August 16, 2024" gives the first date.
    """
    if len(text) > 160:
        return None
    parts = [p for p in DATE_STATEMENT_SPLIT_RE.split(text) if p.strip()]
    if not parts or len(parts) > 3:
        return None
    matches = [EFFECTIVE_DATE_RE.match(p.strip()) for p in parts]
    if not all(matches):
        return None
    return matches[0].group("date")  # type: ignore[union-attr]


def looks_like_heading(text: str) -> bool:
    """Whether a short all-bold paragraph reads as a heading rather than a bold sentence."""
    text = text.strip()
    return 0 < len(text) <= MAX_PSEUDO_HEADING_CHARS and not text.endswith((".", ":", ";", ","))


def clause_key(heading_path: tuple[str, ...], ordinal: int) -> str:
    return f"{' > '.join(heading_path)} #{ordinal}"


class DocumentBuilder:
    """Collects headings and text blocks in reading order and builds a Document.

    Headings have levels 1-6 (h1-h6, '#'-'######') and PSEUDO_HEADING_LEVEL for a short
    all-bold paragraph; a heading replaces every open heading of its level or deeper.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self._path: tuple[str, ...] = ()  # the texts of _stack, made when it changes
        self._blocks: list[tuple[tuple[str, ...], str]] = []
        self.effective_date: str | None = None

    def heading(self, level: int, text: str) -> None:
        text = normalize_text(text)
        if not text:
            return
        if self.effective_date is None and (date := stated_date(text)):
            self.effective_date = date
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))
        self._path = tuple(t for _, t in self._stack)

    def text(self, text: str, label: str | None = None) -> None:
        """Add one clause; `label` is a list number the text does not carry itself."""
        text = normalize_text(text)
        if not text:
            return
        if stated_date(text):
            if self.effective_date is None:
                self.effective_date = stated_date(text)
            return
        if label and not LABEL_RE.match(text):
            text = f"{label} {text}"
        self._blocks.append((self._path, text))

    def build(self, title: str) -> Document:
        counts: dict[tuple[str, ...], int] = {}
        clauses = []
        for path, text in self._blocks:
            counts[path] = counts.get(path, 0) + 1
            number, body = split_label(text)
            clauses.append(Clause(clause_key(path, counts[path]), path, number, body))
        return Document(normalize_text(title), tuple(clauses), self.effective_date)
