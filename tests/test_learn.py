"""Weighted rules: the rule language for them, and learning them (`clausewatch rules learn`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.model import Category
from monitor.rules.files import PACKS_DIR, load_pack, load_rules
from tests.test_cli import run

MINI = Path(__file__).parent / "fixtures/claudette-mini"
PLAIN_PACKS = sorted(p for p in PACKS_DIR.glob("*.yaml") if p.name != "learned.yaml")

WEIGHTED = """\
- id: mine.arbitration
  category: arbitration
  severity: info
  description: Disputes go to arbitration.
  weights:
    bias: -2
    rules: {creator_rights.arbitration: 1.5}
    terms: {arbitrator: 2.5, small claims: -3}
  examples:
    fire: [The arbitrator decides every dispute.]
    quiet: [The arbitrator decides small claims.]
"""


def test_a_weighted_rule_decides_its_category_and_quotes_its_evidence(tmp_path: Path) -> None:
    pack = tmp_path / "mine.yaml"
    pack.write_text(WEIGHTED)
    rules = load_rules([*PLAIN_PACKS, pack])
    # the hand-written arbitration rule fires alone (1.5 < 2): quiet, and not emitted itself
    text = "Any dispute will be resolved by binding arbitration."
    assert [m.rule_id for m in rules.match(text) if m.category is Category.ARBITRATION] == []
    # with "arbitrator" (2.5) it fires, quoting the hand rule's words, then the weighted word
    text = "Any dispute will be resolved by binding arbitration before one Arbitrator."
    (found,) = [m for m in rules.match(text) if m.category is Category.ARBITRATION]
    assert found.rule_id == "mine.arbitration"
    assert found.words == ("dispute", "resolved by binding arbitration", "Arbitrator")
    # a negative weight holds it back
    assert not any(
        m.category is Category.ARBITRATION
        for m in rules.match("The arbitrator decides small claims by binding arbitration.")
    )
    # other categories are untouched
    assert {m.category for m in rules.match("We may use your posts to train our AI models.")} == {
        Category.AI_TRAINING
    }


BAD_WEIGHTS = {
    "no bias": ("terms: {a: 1}", "needs a numeric bias"),
    "unknown key": ("bias: 1\n    term: {a: 1}", "unknown weights key 'term'"),
    "upper case": ("bias: 1\n    terms: {Arbitrator: 1}", "one or two lower-case words"),
    "three words": ("bias: 1\n    terms: {a b c: 1}", "one or two lower-case words"),
    "not a number": ("bias: 1\n    terms: {a: high}", "maps words or rule ids to numbers"),
}


@pytest.mark.parametrize("case", list(BAD_WEIGHTS))
def test_bad_weights_say_file_line_and_rule(tmp_path: Path, case: str) -> None:
    body, words = BAD_WEIGHTS[case]
    path = tmp_path / "pack.yaml"
    path.write_text(
        "# a pack\n- id: x.y\n  category: arbitration\n  severity: info\n  description: d\n"
        f"  weights:\n    {body}\n  examples: {{fire: [a]}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pack(path)
    assert str(caught.value).startswith(f"{path}:2: rule 'x.y'") and words in str(caught.value)


def test_weighted_rules_check_their_evidence_and_their_category(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(WEIGHTED.replace("  weights:", "  all: [[arbitrator]]\n  weights:"))
    with pytest.raises(ConfigError, match=r"both.yaml:1: rule 'mine.arbitration'.*'all'"):
        load_pack(both)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(WEIGHTED.replace("creator_rights.arbitration", "creator_rights.nope"))
    with pytest.raises(ConfigError, match=r"unknown.yaml:1: .*'creator_rights.nope'"):
        load_rules([*PLAIN_PACKS, unknown])
    twin = tmp_path / "twin.yaml"
    twin.write_text(WEIGHTED.replace("mine.", "twin."))
    pack = tmp_path / "mine.yaml"
    pack.write_text(WEIGHTED)
    with pytest.raises(ConfigError, match=r"arbitration already has a weighted rule"):
        load_rules([*PLAIN_PACKS, pack, twin])


def test_rules_learn_writes_a_pack_that_fires_on_what_it_learned(tmp_path: Path) -> None:
    out = tmp_path / "learned.yaml"
    code, stdout, err = run(tmp_path, "rules", "learn", str(MINI), "--out", str(out))
    assert code == 0, err
    assert re.match(r"wrote \d+ weighted rules to ", stdout)
    assert "claudette-mini (all its documents)" in out.read_text()
    rules = load_rules([*PLAIN_PACKS, out])
    learned = [r for r in rules.rules if r.weights is not None]
    # every category with a labelled sentence in two documents or more gets a rule
    assert {r.category for r in learned} >= {
        Category.LIMITATION_OF_LIABILITY,
        Category.JURISDICTION,
        Category.CHOICE_OF_LAW,
        Category.UNILATERAL_TERMINATION,
    }
    for rule in learned:
        assert rule.fire
        for text in rule.fire:
            (found,) = [m for m in rules.match(text) if m.rule_id == rule.id]
            # the quoted words are the sentence's own
            assert found.words and all(w.lower() in text.lower() for w in found.words)
        for text in rule.quiet:
            assert rule.id not in {m.rule_id for m in rules.match(text)}
    # the pack is what `rules list` and `rules test` read
    code, stdout, _ = run(
        tmp_path,
        "rules",
        "test",
        "Google will not be responsible for lost profits, revenues, or data.",
        *(a for p in [*PLAIN_PACKS, out] for a in ("--rules", str(p))),
    )
    assert code == 0 and "learned.limitation-of-liability" in stdout


def test_rules_learn_from_listed_documents_and_its_errors(tmp_path: Path) -> None:
    out = tmp_path / "learned.yaml"
    code, _, err = run(
        tmp_path, "rules", "learn", str(MINI), "--documents", str(MINI / "LIST_THREE.txt"),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "3 documents listed in LIST_THREE.txt" in out.read_text()
    listing = tmp_path / "list.txt"
    listing.write_text("Google.txt\nNowhere.txt\n")
    code, _, err = run(
        tmp_path, "rules", "learn", str(MINI), "--documents", str(listing), "--out", str(out)
    )
    assert code == 2 and "document 'Nowhere'" in err
    code, _, err = run(tmp_path, "rules", "learn", str(tmp_path), "--out", str(out))
    assert code == 2 and "not a CLAUDETTE corpus" in err
    assert out.exists()  # a failed run leaves what an earlier one wrote


def test_the_shipped_learned_pack_is_loaded_by_default() -> None:
    rules = load_rules()
    learned = {r.category for r in rules.rules if r.weights is not None}
    assert Category.LIMITATION_OF_LIABILITY in learned and Category.AI_TRAINING not in learned
    text = "In no event shall we be liable for any indirect or consequential damages."
    assert {m.rule_id for m in rules.match(text)} == {"learned.limitation-of-liability"}


def test_learning_the_same_corpus_again_writes_the_same_file(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    written = []
    for seed in ("1", "2"):  # another string hash order in each process
        out = tmp_path / f"learned-{seed}.yaml"
        subprocess.run(
            [sys.executable, "-m", "monitor", "rules", "learn", str(MINI), "--out", str(out)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=tmp_path,
            timeout=120,
        )
        written.append(out.read_bytes())
    assert written[0] == written[1] and b"weights:" in written[0]


def test_a_weighted_rule_weighs_the_whole_sentence_not_its_list_items(tmp_path: Path) -> None:
    pack = tmp_path / "mine.yaml"
    pack.write_text(
        WEIGHTED.replace("bias: -2", "bias: -4")
        .replace("terms: {arbitrator: 2.5, small claims: -3}", "terms: {arbitrator: 2.5, panel: 2}")
        .replace("fire: [The arbitrator decides every dispute.]", "fire: [The arbitrator panel.]")
    )
    rules = load_rules([*PLAIN_PACKS, pack])
    # each item alone weighs too little (2.5 and 2 against a bias of -4); the sentence does not
    text = "Disputes go to: * one arbitrator * a panel of three"
    found = [m for m in rules.match(text) if m.category is Category.ARBITRATION]
    assert [m.rule_id for m in found] == ["mine.arbitration"]
    assert found[0].sentence == text
