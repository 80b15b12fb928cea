"""rules.py: the rule language, its errors, and every shipped rule's own examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.extract.document import normalize_text
from monitor.model import Category, Severity
from monitor.rules.files import load_pack, load_rules
from monitor.rules.language import (
    MAX_QUOTED,
    MAX_SENTENCE_CHARS,
    fired_words,
    match_rule,
    split_sentences,
    split_units,
)

RULES = load_rules()


def test_the_default_packs_cover_every_category() -> None:
    assert {r.category for r in RULES.rules} == set(Category)
    assert len({r.id for r in RULES.rules}) == len(RULES.rules)


@pytest.mark.parametrize("rule", RULES.rules, ids=lambda r: r.id)
def test_every_rule_fires_on_its_examples_and_not_on_its_counter_examples(rule) -> None:  # type: ignore[no-untyped-def]
    assert rule.fire, "every rule ships firing examples"

    def fires(text: str) -> bool:
        if rule.weights is None:
            return match_rule(rule, text) is not None
        # a weighted rule weighs the other rules that fire, so it is tried in its rule set
        return any(m.rule_id == rule.id for m in RULES.match(normalize_text(text)))

    for text in rule.fire:
        assert fires(text), f"{rule.id} should fire on: {text}"
    for text in rule.quiet:
        assert not fires(text), f"{rule.id} should stay quiet on: {text}"


def categories(text: str) -> set[str]:
    return {m.category.value for m in RULES.match(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We may use your posts to train our AI models.", "ai_training"),
        ("We will not use your posts to train our AI models.", "protective"),
        (
            "We do not use any of your audio, video, chat, screen sharing or other content to train AI models.",
            "protective",
        ),
        (
            "Your posts will be used to train our AI models unless you opt out in settings.",
            "ai_training",
        ),
        ("We will never train AI on your songs without your explicit consent.", "protective"),
        (
            "If you do not opt out, our partners may use your data to train their AI models.",
            "third_party_ai",
        ),
        (
            "You may not use the Services to train any machine learning model.",
            "others_may_not_train",
        ),
    ],
)
def test_negation_and_actor(text: str, expected: str) -> None:
    assert expected in categories(text)


def test_threat_words_inside_a_promise_do_not_fire_the_threat() -> None:
    found = categories("We will never train AI on your songs without your explicit consent.")
    assert "ai_training" not in found


@pytest.mark.parametrize(
    "text",
    [
        "Videos of train tracks and animal training with model trains are allowed.",
        "Non-transferable and non-sublicensable: this license is limited to your own use.",
        "You can change your notification settings at any time.",
    ],
)
def test_keyword_traps_stay_quiet(text: str) -> None:
    found = categories(text)
    assert not found & {"ai_training", "third_party_ai", "content_license", "opt_out"}


def test_matches_quote_the_words_that_fired() -> None:
    found = {
        m.rule_id: m
        for m in RULES.match(
            "For example, this license includes the right to use Your Content to train AI."
        )
        if m.category is Category.AI_TRAINING
    }
    match = found["ai_training.train-on-content"]  # users' own content: the high-severity rule
    assert match.severity is Severity.HIGH
    assert {"train", "AI", "Your Content"} <= set(match.words)
    assert match.sentence.startswith("For example, this license")


def test_function_words_never_count_as_words_that_fired() -> None:
    # "We" and "our" help a rule know who acts; they are never quoted as what fired it
    matches = RULES.match("We may use the content you post to train our AI models.")
    training = [m for m in matches if m.category is Category.AI_TRAINING]
    assert training
    for match in training:
        lowered = {w.lower() for w in match.words}
        assert lowered and not lowered & {"we", "our", "the", "may", "you", "your"}, match.words
        assert "train" in lowered
    assert fired_words(["We", "train", "the", "our AI", "may be", "train"]) == ("train", "our AI")


def test_sentences_are_split_on_full_stops_and_list_items() -> None:
    assert split_sentences("One. Two? (a) three; (b) four") == [
        "One.",
        "Two?",
        "(a) three;",
        "(b) four",
    ]


BAD_RULES = {
    "unknown key": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  al: [a]\n",
        "unknown key 'al'; did you mean 'all'?",
    ),
    "bad category": (
        "- id: x.y\n  category: robots\n  severity: high\n  description: d\n  all: [[a]]\n  examples: {fire: [a]}\n",
        "category 'robots' is not one of",
    ),
    "bad regex": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  all: [['re:(unclosed']]\n",
        "regex",
    ),
    "no description": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  all: [[a]]\n",
        "description is required",
    ),
    "no examples": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  all: [[a]]\n",
        "firing example",
    ),
    "bad id": (
        "- id: Nope\n  category: ai_training\n  severity: high\n  description: d\n  all: [[a]]\n",
        "must look like",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RULES))
def test_bad_rule_files_say_file_line_and_rule(tmp_path: Path, case: str) -> None:
    text, words = BAD_RULES[case]
    path = tmp_path / "pack.yaml"
    path.write_text("# a pack\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_pack(path)
    assert str(caught.value).startswith(f"{path}:2: ")
    assert words in str(caught.value)


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    rule = "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  all: [[train]]\n  examples: {fire: [train]}\n"
    (tmp_path / "a.yaml").write_text(rule)
    (tmp_path / "b.yaml").write_text(rule)
    with pytest.raises(ConfigError, match=r"duplicate rule id 'x\.y'"):
        load_rules([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_a_list_item_under_a_ban_is_a_ban_on_users_not_a_platform_right() -> None:
    item = "use your posts to train machine learning models;"
    under_ban = {m.category for m in RULES.match(item, None, "Members agree not to:")}
    assert Category.OTHERS_MAY_NOT_TRAIN in under_ban and Category.AI_TRAINING not in under_ban
    under_uses = {m.category for m in RULES.match(item, None, "We process your data to:")}
    assert Category.AI_TRAINING in under_uses


def test_a_colon_lead_in_inside_the_sentence_decides_its_items() -> None:
    found = {m.category for m in RULES.match("Visitors must not: train AI models on the Content.")}
    assert Category.OTHERS_MAY_NOT_TRAIN in found and Category.AI_TRAINING not in found


def test_an_inline_list_of_data_types_is_split_into_items() -> None:
    text = "We collect: * search history * voice recordings * prompts you type in AI features"
    units = split_units(text)
    assert [u.text for u in units] == [
        "We collect:",
        "search history",
        "voice recordings",
        "prompts you type in AI features",
    ]
    assert all(u.lead_in == "We collect:" for u in units[1:])
    assert not {m.category for m in RULES.match(text)} & {Category.AI_TRAINING, Category.OPT_OUT}


def test_model_building_without_the_word_train_is_ai_training() -> None:
    for text in (
        "Your personal data may be used for the development and enhancement of our machine"
        " learning models.",
        "We may use information you provide to build and evaluate our AI systems.",
    ):
        assert Category.AI_TRAINING in {m.category for m in RULES.match(text)}, text
    assert Category.AI_TRAINING not in {
        m.category for m in RULES.match("We use artificial intelligence to improve our services.")
    }


def test_a_huge_sentence_is_matched_in_pieces_and_still_found() -> None:
    n = 20_000
    text = "We " + "train " * n + "on your content to build " + "models " * n + "."
    assert len(text) > 200_000
    units = split_units(text)
    assert len(units) > 1 and all(len(u.text) <= MAX_SENTENCE_CHARS for u in units)
    found = RULES.match(text)
    assert found and all(len(m.words) <= 2 * MAX_QUOTED for m in found)


def test_near_terms_with_order_need_the_object_after_the_verb() -> None:
    rule = RULES.by_id["ai_training.build-models"]
    assert match_rule(rule, "We may use your data to develop machine learning models.")
    assert not match_rule(rule, "We use machine learning to develop your data exports.")
