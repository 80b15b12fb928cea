"""A source's `select` and `remove` applied to a parsed page: CSS selectors and ranges.

Owns: running CSS selectors (compiled by monitor.css), and Open Terms Archive's range
selectors ({startBefore|startAfter, endBefore|endAfter}) with the semantics of a DOM Range:
`select` clones what lies between the two boundaries (elements cut by a boundary keep only
their part inside, as Range.cloneContents does), `remove` deletes it (Range.deleteContents).
As in OTA, removal ranges are resolved on the page as served and deleted before the CSS
removals. A range whose start or end matches nothing, or which ends before it starts, raises
NotTerms naming the selector: a failed fetch, never a truncated version.
Must never: build clauses, fetch, or read the clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from lxml import etree

from monitor.css import SelectorError, compile_css
from monitor.errors import NotTerms
from monitor.extract.main_content import drop
from monitor.model import RangeSelector, Selector


def css(selector: str) -> etree.XPath:
    """The compiled XPath of a CSS selector; NotTerms when it cannot be run."""
    try:
        return compile_css(selector)
    except SelectorError as exc:
        raise NotTerms(f"CSS selector {selector!r} is not supported: {exc}") from None


class _Positions:
    """Every element's place in document order, as DOM boundary points are compared.

    Events are numbered in reading order: an element's start tag at `s`, its text at `s + 1`,
    its end tag at `e`, its tail at `e + 1`. A range holds the events k with start <= k < end.
    """

    def __init__(self, root: etree._Element) -> None:
        self.start: dict[etree._Element, int] = {}
        self.end: dict[etree._Element, int] = {}
        counter = 0
        for event, el in etree.iterwalk(root, events=("start", "end")):
            (self.start if event == "start" else self.end)[el] = counter
            counter += 2

    def bounds(self, root: etree._Element, selector: RangeSelector) -> tuple[int, int]:
        """The [start, end) event numbers of a range; NotTerms when it cannot be placed."""
        first = _first(root, selector.start, "start", selector)
        last = _first(root, selector.end, "end", selector)
        low = self.start[first] if selector.start_before else self.end[first] + 1
        high = self.start[last] if selector.end_before else self.end[last] + 1
        if high < low:
            raise NotTerms(f"range {selector} ends before it starts")
        return low, high


def _first(root: etree._Element, selector: str, side: str, whole: RangeSelector) -> etree._Element:
    found = css(selector)(root)
    if not found:
        raise NotTerms(f"range {whole}: its {side} {selector!r} matched nothing")
    element: etree._Element = found[0]
    return element


def _clone(el: etree._Element, low: int, high: int, at: _Positions) -> etree._Element | None:
    """A copy of `el` holding only what lies in [low, high) (its tail left out); None when
    nothing of it does."""
    start, end = at.start[el], at.end[el]
    if end < low or start >= high:
        return None
    if start >= low and end < high:
        whole = copy.deepcopy(el)
        whole.tail = None
        return whole
    if not isinstance(el.tag, str):
        return None  # a comment or instruction has no part to keep (the parser drops them)
    part = etree.Element(el.tag, dict(el.attrib))
    if low <= start + 1 < high:
        part.text = el.text
    for child in el:
        kept = _clone(child, low, high, at)
        tail = child.tail if low <= at.end[child] + 1 < high else None
        if kept is not None:
            kept.tail = tail
            part.append(kept)
        elif tail:
            last = part[-1] if len(part) else None
            if last is not None:
                last.tail = (last.tail or "") + tail
            else:
                part.text = (part.text or "") + tail
    return part


def _doomed(
    el: etree._Element, low: int, high: int, at: _Positions
) -> Iterable[tuple[etree._Element, str]]:
    """What deleting [low, high) takes out under `el`: (element, "element" | "text" | "tail")."""
    if low <= at.start[el] + 1 < high:
        yield el, "text"
    for child in el:
        if low <= at.end[child] + 1 < high:
            yield child, "tail"
        child_start, child_end = at.start[child], at.end[child]
        if child_end < low or child_start >= high:
            continue
        if child_start >= low and child_end < high:
            yield child, "element"
        else:
            yield from _doomed(child, low, high, at)


def remove(root: etree._Element, selectors: Sequence[Selector]) -> None:
    """Delete what the `remove` selectors name: ranges first, then CSS matches."""
    ranges = [s for s in selectors if isinstance(s, RangeSelector)]
    if ranges:
        at = _Positions(root)
        doomed: list[tuple[etree._Element, str]] = []
        for span in ranges:
            low, high = at.bounds(root, span)
            try:
                doomed.extend(_doomed(root, low, high, at))
            except RecursionError:
                raise _too_deep(span) from None
        for el, part in doomed:
            if part == "text":
                el.text = None
            elif part == "tail":
                el.tail = None
        for el, part in doomed:
            if part == "element" and el.getparent() is not None:
                drop(el)
    for selector in selectors:
        if isinstance(selector, str):
            for el in css(selector)(root):
                if el.getparent() is not None:
                    drop(el)


def choose(root: etree._Element, selectors: Sequence[Selector]) -> list[etree._Element]:
    """The content the `select` selectors name, in document order, nothing twice: elements of
    the page for CSS selectors (the outermost of nested matches), copies for ranges."""
    if all(isinstance(selector, str) for selector in selectors):
        return _choose_elements(root, selectors)  # the common case, without numbering events
    at = _Positions(root)
    spans: list[tuple[int, int, etree._Element]] = []  # [start, end) in events, content
    for selector in selectors:
        if isinstance(selector, RangeSelector):
            low, high = at.bounds(root, selector)
            try:
                content = _clone(root, low, high, at)
            except RecursionError:
                raise _too_deep(selector) from None
            if content is not None:
                spans.append((low, high, content))
        else:
            spans.extend((at.start[el], at.end[el] + 1, el) for el in _matches(root, selector))
    spans.sort(key=lambda span: (span[0], -span[1]))
    chosen: list[etree._Element] = []
    covered = -1  # the end of the last span kept: a span inside it is already chosen
    for low, high, content in spans:
        if high <= covered and low < covered:
            continue
        chosen.append(content)
        covered = max(covered, high)
    return chosen


def _too_deep(selector: RangeSelector) -> NotTerms:
    """Cutting walks down to each boundary: a page nested deeper than Python recurses fails."""
    return NotTerms(f"range {selector}: the page nests too deeply to cut")


def _matches(root: etree._Element, selector: str) -> list[etree._Element]:
    found: list[etree._Element] = css(selector)(root)
    if not found:
        raise NotTerms(f"select {selector!r} matched nothing")
    return found


def _choose_elements(root: etree._Element, selectors: Sequence[Selector]) -> list[etree._Element]:
    chosen = list(dict.fromkeys(el for s in selectors for el in _matches(root, str(s))))
    ids = {id(el) for el in chosen}
    chosen = [el for el in chosen if not any(id(a) in ids for a in el.iterancestors())]
    order = {id(el): i for i, el in enumerate(root.iter())}
    chosen.sort(key=lambda el: order[id(el)])
    return chosen
