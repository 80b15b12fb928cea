"""diff.py on the labelled corpus pairs, its histories, and built documents."""

from __future__ import annotations

import itertools

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.archive.serialize import changeset_from_dict, changeset_to_dict
from monitor.diff import canonical, diff, word_spans
from monitor.extract.document import DocumentBuilder
from monitor.extract.markdown import parse
from monitor.model import ChangeKind, ChangeSet, Document, SpanOp
from monitor.publish.render import render_changeset_html, render_markdown
from tests.conftest import CORPUS

CASES = {c["id"]: c for c in yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]}
HISTORIES = {h["id"]: h for h in yaml.safe_load((CORPUS / "cases.yaml").read_text())["histories"]}


def pair(case_id: str) -> ChangeSet:
    case = CASES[case_id]
    return diff(
        parse((CORPUS / case["old_file"]).read_text()),
        parse((CORPUS / case["new_file"]).read_text()),
    )


def doc(*blocks: str | tuple[int, str]) -> Document:
    builder = DocumentBuilder()
    for block in blocks:
        if isinstance(block, tuple):
            builder.heading(*block)
        else:
            builder.text(block)
    return builder.build("T")


def sides(change) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    old = "".join(s.text for s in change.spans if s.op is not SpanOp.INSERT)
    new = "".join(s.text for s in change.spans if s.op is not SpanOp.DELETE)
    return old, new


def test_identical_documents_have_no_changes() -> None:
    document = parse((CORPUS / "zoom/terms-of-service/2023-08-07.md").read_text())
    assert diff(document, document).changes == ()


def test_inserted_ai_training_sentence_is_isolated_as_inserted_words() -> None:
    changeset = pair("reddit-tos-2024-08-train-ai")
    licence = [c for c in changeset.changes if "train AI" in c.inserted]
    assert licence and all(c.kind is ChangeKind.MODIFIED for c in licence)
    assert licence[0].inserted.strip() == (
        "For example, this license includes the right to use Your Content to train AI and machine "
        "learning models, as further described in our Public Content Policy."
    )
    assert licence[0].deleted == ""


def test_added_protective_sentence_is_one_added_clause() -> None:
    changeset = pair("zoom-tos-2023-08-07-no-train-without-consent")
    assert [c.kind for c in changeset.changes] == [ChangeKind.ADDED]
    assert (
        "will not use audio, video or chat Customer Content to train"
        in changeset.changes[0].new.text
    )  # type: ignore[union-attr]


@pytest.mark.parametrize("history", ["zoom-tos-2024-11-noise"])
def test_noise_history_is_cosmetic_throughout(history: str) -> None:
    versions = HISTORIES[history]["versions"]
    documents = [parse((CORPUS / v["file"]).read_text()) for v in versions]
    for old, new in itertools.pairwise(documents):
        assert diff(old, new).is_cosmetic


@pytest.mark.parametrize(
    "case_id",
    [
        "zoom-tos-2024-11-tracking-id",
        "youtube-tos-2025-12-language-chrome",
        "quora-tos-2024-03-date",
        "lechat-tos-2026-01-capitalisation",
    ],
)
def test_cosmetic_corpus_pairs_are_cosmetic(case_id: str) -> None:
    assert pair(case_id).is_cosmetic


@pytest.mark.parametrize(
    "case_id",
    ["reddit-tos-2024-08-train-ai", "wix-tos-2024-01-ai-terms", "zoom-tos-2023-03-ml-licence"],
)
def test_real_changes_are_not_cosmetic(case_id: str) -> None:
    assert not pair(case_id).is_cosmetic


def test_renumbered_clauses_are_reported_as_renumbered() -> None:
    changeset = pair("deepseek-tos-2026-03-rewrite")
    renumbered = [c for c in changeset.changes if c.kind is ChangeKind.RENUMBERED]
    assert renumbered and all(c.cosmetic for c in renumbered)
    assert all(c.old.label != c.new.label and c.old.text == c.new.text for c in renumbered)  # type: ignore[union-attr]


def test_renumbering_moving_splitting_and_merging_on_built_documents() -> None:
    long_a = "You grant us a worldwide licence to host and display your content on the service."
    long_b = "We may share aggregated statistics with partners who help us run the service."
    old = doc(
        (2, "Licence"),
        f"10.4 {long_a}",
        "10.5 You may end this licence by deleting your account at any time you like.",
        (2, "Sharing"),
        long_b,
        "Payments are due monthly in advance and are not refundable in any case whatsoever.",
        "We will tell you about changes. We will give you thirty days notice by email before they apply.",
        "Disputes go to arbitration.",
        "Arbitration takes place in London.",
    )
    new = doc(
        (2, "Licence"),
        f"10.2 {long_a}",
        "10.3 You may end this licence by deleting your account at any time you like.",
        (2, "Sharing"),
        "Payments are due monthly in advance and are not refundable in any case whatsoever.",
        long_b,
        "We will tell you about changes.",
        "We will give you thirty days notice by email before they apply.",
        "Disputes go to arbitration. Arbitration takes place in London.",
    )
    changeset = diff(old, new)
    assert {c.kind for c in changeset.changes} == {
        ChangeKind.RENUMBERED,
        ChangeKind.MOVED,
        ChangeKind.SPLIT,
        ChangeKind.MERGED,
    }
    renumbered = [
        (c.old.label, c.new.label) for c in changeset.changes if c.kind is ChangeKind.RENUMBERED
    ]  # type: ignore[union-attr]
    assert renumbered == [("10.4", "10.2"), ("10.5", "10.3")]
    (split,) = [c for c in changeset.changes if c.kind is ChangeKind.SPLIT]
    (merged,) = [c for c in changeset.changes if c.kind is ChangeKind.MERGED]
    assert len(split.parts) == 2 and len(merged.parts) == 2
    assert changeset.count(ChangeKind.MOVED) == 1
    assert changeset.count(ChangeKind.ADDED) == 0 and changeset.count(ChangeKind.REMOVED) == 0


