"""flag.py: directions, severities and the alert assessment, on built documents and fixture pairs.

Every labelled pair of ../shared/corpus is checked by bench/flagging.py and bench/corpus_checks.py.
"""

from __future__ import annotations

from monitor.diff import diff
from monitor.extract.document import DocumentBuilder
from monitor.flag import QUOTE_CHARS, assess, flag_changes, quote
from monitor.model import Category, Direction, Document, Flag, Severity
from monitor.rules.files import load_rules
from monitor.rules.policy import is_alarming, is_threat

RULES = load_rules()


def doc(*texts: str) -> Document:
    builder = DocumentBuilder()
    builder.heading(2, "5. Your Content")
    for text in texts:
        builder.text(text)
    return builder.build("Terms")


LICENCE = "You grant us a worldwide, non-exclusive, royalty-free license to host and display Your Content."
PROMISE = "We do not use your content to train our AI models."


def flags_between(old: Document, new: Document) -> list[tuple[Category, Direction]]:
    return [(f.category, f.direction) for f in flag_changes(diff(old, new), RULES)]


def test_introduced_ai_training_is_a_high_alert_with_its_evidence() -> None:
    old = doc(LICENCE)
    new = doc(
        LICENCE
        + " For example, this license includes the right to use Your Content to train AI and machine learning models."
    )
    flags = flag_changes(diff(old, new), RULES)
    verdict = assess(flags)
    assert verdict.alert and verdict.severity is Severity.HIGH
    (training,) = [f for f in flags if f.category is Category.AI_TRAINING]
    assert (
        training.direction is Direction.INTRODUCED
        and training.rule_id == "ai_training.train-on-content"
    )
    assert training.evidence.startswith(
        "For example, this license includes the right to use Your Content to train AI"
    )
    assert "train" in training.words and training.change_key == "5. Your Content #1"


def test_wider_licence_is_strengthened() -> None:
    wider = LICENCE.replace("royalty-free", "royalty-free, perpetual, irrevocable, sublicensable")
    assert flags_between(doc(LICENCE), doc(wider)) == [
        (Category.CONTENT_LICENSE, Direction.STRENGTHENED)
    ]
    assert assess(flag_changes(diff(doc(LICENCE), doc(wider)), RULES)).alert


def test_narrower_licence_is_weakened_and_not_an_alert() -> None:
    wider = LICENCE.replace("royalty-free", "royalty-free, perpetual, irrevocable, sublicensable")
    flags = flag_changes(diff(doc(wider), doc(LICENCE)), RULES)
    assert [(f.category, f.direction) for f in flags] == [
        (Category.CONTENT_LICENSE, Direction.WEAKENED)
    ]
    assert not assess(flags).alert


def test_a_new_promise_not_to_train_is_good_news_not_a_threat() -> None:
    flags = flag_changes(diff(doc(LICENCE), doc(LICENCE, PROMISE)), RULES)
    verdict = assess(flags)
    assert [(f.category, f.direction) for f in flags] == [
        (Category.PROTECTIVE, Direction.INTRODUCED)
    ]
    assert not verdict.alert and verdict.good_news == tuple(flags)


def test_a_hedged_promise_is_weakened_and_alerts_low() -> None:
    hedged = "By default, we do not use your content to train our AI models."
    flags = flag_changes(diff(doc(PROMISE), doc(hedged)), RULES)
    assert [(f.category, f.direction) for f in flags] == [(Category.PROTECTIVE, Direction.WEAKENED)]
    verdict = assess(flags)
    assert verdict.alert and verdict.severity is Severity.LOW


def test_a_removed_promise_alerts_and_a_permission_turned_into_a_promise_does_not() -> None:
    removed = assess(flag_changes(diff(doc(LICENCE, PROMISE), doc(LICENCE)), RULES))
    assert removed.alert
    permission = "We may use your content to train our AI models."
    turned = flag_changes(diff(doc(permission), doc(PROMISE)), RULES)
    assert {(f.category, f.direction) for f in turned} == {
        (Category.AI_TRAINING, Direction.REMOVED),
        (Category.PROTECTIVE, Direction.INTRODUCED),
    }
    assert not assess(turned).alert


def test_cosmetic_and_moved_changes_raise_nothing() -> None:
    old = doc(LICENCE, "We may use your content to train our AI models.")
    assert (
        flag_changes(
            diff(old, doc(LICENCE.lower(), "We may use your content to train our AI models")), RULES
        )
        == ()
    )
    assert (
        flag_changes(
            diff(old, doc("We may use your content to train our AI models.", LICENCE)), RULES
        )
        == ()
    )


def test_a_flag_quotes_a_window_around_the_words_that_fired_not_a_whole_huge_sentence() -> None:
    padding = "and other services " * 3_000
    huge = f"We may use {padding}your content to train our AI models {padding}forever."
    flags = flag_changes(diff(doc(LICENCE), doc(LICENCE, huge)), RULES)
    (training,) = [f for f in flags if f.category is Category.AI_TRAINING]
    assert len(training.evidence) <= QUOTE_CHARS + 2
    assert "train" in training.evidence and training.evidence.startswith("…")


def test_quote_keeps_short_sentences_whole() -> None:
    assert quote(PROMISE, ("train",)) == PROMISE


def test_us_and_uk_spelling_variants_are_cosmetic_and_raise_nothing() -> None:
    uk = "We use personalised recommendations and organise your content to train our AI models."
    us = "We use personalized recommendations and organize your content to train our AI models."
    changeset = diff(doc(LICENCE, uk), doc(LICENCE, us))
    assert changeset.is_cosmetic and flag_changes(changeset, RULES) == ()


def test_a_training_sentence_that_only_lost_words_is_not_restated_news() -> None:
    old = "We may use your messages, and answers, to train our machine learning models."
    new = "We may use your messages to train our machine learning models."
    flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
    assert not assess(flags).alert


def test_list_items_take_their_lead_in_from_the_document() -> None:
    def listing(*items: str) -> Document:
        builder = DocumentBuilder()
        builder.heading(2, "4. Your obligations")
        builder.text("When using the service, you agree not to:")
        for item in items:
            builder.text(item)
        return builder.build("Terms")

    old = listing("post spam;")
    new = listing("post spam;", "copy its content to train machine learning models;")
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert {f.category for f in flags} == {Category.OTHERS_MAY_NOT_TRAIN}
    assert not assess(flags).alert
    without_context = flag_changes(diff(old, new), RULES)
    assert all(f.category is not Category.OTHERS_MAY_NOT_TRAIN for f in without_context)


def test_the_one_policy_decides_threats() -> None:
    def flag(category: Category, direction: Direction) -> Flag:
        return Flag(category, Severity.LOW, direction, "x.y", "", "", (), 0, "k")

    assert is_threat(flag(Category.DATA_SHARING, Direction.INTRODUCED))
    assert not is_threat(flag(Category.CONTENT_LICENSE, Direction.WEAKENED))
    assert not is_threat(flag(Category.PROTECTIVE, Direction.INTRODUCED))
    assert is_threat(flag(Category.PROTECTIVE, Direction.WEAKENED))
    assert not is_threat(flag(Category.OTHERS_MAY_NOT_TRAIN, Direction.INTRODUCED))
    assert is_alarming(Category.DATA_SHARING) and not is_alarming(Category.OPT_OUT)
