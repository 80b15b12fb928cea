"""CSS selectors as XPath: the one translator sources.yaml's checks, import-ota and extraction use.

Owns: translating a CSS selector with cssselect, plus what cssselect leaves out and Open Terms
Archive's declarations use: the `-of-type` pseudo-classes on an element of any name
(`.notice:nth-of-type(2)`, `main > .box:first-of-type`), run through an XPath extension
function, and an unquoted attribute value that starts with `--` (`a[href$=--espanol]`),
quoted. What cannot be translated raises cssselect's SelectorError. Must never: parse pages.
"""

from __future__ import annotations

import functools
import re

from cssselect import GenericTranslator, SelectorError
from cssselect.parser import Function
from cssselect.xpath import XPathExpr
from lxml import etree

__all__ = ["SelectorError", "compile_css", "css_to_xpath"]

NAMESPACE = "urn:clausewatch:css"
# [attr$=--value]: CSS Syntax 3 reads --value as an ident, cssselect does not
UNQUOTED_VALUE_RE = re.compile(r"""\[\s*([-\w]+)\s*([~|^$*]?=)\s*(--[^\]"'\s]*)\s*\]""")


def _same_name_before(context: object) -> int:
    el = context.context_node  # type: ignore[attr-defined]
    return sum(1 for _ in el.itersiblings(el.tag, preceding=True))


def _same_name_after(context: object) -> int:
    el = context.context_node  # type: ignore[attr-defined]
    return sum(1 for _ in el.itersiblings(el.tag))


_functions = etree.FunctionNamespace(NAMESPACE)
_functions["before"] = _same_name_before
_functions["after"] = _same_name_after
BEFORE, AFTER = "cw:before()", "cw:after()"


class _Translator(GenericTranslator):
    """cssselect's translator, with `*:nth-of-type()` and its kin counted by name."""

    def _of_type(self, xpath: XPathExpr, function: Function, last: bool) -> XPathExpr:
        if xpath.element != "*":
            return self.xpath_nth_child_function(xpath, function, last=last, add_name_test=False)
        alone = self.xpath_nth_child_function(XPathExpr(), function, last=last, add_name_test=False)
        count = "count(following-sibling::*)" if last else "count(preceding-sibling::*)"
        return xpath.add_condition(alone.condition.replace(count, AFTER if last else BEFORE))

    def xpath_nth_of_type_function(self, xpath: XPathExpr, function: Function) -> XPathExpr:
        return self._of_type(xpath, function, last=False)

    def xpath_nth_last_of_type_function(self, xpath: XPathExpr, function: Function) -> XPathExpr:
        return self._of_type(xpath, function, last=True)

    def xpath_first_of_type_pseudo(self, xpath: XPathExpr) -> XPathExpr:
        if xpath.element != "*":
            return super().xpath_first_of_type_pseudo(xpath)
        return xpath.add_condition(f"{BEFORE} = 0")

    def xpath_last_of_type_pseudo(self, xpath: XPathExpr) -> XPathExpr:
        if xpath.element != "*":
            return super().xpath_last_of_type_pseudo(xpath)
        return xpath.add_condition(f"{AFTER} = 0")

    def xpath_only_of_type_pseudo(self, xpath: XPathExpr) -> XPathExpr:
        if xpath.element != "*":
            return super().xpath_only_of_type_pseudo(xpath)
        return xpath.add_condition(f"{BEFORE} = 0 and {AFTER} = 0")


_TRANSLATOR = _Translator()


def css_to_xpath(selector: str) -> str:
    """The XPath of a CSS selector (it may call this module's functions, prefix `cw`)."""
    try:
        return _TRANSLATOR.css_to_xpath(selector)
    except SelectorError:
        quoted = UNQUOTED_VALUE_RE.sub(r'[\1\2"\3"]', selector)
        if quoted == selector:
            raise
        return _TRANSLATOR.css_to_xpath(quoted)


@functools.lru_cache(maxsize=512)
def compile_css(selector: str) -> etree.XPath:
    """A CSS selector compiled to run on lxml trees; SelectorError when it cannot be."""
    return etree.XPath(css_to_xpath(selector), namespaces={"cw": NAMESPACE})
