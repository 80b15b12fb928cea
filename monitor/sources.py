"""Loading and validating sources.yaml: the list of terms documents to watch.

Owns: parsing the YAML with line numbers, checking every entry (id slug, unknown keys with the
nearest known one, URLs, CSS and range selectors, schedules, audiences) and giving back Sources.
Every error names the file, the line and the source id. Must never: fetch anything or write files.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from monitor.config import check_schedule
from monitor.css import SelectorError, css_to_xpath
from monitor.errors import ConfigError, did_you_mean
from monitor.model import FetchMode, Page, RangeSelector, Selector, Source

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
AUDIENCES = (
    "musicians",
    "writers",
    "podcasters",
    "video",
    "visual-artists",
    "photographers",
    "developers",
    "everyone",
)
KEYS = (
    "id",
    "platform",
    "document_type",
    "url",
    "select",
    "remove",
    "schedule",
    "audiences",
    "enabled",
    "ignore_robots",
    "fetch",
    "pages",
)
PAGE_KEYS = ("url", "select", "remove", "fetch")
# OTA's range selector keys, and the side of the range each one places
RANGE_KEYS = {"startBefore": "start", "startAfter": "start", "endBefore": "end", "endAfter": "end"}
REQUIRED = ("id", "platform", "document_type")
# `auto` by default (as Open Terms Archive does): plain HTTP costs nothing more for the pages
# that serve their terms, and the pages that do not (app shells, bot walls, 403s) are rendered
# instead of failing. `http` keeps a source off the browser; `browser` always renders it.
DEFAULT_FETCH = FetchMode.AUTO
DEFAULT_SCHEDULE = "every 6h ~30m"
MAX_ID_CHARS = 64  # an id names files and folders: far below any file system's name limit


def check_id(sid: str) -> str | None:
    """What is wrong with `sid` as a source id (it names the source's folder in the archive),
    or None when it is a sound one: a lowercase slug, never empty, never a path, not too long."""
    if len(sid) > MAX_ID_CHARS:
        return f"id is {len(sid)} characters long; at most {MAX_ID_CHARS}"
    if not ID_RE.match(sid):
        return "id must be a lowercase slug of letters, digits and single hyphens ([a-z0-9-]+)"
    return None


def slug(text: str) -> str:
    """`text` as an id: lowercase letters and digits, runs of anything else as one hyphen,
    accents dropped ("Société Générale" -> "societe-generale"); a name with letters but none in
    the Latin alphabet ("微博") is spelled in punycode ("xn-9cs229l"). Empty when `text` has no
    letter or digit: the caller must refuse it (check_id)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    ascii_slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    if ascii_slug or not any(c.isalnum() for c in text):
        return ascii_slug
    spelled = text.lower().encode("punycode").decode("ascii")
    return "xn-" + re.sub(r"[^a-z0-9]+", "-", spelled).strip("-")


def _node_map(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _strings(value: Any, name: str, where: str, sid: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{name!r} must be a string or a list of strings", where=where, source_id=sid)


def _css(selector: str, name: str, where: str, sid: str) -> str:
    try:
        css_to_xpath(selector)
    except SelectorError as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(
            f"{name} selector {selector!r} is not valid CSS: {first_line}",
            where=where,
            source_id=sid,
        ) from None
    return selector


def _range(value: dict[Any, Any], name: str, where: str, sid: str) -> RangeSelector:
    """A range selector: one of startBefore/startAfter and one of endBefore/endAfter."""
    sides: dict[str, tuple[str, bool]] = {}
    for key, selector in value.items():
        side = RANGE_KEYS.get(key)
        if side is None:
            raise ConfigError(
                f"{name}: unknown range key {key!r}; a range has startBefore or startAfter, "
                "and endBefore or endAfter",
                where=where,
                source_id=sid,
            )
        if side in sides:
            raise ConfigError(
                f"{name}: a range has one start and one end, not both {key!r} and another",
                where=where,
                source_id=sid,
            )
        if not isinstance(selector, str) or not selector.strip():
            raise ConfigError(
                f"{name}: range key {key!r} must be a CSS selector", where=where, source_id=sid
            )
        sides[side] = (_css(selector, name, where, sid), key.endswith("Before"))
    for side in ("start", "end"):
        if side not in sides:
            raise ConfigError(
                f"{name}: a range needs {'a start' if side == 'start' else 'an end'}"
                f" ({side}Before or {side}After)",
                where=where,
                source_id=sid,
            )
    (start, start_before), (end, end_before) = sides["start"], sides["end"]
    return RangeSelector(start, end, start_before=start_before, end_before=end_before)


def _selectors(value: Any, name: str, where: str, sid: str) -> tuple[Selector, ...]:
    """`select` or `remove`: a CSS selector, a range, or a list mixing both."""
    items = [] if value is None else value if isinstance(value, list) else [value]
    result: list[Selector] = []
    for item in items:
        if isinstance(item, str):
            result.append(_css(item, name, where, sid))
        elif isinstance(item, dict):
            result.append(_range(item, name, where, sid))
        else:
            raise ConfigError(
                f"{name!r} must be a CSS selector, a range ({{startBefore: ..., endBefore: ...}})"
                " or a list of them",
                where=where,
                source_id=sid,
            )
    return tuple(result)


def parse_selectors(values: Sequence[str], where: str) -> tuple[Selector, ...]:
    """Selectors given as text (`clausewatch check --select`): CSS, or a range written as a
    YAML or JSON mapping ("{startBefore: h1, endBefore: footer}")."""
    items: list[Any] = []
    for value in values:
        if value.lstrip().startswith("{"):
            try:
                items.append(yaml.safe_load(value))
            except yaml.YAMLError as exc:
                raise ConfigError(f"range {value!r} is not a mapping: {exc}", where=where) from None
        else:
            items.append(value)
    return _selectors(items, "select", where, "")


def _url(value: str, where: str, sid: str) -> str:
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        raise ConfigError(f"url {url!r} is not an absolute http(s) URL", where=where, source_id=sid)
    return url


def _fetch_mode(value: Any, where: str, sid: str) -> FetchMode:
    try:
        return FetchMode(value)
    except ValueError:
        known = ", ".join(m.value for m in FetchMode)
        raise ConfigError(
            f"fetch must be one of {known}, not {value!r}", where=where, source_id=sid
        ) from None


def _pages(path: Path, node: yaml.Node, sid: str, defaults: Page) -> tuple[Page, ...]:
    """The `pages:` of a multi-page document; each page's missing keys come from the
    source's own `select`, `remove` and `fetch` (`defaults`)."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise ConfigError(
            "'pages' must be a non-empty list of pages ({url, select, remove, fetch})",
            where=_where(path, node),
            source_id=sid,
        )
    pages = []
    for item in node.value:
        where = _where(path, item)
        if isinstance(item, yaml.ScalarNode):  # a bare URL: the shared defaults apply
            url = _url(str(item.value), where, sid)
            pages.append(Page(url, defaults.select, defaults.remove, defaults.fetch))
            continue
        if not isinstance(item, yaml.MappingNode):
            raise ConfigError("each page must be a URL or a mapping", where=where, source_id=sid)
        nodes = _node_map(item)
        for key, (key_node, _) in nodes.items():
            if key not in PAGE_KEYS:
                near = difflib.get_close_matches(key, PAGE_KEYS, n=1)
                hint = (
                    f"; did you mean {near[0]!r}?"
                    if near
                    else f"; page keys: {', '.join(PAGE_KEYS)}"
                )
                raise ConfigError(
                    f"unknown page key {key!r}{hint}", where=_where(path, key_node), source_id=sid
                )
        data = yaml.constructor.SafeConstructor().construct_document(item)

        def at(
            key: str, nodes: dict[str, tuple[yaml.Node, yaml.Node]] = nodes, where: str = where
        ) -> str:
            return _where(path, nodes[key][1]) if key in nodes else where

        if not isinstance(data.get("url"), str) or not data["url"].strip():
            raise ConfigError("a page needs a 'url'", where=where, source_id=sid)
        pages.append(
            Page(
                _url(data["url"], at("url"), sid),
                _selectors(data["select"], "select", at("select"), sid)
                if "select" in data
                else defaults.select,
                _selectors(data["remove"], "remove", at("remove"), sid)
                if "remove" in data
                else defaults.remove,
                _fetch_mode(data["fetch"], at("fetch"), sid) if "fetch" in data else defaults.fetch,
            )
        )
    return tuple(pages)


def _source(path: Path, node: yaml.Node) -> Source:
    where = _where(path, node)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("each source must be a mapping of keys to values", where=where)
    nodes = _node_map(node)
    # the node's value as safe_load gives it, without writing it out and parsing it again
    data = yaml.constructor.SafeConstructor().construct_document(node)
    sid = data.get("id") if isinstance(data.get("id"), str) else None
    for key, (key_node, _) in nodes.items():
        if key not in KEYS:
            near = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(KEYS)}"
            raise ConfigError(
                f"unknown key {key!r}{hint}", where=_where(path, key_node), source_id=sid
            )
    for key in REQUIRED:
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ConfigError(f"missing or empty {key!r}", where=where, source_id=sid)

    def at(key: str) -> str:
        return _where(path, nodes[key][1]) if key in nodes else where

    assert sid is not None
    problem = check_id(sid)
    if problem:
        shown = sid if len(sid) <= MAX_ID_CHARS else sid[:MAX_ID_CHARS] + "\N{HORIZONTAL ELLIPSIS}"
        raise ConfigError(problem, where=at("id"), source_id=shown)
    fetch = _fetch_mode(data.get("fetch", DEFAULT_FETCH.value), at("fetch"), sid)
    select = _selectors(data.get("select"), "select", at("select"), sid)
    remove = _selectors(data.get("remove"), "remove", at("remove"), sid)
    pages: tuple[Page, ...] = ()
    if "pages" in nodes:
        if "url" in nodes:
            raise ConfigError(
                "give either 'url' or 'pages', not both (each page has its own url)",
                where=at("pages"),
                source_id=sid,
            )
        pages = _pages(path, nodes["pages"][1], sid, Page("", select, remove, fetch))
        url = pages[0].url
    else:
        if not isinstance(data.get("url"), str) or not data["url"].strip():
            raise ConfigError("missing or empty 'url' (or 'pages')", where=where, source_id=sid)
        url = _url(data["url"], at("url"), sid)
    schedule = str(data.get("schedule", DEFAULT_SCHEDULE)).strip()
    problem = check_schedule(schedule)
    if problem:
        raise ConfigError(f"schedule {schedule!r}: {problem}", where=at("schedule"), source_id=sid)
    audiences = _strings(data.get("audiences"), "audiences", at("audiences"), sid)
    for audience in audiences:
        if audience not in AUDIENCES:
            near = difflib.get_close_matches(audience, AUDIENCES, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(AUDIENCES)}"
            raise ConfigError(
                f"unknown audience {audience!r}{hint}", where=at("audiences"), source_id=sid
            )
    flags = {}
    for key, default in (("enabled", True), ("ignore_robots", False)):
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{key!r} must be true or false", where=at(key), source_id=sid)
        flags[key] = value
    return Source(
        id=sid,
        platform=data["platform"].strip(),
        document_type=data["document_type"].strip(),
        url=url,
        select=select,
        remove=remove,
        schedule=schedule,
        audiences=audiences,
        enabled=flags["enabled"],
        ignore_robots=flags["ignore_robots"],
        origin=where,
        fetch=fetch,
        pages=pages,
    )


def parse_sources(text: str, path: Path) -> list[Source]:
    """Parse and validate the text of a sources file; `path` is only used in messages."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", where=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", where=str(path)) from None
    if root is None:
        return []
    items: yaml.Node = root
    if isinstance(root, yaml.MappingNode):
        top = _node_map(root)
        for key, (key_node, _) in top.items():
            if key != "sources":
                raise ConfigError(
                    f"unknown top-level key {key!r}; expected 'sources:'",
                    where=_where(path, key_node),
                )
        if "sources" not in top:
            return []
        items = top["sources"][1]
    if not isinstance(items, yaml.SequenceNode):
        raise ConfigError("'sources' must be a list of sources", where=_where(path, items))
    sources: list[Source] = []
    seen: dict[str, Source] = {}
    for item in items.value:
        source = _source(path, item)
        if source.id in seen:
            raise ConfigError(
                f"duplicate id (first declared at {seen[source.id].origin})",
                where=source.origin,
                source_id=source.id,
            )
        seen[source.id] = source
        sources.append(source)
    return sources


def load_sources(path: Path) -> list[Source]:
    """Read and validate a sources file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("sources file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read sources file: {exc}", where=str(path)) from None
    return parse_sources(text, path)


def select_sources(sources: Sequence[Source], ids: Sequence[str], path: Path) -> list[Source]:
    """The sources named by `ids` (all enabled ones when empty); unknown ids are an error."""
    if not ids:
        return [s for s in sources if s.enabled]
    by_id = {s.id: s for s in sources}
    chosen = []
    for sid in ids:
        if sid not in by_id:
            hint = did_you_mean(sid, by_id, listed_by="`clausewatch sources`")
            raise ConfigError(f"no source with id {sid!r}{hint}", where=str(path))
        chosen.append(by_id[sid])
    return chosen
