"""A cache of rule matches by text, for work that sees the same clauses again and again.

Owns: CachedRuleSet, a RuleSet whose `match` remembers the Matches of a text (a clause, with
the categories asked and its lead-in) in a bounded least-recently-used cache. Importing a
history flags the same clause texts at every back-and-forth capture (a section a page only
sometimes shows, two spellings alternating), and the whole-document checks match every
unchanged clause of both versions: with the cache each text is split into sentences and
matched once. The cache belongs to one RuleSet (its rules are part of it), so other rules
never read another's matches. Must never: change what `match` returns.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from monitor.model import Category, Match
from monitor.rules.language import RuleSet

CACHED_TEXTS = 20_000  # clause texts whose Matches are remembered (a few tens of MB at most)

_Key = tuple[str, frozenset[Category] | None, str]


@dataclass(frozen=True, slots=True)
class CachedRuleSet(RuleSet):
    """The same rules as the RuleSet it is made from (`cached(rules)`), with `match`
    remembering the Matches of the last CACHED_TEXTS texts."""

    _matches: OrderedDict[_Key, tuple[Match, ...]] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )
    hits: list[int] = field(default_factory=lambda: [0, 0], compare=False, repr=False)

    def match(
        self, text: str, categories: frozenset[Category] | None = None, lead_in: str = ""
    ) -> list[Match]:
        key = (text, categories, lead_in)
        found = self._matches.get(key)
        if found is None:
            self.hits[1] += 1
            found = tuple(RuleSet.match(self, text, categories, lead_in))
            self._matches[key] = found
            if len(self._matches) > CACHED_TEXTS:
                self._matches.popitem(last=False)
        else:
            self.hits[0] += 1
            self._matches.move_to_end(key)
        return list(found)  # the caller's own list, as RuleSet.match gives

    def forget(self) -> None:
        self._matches.clear()
        RuleSet.forget(self)


def cached(rules: RuleSet) -> RuleSet:
    """`rules` with a cache of matches by text; a CachedRuleSet is returned as it is."""
    if isinstance(rules, CachedRuleSet):
        return rules
    return CachedRuleSet(rules.rules, rules.by_id)
