"""The cache of rule matches by text (monitor.rules.cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.rules import cache
from monitor.rules.cache import cached
from monitor.rules.files import PACKS_DIR, load_rules

TRAINING = "We may use your content to train our AI models."


def test_cached_rules_match_as_the_rules_do_and_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = load_rules()
    fast = cached(rules)
    assert cached(fast) is fast
    assert fast.match(TRAINING) == rules.match(TRAINING) != []
    assert fast.match(TRAINING) == rules.match(TRAINING)  # served from the cache: same Matches
    matches = fast.match(TRAINING)
    matches.clear()  # the caller's own list: the cache is untouched
    assert fast.match(TRAINING) == rules.match(TRAINING)
    monkeypatch.setattr(cache, "CACHED_TEXTS", 5)
    for number in range(50):
        fast.match(f"Clause {number}: {TRAINING}")
    assert isinstance(fast, cache.CachedRuleSet) and len(fast._matches) <= 5


def test_other_rules_never_read_another_rule_sets_cached_matches(tmp_path: Path) -> None:
    packs = sorted(PACKS_DIR.glob("*.yaml"))
    every = cached(load_rules())
    assert every.match(TRAINING)
    # the same text under a rule set without the AI-training rules: matched afresh
    others = [p for p in packs if p.stem not in ("ai_training", "learned")]
    fewer = cached(load_rules(others))
    assert all(m.category.value != "ai_training" for m in fewer.match(TRAINING))