def test_reworded_clause_is_modified_not_added_and_removed() -> None:
    old = doc(
        "We may use your content to improve our services and to develop new products for everyone."
    )
    new = doc(
        "We may use your content to improve our services, to develop new products and to train AI models."
    )
    (change,) = diff(old, new).changes
    assert change.kind is ChangeKind.MODIFIED and "train AI models" in change.inserted


def test_cosmetic_means_only_formatting() -> None:
    assert canonical("See Section 10.4(a), “Licence”.") == canonical(
        'see section 12.1(b) "licence"'
    )
    assert canonical("30 days") != canonical("60 days")
    old = doc("You keep ownership of your content at all times, as described in Section 4.2.")
    new = doc("You keep ownership of your Content at all times, as described in section 5.1")
    (change,) = diff(old, new).changes
    assert change.kind is ChangeKind.MODIFIED and change.cosmetic


def test_table_cells_glued_or_parted_and_emphasis_marks_are_cosmetic() -> None:
    old = doc(
        "AI features | Profile InformationSubmitted ContentUsage History | _shared with affiliates_"
    )
    new = doc(
        "AI features | Profile Information, Submitted Content, Usage History | shared with affiliates"
    )
    (change,) = diff(old, new).changes
    assert change.cosmetic
    worded = doc("AI features | Profile Information, Submitted Content | shared with partners")
    assert not diff(old, worded).is_cosmetic
    # a gap beside a digit is no glue: "1,5 %" is not "15 %"
    share = diff(
        doc("Creators receive 1,5 % of AI revenue."), doc("Creators receive 15 % of AI revenue.")
    )
    assert not share.is_cosmetic


def test_long_clause_with_one_word_changed_is_not_delete_all_insert_all() -> None:
    words = [f"word{n}" for n in range(20_000)]
    old = " ".join(words)
    new = " ".join([*words[:10_000], "inserted", *words[10_000:]])
    spans = word_spans(old, new)
    assert [s.op for s in spans] == [SpanOp.EQUAL, SpanOp.INSERT, SpanOp.EQUAL]
    assert spans[1].text.strip() == "inserted"


def test_renderers_and_json_round_trip() -> None:
    changeset = pair("reddit-tos-2024-08-train-ai")
    assert changeset_from_dict(changeset_to_dict(changeset)) == changeset
    markdown = render_markdown(changeset, "Reddit")
    assert (
        "**For example, this license includes the right to use Your Content to train AI" in markdown
    )
    html = render_changeset_html(changeset, "Reddit")
    assert (
        "<ins>For example, this license includes the right to use Your Content to train AI" in html
    )


def test_html_renderer_escapes_terms_text() -> None:
    old = doc("Plain clause text about your account and your content here.")
    new = doc(
        "Plain clause text about your account and <script>alert(1)</script> your content here."
    )
    html = render_changeset_html(diff(old, new), "<b>title</b>")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;title" in html


SENTENCES = st.lists(
    st.sampled_from(
        [
            "We may use your content.",
            "We will not train AI on your content.",
            "You can opt out in settings.",
            "Payments are monthly.",
            "Disputes go to arbitration.",
            "We share data with partners.",
            "You grant us a perpetual licence.",
        ]
    ),
    min_size=0,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(SENTENCES, SENTENCES)
def test_spans_rebuild_both_texts_and_every_clause_is_accounted_for(
    a: list[str], b: list[str]
) -> None:
    old, new = doc(*a), doc(*b)
    changeset = diff(old, new)
    for change in changeset.changes:
        if change.kind in (ChangeKind.MODIFIED, ChangeKind.SPLIT, ChangeKind.MERGED):
            assert sides(change) == (change.old.text, change.new.text)  # type: ignore[union-attr]
    added = sum(1 for c in changeset.changes if c.kind is ChangeKind.ADDED)
    removed = sum(1 for c in changeset.changes if c.kind is ChangeKind.REMOVED)
    paired = sum(
        1
        for c in changeset.changes
        if c.kind in (ChangeKind.MODIFIED, ChangeKind.MOVED, ChangeKind.RENUMBERED)
    )
    split_parts = sum(len(c.parts) for c in changeset.changes if c.kind is ChangeKind.SPLIT)
    merged_parts = sum(len(c.parts) for c in changeset.changes if c.kind is ChangeKind.MERGED)
    splits = changeset.count(ChangeKind.SPLIT)
    merges = changeset.count(ChangeKind.MERGED)
    unchanged = len(new.clauses) - added - paired - split_parts - merges
    assert unchanged >= 0
    assert len(old.clauses) == unchanged + removed + paired + splits + merged_parts
