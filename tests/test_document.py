"""document.py: text normalisation shared by every reader."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.extract.document import OTHER_SPACES, collapse_spaces, normalize_text


def test_other_spaces_are_every_space_but_the_space() -> None:
    every = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert set(OTHER_SPACES) == every - {" "} and len(OTHER_SPACES) == len(every) - 1


@given(st.text(alphabet=st.sampled_from([" ", *OTHER_SPACES, "a", "é", "’", "\u200b"])))
def test_collapse_spaces_is_split_and_join(text: str) -> None:
    assert collapse_spaces(text) == " ".join(text.split())


@given(st.text())
def test_normalized_text_is_one_clean_line(text: str) -> None:
    clean = normalize_text(text)
    assert clean == " ".join(clean.split()) and "\u200b" not in clean and "’" not in clean
    assert normalize_text(clean) == clean


PIECES = ["a", "t", "at", "AT", "x", "dot", " ", "\n", "(", ")", "[", "]", "{", "}", ".", "@", "é"]


@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_normalize_text_finds_obfuscated_addresses_as_the_regex_does(text: str) -> None:
    # the reference: the regex on the raw text, then spaces collapsed (as before the speed-up)
    from monitor.extract.document import (
        AT_RE,
        DOT_RE,
        MAYBE_OBFUSCATED_RE,
        OBFUSCATED_EMAIL_RE,
    )

    expected = text
    if MAYBE_OBFUSCATED_RE.search(expected):
        expected = OBFUSCATED_EMAIL_RE.sub(
            lambda m: DOT_RE.sub(".", AT_RE.sub("@", m.group(0))), expected
        )
    assert normalize_text(text) == " ".join(expected.split())


def test_obfuscated_addresses_are_decoded() -> None:
    assert normalize_text("write to privacy [at] example [dot] com") == (
        "write to privacy@example.com"
    )
    assert normalize_text("privacy (AT)\n example.com today") == "privacy@example.com today"
