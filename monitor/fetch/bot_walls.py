"""Bot walls: telling a challenge, CAPTCHA or login page apart from terms.

Owns: the markers of bot walls and challenge pages (Cloudflare, Akamai, PerimeterX, DataDome,
Imperva, AWS WAF, CAPTCHA widgets, "are you human" wording), login forms, and a cheap measure of
a page's visible text, so that a short page with a marker is a FetchFailure and a long terms
page that mentions a CAPTCHA is not. Split from monitor.fetch.http, which calls detect_block on
every reply. Must never: fetch, or parse a page into clauses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A page with less visible text than this that carries a challenge marker is a bot wall.
SHORT_PAGE_CHARS = 3000

# Markers of bot walls and challenge pages (Cloudflare, Akamai, PerimeterX, DataDome, Imperva,
# AWS WAF, CAPTCHA widgets) and of "are you human" wording. Plain substrings of the lowercased
# page, so that a 150 KB terms page is scanned in C, not by a regex alternation.
BOT_MARKERS = (
    "cf-browser-verification",
    "cf_chl_opt",
    "/cdn-cgi/challenge-platform/",
    "cf-turnstile",
    "attention required! | cloudflare",
    "px-captcha",
    "_pxappid",
    "captcha-delivery.com",
    "datadome",
    "_incapsula_resource",
    "incapsula incident id",
    "request unsuccessful. incapsula",
    "aws-waf-token",
    "awswaf",
    "g-recaptcha",
    "h-captcha",
    "hcaptcha.com",
    "recaptcha/api.js",
    "verify you are human",
    "verify you are a human",
    "verify that you are human",
    "verify that you are a human",
    "are you a robot",
    "unusual traffic from your computer",
    "enable javascript and cookies to continue",
    "checking your browser before accessing",
)
# The markers by a word they share: a page without the word is not searched for them (29
# scans of a 150 KB page cost 1.3 ms; 14 cost half that).
MARKER_GROUPS = tuple(
    (anchor, tuple(m for m in BOT_MARKERS if anchor in m))
    for anchor in (
        "captcha",
        "verify",
        "incapsula",
        "aws",
        "cf",
        "cloudflare",
        "/cdn-cgi/",
        "_pxappid",
        "datadome",
        "are you a robot",
        "unusual traffic",
        "enable javascript",
        "checking your browser",
    )
)
CHALLENGE_STATUSES = (401, 403, 429, 503)  # where a marker alone, on any page, means a wall
CHALLENGE_TITLES = ("just a moment", "access denied", "attention required")
PASSWORD_FIELDS = ('type="password"', "type='password'", "type=password")
TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
SCRIPT_STYLE_RE = re.compile(r"<(script|style|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
TAG_RE = re.compile(r"<[^>]*>")
RAW_TEXT_OPEN_RE = re.compile(r"<(script|style|noscript)\b", re.IGNORECASE)
RAW_TEXT_CLOSE_RES = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style", "noscript")
}


def visible_text(html: str) -> str:
    """A cheap approximation of what a browser shows: no scripts, styles or tags."""
    return " ".join(TAG_RE.sub(" ", SCRIPT_STYLE_RE.sub(" ", html)).split())


def has_long_text(html: str, chars: int = SHORT_PAGE_CHARS) -> bool:
    """Whether visible_text(html) has at least `chars` non-space characters, reading only as
    far into the page as it takes: a terms page gets there within its first kilobytes, where
    visible_text() rewrites all of it. Tags, scripts and styles are skipped as visible_text()
    skips them; a page with a "<" inside a tag, which it reads in another order, is left to
    visible_text() itself."""
    count, position = 0, 0
    while True:
        start = html.find("<", position)
        text = html[position:] if start < 0 else html[position:start]
        count += len(text) - _whitespace(text)
        if count >= chars:
            return True
        if start < 0:
            return False
        raw = RAW_TEXT_OPEN_RE.match(html, start)
        close = raw and RAW_TEXT_CLOSE_RES[raw.group(1).lower()].search(html, raw.end())
        if close:  # what SCRIPT_STYLE_RE drops, found with a plain search for its end
            position = close.end()
            continue
        end = html.find(">", start)
        if end < 0:  # a tag that never ends is text to TAG_RE, and so is all that follows
            rest = html[start:]
            return count + len(rest) - _whitespace(rest) >= chars
        if html.find("<", start + 1, end) >= 0:
            return len(visible_text(html).replace(" ", "")) >= chars
        position = end + 1


def _whitespace(text: str) -> int:
    """How many whitespace characters `text` has."""
    return len(text) - sum(map(len, text.split())) if text else 0


def detect_block(status: int, headers: Mapping[str, str], html: str) -> str | None:
    """Why a reply looks like a bot wall, challenge or login page rather than terms, or None.
    `headers` are the reply's, looked up case-insensitively (requests' CaseInsensitiveDict)."""
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return "Cloudflare challenge (cf-mitigated header)"
    if status not in CHALLENGE_STATUSES and has_long_text(html):
        # the common case: a marker or a login form on a page this long is not a wall
        return None
    # Lower-cased in ASCII only, which is all the markers need: a third of str.lower()'s time
    # on a 150 KB page with curly quotes. Other characters become stand-ins that match none.
    lowered = html.encode("utf-8", "surrogatepass").lower().decode("latin-1")
    title_match = TITLE_RE.search(html, 0, 20_000)
    title = " ".join(title_match.group(1).lower().split()) if title_match else ""
    marker = next(
        (m for anchor, group in MARKER_GROUPS if anchor in lowered for m in group if m in lowered),
        None,
    )
    if marker is None and title.startswith(CHALLENGE_TITLES):
        marker = f"<title>{title[:40]}"
    login = (
        next((f for f in PASSWORD_FIELDS if f in lowered), None) if "password" in lowered else None
    )
    if login is None and re.search(r"\b(?:log ?in|sign ?in)\b", title):
        login = f"<title>{title[:40]}"
    if marker is None and login is None:
        return None  # the common case: no visible-text pass over the whole page
    short = len(visible_text(html)) < SHORT_PAGE_CHARS
    if marker and (short or status in CHALLENGE_STATUSES):
        return f"challenge page (HTTP {status}, marker {marker!r})"
    if login and short:
        return f"login page (HTTP {status}, marker {login!r})"
    return None
