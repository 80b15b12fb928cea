"""markdown.py: the archived version format round-trips, on the fixture corpus and on fuzz.

Every file of ../shared/corpus is checked by bench/corpus_checks.py, not here.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.extract.document import DocumentBuilder
from monitor.extract.markdown import parse, render
from tests.conftest import CORPUS

CORPUS_FILES = sorted(p for p in CORPUS.glob("*/*/*.md"))


def test_the_fixture_corpus_is_there() -> None:
    assert CORPUS_FILES, f"no Markdown versions under {CORPUS}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_fixture_corpus_file_round_trips(path) -> None:  # type: ignore[no-untyped-def]
    document = parse(path.read_text(encoding="utf-8"))
    assert document.clauses, "an OTA version always has text"
    assert parse(render(document)) == document


def test_a_dated_heading_after_the_effective_date_stays_a_heading() -> None:
    # The shape of Atlassian's privacy policy (2025-07-17): a list of bold "Effective <date>"
    # lead-ins. The first gives the Document its date; the second is a heading, and must still
    # be one when the rendered version is read back (it once became the date instead).
    document = parse(
        "# Key Changes\n\n**Effective April 25, 2025**\n\nWe updated the framework section.\n\n"
        "**Effective May 17, 2024**\n\nWe updated the notice section.\n"
    )
    assert document.effective_date == "April 25, 2025"
    assert document.clauses[1].heading_path == ("Key Changes", "Effective May 17, 2024")
    assert parse(render(document)) == document


def test_ota_markdown_structure_is_read() -> None:
    document = parse((CORPUS / "zoom/terms-of-service/2023-08-07.md").read_text())
    assert document.effective_date == "August 7, 2023"
    first_numbered = next(c for c in document.clauses if c.label == "1.1")
    assert first_numbered.heading_path == ("1. ACCOUNT INFORMATION; SHARING",)
    assert first_numbered.text.startswith(
        "Registration; Username and Passwords. You may be required"
    )
    assert "](https://" not in document.text  # link targets are not clause text
    assert "**Terms of Service**" not in document.text and '("Terms of Service")' in document.text


def test_rendered_version_is_readable_markdown() -> None:
    builder = DocumentBuilder()
    builder.text("Last updated: January 5, 2026")
    builder.heading(1, "Terms")
    builder.heading(2, "7. Content")
    builder.text("7.2 You grant us a *worldwide* licence to <b>host</b> [content] & more.")
    builder.text("1. A clause that would otherwise read as a list item.")
    text = render(builder.build("Example Terms"))
    assert text == (
        '---\ntitle: "Example Terms"\neffective_date: "January 5, 2026"\n---\n\n# Terms\n\n## 7\\. Content\n\n'
        "7.2 You grant us a \\*worldwide\\* licence to \\<b\\> host \\</b\\> \\[content\\] \\& more.\n\n"
        "1\\. A clause that would otherwise read as a list item.\n"
    ).replace("\\<b\\> host \\</b\\>", "\\<b\\>host\\</b\\>")


def test_deep_headings_beyond_six_levels_round_trip() -> None:
    builder = DocumentBuilder()
    for level in range(1, 7):
        builder.heading(level, f"Level {level}")
    builder.heading(7, "Bold lead-in")
    builder.text("Deep clause text.")
    document = builder.build("Deep")
    assert document.clauses[0].heading_path[-1] == "Bold lead-in"
    assert parse(render(document)) == document


TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 7), TEXT), min_size=1, max_size=12), TEXT)
def test_any_built_document_round_trips(blocks: list[tuple[bool, int, str]], title: str) -> None:
    builder = DocumentBuilder()
    for is_heading, level, text in blocks:
        if is_heading:
            builder.heading(level, text)
        else:
            builder.text(text)
    document = builder.build(title)
    assert parse(render(document)) == document


def _read_whole(text: str) -> object:
    """parse() as it would be without cutting the text into pieces."""
    from monitor.extract import markdown

    pieces = markdown._sections
    markdown._sections = lambda t: [t]  # type: ignore[assignment]
    try:
        return parse(text)
    finally:
        markdown._sections = pieces


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_a_text_read_piece_by_piece_is_the_text_read_whole(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text(encoding="utf-8")
    assert parse(text) == _read_whole(text)


@pytest.mark.parametrize(
    "text",
    [
        # a loose ordered list, an item's indented second paragraph, a table ended by a heading
        "1. First item.\n\n2. Second item.\n\n   Its second paragraph.\n\nAfter the list.\n",
        "| a | b |\n|---|---|\n| 1 | 2 |\n# Heading\nText under it.\n",
        "    indented code\n\n    more code\n\nA paragraph.\n> quoted\n\n> again\n",
        # read whole: a fence holding a heading line, a reference definition used later
        "Intro.\n\n```\n# not a heading\n\nstill code\n```\n\nEnd.\n",
        "See [the policy][p].\n\n# Part\n\n[p]: https://example.com/policy\n",
        "<!--\n# hidden\n\ncomment -->\n\nVisible text.\n",
    ],
)
def test_cutting_points_never_change_what_is_read(text: str) -> None:
    assert parse(text) == _read_whole(text)
