"""The terms on a page: what extraction reads when a source names no selectors.

Owns: dropping the page's chrome (navigation, headers, footers, cookie banners and the like, by
tag, ARIA role or class), choosing the main content (main/article if it holds most text, else
the densest block), decoding Cloudflare-obfuscated e-mail addresses, and removing an element
while keeping the text that follows it. Split from monitor.extract.html, which walks what is chosen
into clauses. Must never: build clauses, fetch, or read the clock.
"""

from __future__ import annotations

import re

from lxml import etree

CHROME_TAGS = ("nav", "header", "footer", "aside", "form", "dialog")
CHROME_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "dialog")
CHROME_CLASS_RE = re.compile(
    r"(?:^|[\s_-])(?:cookies?|consent|gdpr|onetrust|ot-sdk|truste|cc-window|cookiebanner"
    r"|skip-?link|breadcrumbs?|newsletter|social-share|share-buttons)(?:[\s_-]|$)",
    re.IGNORECASE,
)


def _cf_email(encoded: str) -> str:
    """Decode a Cloudflare email-protection string (hex, XOR with its first byte)."""
    try:
        data = bytes.fromhex(encoded)
        return bytes(b ^ data[0] for b in data[1:]).decode("utf-8")
    except (ValueError, IndexError, UnicodeDecodeError):
        return ""


def replace_with_text(el: etree._Element, text: str) -> None:
    parent = el.getparent()
    if parent is None:
        return
    previous = el.getprevious()
    joined = text + (el.tail or "")
    if previous is not None:
        previous.tail = (previous.tail or "") + joined
    else:
        parent.text = (parent.text or "") + joined
    parent.remove(el)


def drop(el: etree._Element) -> None:
    """Remove an element but keep the text that follows it."""
    replace_with_text(el, "")


def _text_length(el: etree._Element) -> int:
    return sum(map(len, el.itertext()))


_STRING_LENGTH = etree.XPath("string-length(.)")


def _long_text_length(el: etree._Element) -> int:
    """_text_length for a big element: libxml2 counts 140 KB of text five times faster, but
    each XPath call costs more than a small paragraph's itertext."""
    return int(_STRING_LENGTH(el))


def main_content(root: etree._Element) -> etree._Element:
    """Without selectors: main/article if it holds most text, else the densest block."""
    body = root.find("body")
    body = body if body is not None else root
    total = _long_text_length(body) or 1
    candidates = root.xpath("//main|//*[@role='main']|//article")
    if candidates:
        length, best = max(((_long_text_length(c), c) for c in candidates), key=lambda m: m[0])
        if length >= 0.3 * total:
            return best
    scores: dict[etree._Element, float] = {}
    for para in body.iter("p", "li", "td", "pre", "blockquote", "dd"):
        length = _text_length(para)
        if length < 25:
            continue
        parent = para.getparent()
        if parent is not None:
            scores[parent] = scores.get(parent, 0) + length
            grandparent = parent.getparent()
            if grandparent is not None:
                scores[grandparent] = scores.get(grandparent, 0) + length / 2
    if scores:
        best = max(scores, key=lambda e: scores[e])
        if _long_text_length(best) >= 0.3 * total:
            return best
    return body


def remove_chrome(root: etree._Element) -> None:
    doomed = []
    for el in root.iter(etree.Element):  # elements only, chosen in C
        if el.tag in CHROME_TAGS or el.get("role") in CHROME_ROLES:
            doomed.append(el)
            continue
        names, ident = el.get("class"), el.get("id")
        if (names or ident) and CHROME_CLASS_RE.search(f"{names or ''} {ident or ''}"):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            drop(el)


def decode_emails(root: etree._Element) -> None:
    for el in root.xpath("//*[@data-cfemail]"):
        replace_with_text(el, _cf_email(el.get("data-cfemail", "")))
    for el in root.xpath("//a[contains(@href, '/cdn-cgi/l/email-protection#')]"):
        email = _cf_email(el.get("href", "").rsplit("#", 1)[-1])
        if email:
            replace_with_text(el, email)
