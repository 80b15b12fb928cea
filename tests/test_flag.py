"""flag.py: directions, severities and the alert assessment, on built documents and fixture pairs.

Every labelled pair of ../shared/corpus is checked by bench/flagging.py and bench/corpus_checks.py.
"""

from __future__ import annotations

import pytest
import yaml

from monitor.diff import diff
from monitor.extract.document import DocumentBuilder
from monitor.extract.markdown import parse
from monitor.flag import assess, flag_changes
from monitor.model import Category, Direction, Document, Severity
from monitor.rules.files import load_rules
from tests.conftest import CORPUS

RULES = load_rules()
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]


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
        and training.rule_id == "ai_training.train-models"
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


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_corpus_pairs_alert_exactly_when_a_creator_should_be_alerted(case: dict) -> None:
    changeset = diff(
        parse((CORPUS / case["old_file"]).read_text()),
        parse((CORPUS / case["new_file"]).read_text()),
    )
    verdict = assess(flag_changes(changeset, RULES))
    assert verdict.alert is (case["labels"]["alert"] == "yes"), [
        (f.category.value, f.direction.value, f.evidence[:80]) for f in verdict.threats
    ]
