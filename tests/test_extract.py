"""extract/: real HTML (fixture copies of OTA snapshots, with their selectors and without), small pages.

Every snapshot of ../shared/corpus/html is checked by bench/corpus_checks.py.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import io
import json
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from lxml import etree
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.cli.main import Environment, ExitStatus, main
from monitor.errors import NotTerms
from monitor.extract import markdown, selection
from monitor.extract.html import html_document
from monitor.extract.readers import extract
from monitor.extract.text import pdf_document, text_document
from monitor.model import (
    Document,
    FailureReason,
    FetchFailure,
    Page,
    RangeSelector,
    Selector,
    Snapshot,
    Source,
)
from monitor.track import EXTRACTOR_VERSION, extractor_fingerprint
from tests.conftest import CORPUS, terms_html

SNAPSHOTS = yaml.safe_load((CORPUS / "html" / "snapshots.yaml").read_text())["items"]
SOURCE = Source(
    id="example-terms",
    platform="Example",
    document_type="Terms of Service",
    url="https://example.org/terms",
)


def _selectors(entry: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    def as_tuple(value: object) -> tuple[str, ...]:
        if not value:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]

    return as_tuple(entry.get("select")), as_tuple(entry.get("remove"))


def _corpus_text(item: dict, use_selectors: bool = True) -> str:
    declaration = item["declaration"]["entry"]
    parts = declaration.get("combine") or [declaration]
    texts = []
    for part, snapshot in zip(parts, item["snapshots"], strict=True):
        html = (CORPUS / "html" / snapshot["file"]).read_text(encoding="utf-8")
        select, remove = _selectors({**declaration, **part}) if use_selectors else ((), ())
        texts.append(html_document(html, select, remove).text)
    return " ".join(texts)


def _covered(words: list[str], within: list[str]) -> float:
    """Share of `words` that appear, in order, in `within`."""
    matcher = difflib.SequenceMatcher(None, words, within, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(words))


@pytest.mark.parametrize("item", SNAPSHOTS, ids=lambda i: f"{i['case_id']}-{i['role']}")
def test_corpus_html_gives_the_text_ota_recorded(item: dict) -> None:
    ours = _corpus_text(item).split()
    expected = markdown.parse((CORPUS / item["expected_markdown"]).read_text()).text.split()
    assert _covered(ours, expected) >= 0.98  # nothing we keep is chrome OTA dropped
    if item["service"] == "Le Chat":
        # OTA ran the page's scripts, which render the policy a second time from a JSON payload;
        # a parser (rightly) does not. Our text is the first copy, whole.
        assert _covered(expected[: len(ours)], ours) >= 0.98
    else:
        assert _covered(expected, ours) >= 0.98  # and nothing of the terms is lost


@pytest.mark.parametrize(
    "item", [i for i in SNAPSHOTS if i["role"] == "new"], ids=lambda i: i["case_id"]
)
def test_corpus_html_without_selectors_finds_the_main_content(item: dict) -> None:
    ours = _corpus_text(item, use_selectors=False)
    expected = markdown.parse((CORPUS / item["expected_markdown"]).read_text()).text.split()
    assert _covered(expected[: len(ours.split())], ours.split()) >= 0.95
    for chrome in (
        "Skip to main content",
        "Research Residency",
        "Back to main menu",
        "Explore ChatGPT",
    ):
        assert chrome not in ours


def test_deepseek_keeps_headings_and_number_labels() -> None:
    item = next(i for i in SNAPSHOTS if i["case_id"].startswith("deepseek") and i["role"] == "new")
    html = (CORPUS / "html" / item["snapshots"][0]["file"]).read_text()
    ours = html_document(html, *_selectors(item["declaration"]["entry"]))
    ota = markdown.parse((CORPUS / item["expected_markdown"]).read_text())
    assert len(ours.clauses) == len(ota.clauses)
    assert {c.heading_path for c in ours.clauses} == {c.heading_path for c in ota.clauses}
    assert sum(1 for c in ours.clauses if c.label) == sum(1 for c in ota.clauses if c.label) > 10


def test_structure_lists_tables_definitions_and_bold_headings() -> None:
    html = """<html><head><title>T</title></head><body><main>
      <h1>Terms of Use</h1>
      <p>Effective date: 7 August 2023</p>
      <h2>7. Content</h2>
      <p><strong>7.1 Your Content.</strong> You own what you upload to the service, always and forever.</p>
      <h3>7.2 Licence</h3>
      <p>You grant us a licence:</p>
      <ol type="a"><li>to host your content;</li><li>to show it<ul><li>on the web</li></ul></li></ol>
      <ol start="4"><li>Fourth item text</li></ol>
      <p><b>Definitions</b></p>
      <dl><dt>Content</dt><dd>Anything you upload.</dd></dl>
      <table><tr><th>Data</th><th>Purpose</th></tr><tr><td>Posts</td><td>Model training</td></tr></table>
    </main></body></html>"""
    doc = html_document(html)
    assert doc.title == "T" and doc.effective_date == "7 August 2023"
    rows = [(c.heading_path, c.label, c.text) for c in doc.clauses]
    assert rows == [
        (
            ("Terms of Use", "7. Content"),
            "7.1",
            "Your Content. You own what you upload to the service, always and forever.",
        ),
        (("Terms of Use", "7. Content", "7.2 Licence"), None, "You grant us a licence:"),
        (("Terms of Use", "7. Content", "7.2 Licence"), "a.", "to host your content;"),
        (("Terms of Use", "7. Content", "7.2 Licence"), "b.", "to show it"),
        (("Terms of Use", "7. Content", "7.2 Licence"), None, "on the web"),
        (("Terms of Use", "7. Content", "7.2 Licence"), "4.", "Fourth item text"),
        (
            ("Terms of Use", "7. Content", "7.2 Licence", "Definitions"),
            None,
            "Content: Anything you upload.",
        ),
        (("Terms of Use", "7. Content", "7.2 Licence", "Definitions"), None, "Data | Purpose"),
        (
            ("Terms of Use", "7. Content", "7.2 Licence", "Definitions"),
            None,
            "Posts | Model training",
        ),
    ]
    keys = [c.key for c in doc.clauses]
    assert len(set(keys)) == len(keys) and keys[1] == "Terms of Use > 7. Content > 7.2 Licence #1"


def cf_encode(email: str, key: int = 0x3C) -> str:
    """Cloudflare's e-mail obfuscation: a key byte, then every byte XORed with it, in hex."""
    return f"{key:02x}" + "".join(f"{b ^ key:02x}" for b in email.encode())


def test_noise_is_normalised_away() -> None:
    html = (
        "<main><p>We\u00a0do\u00a0not\u200b sell \u201cyour\u201d da\u00adta \u2018ever\u2019.</p>"
        "<p>Write to <a href='/cdn-cgi/l/email-protection' class='__cf_email__' "
        f"data-cfemail='{cf_encode('privacy@example.org')}'>[email&#160;protected]</a> or "
        "legal [at] example [dot] org today.</p><script>alert('x')</script><style>p{}</style></main>"
    )
    doc = html_document(html)
    assert [c.text for c in doc.clauses] == [
        "We do not sell \"your\" data 'ever'.",
        "Write to privacy@example.org or legal@example.org today.",
    ]


def test_chrome_is_dropped_without_selectors() -> None:
    doc = html_document(terms_html())
    text = doc.text
    assert "Home" not in text and "We use cookies" not in text and "Careers Press" not in text
    assert "1.1 You keep ownership" in text and doc.effective_date == "March 3, 2025"


def test_remove_selectors_apply_inside_the_selection() -> None:
    html = "<div id='t'><p class='ad'>Buy now</p><p>Real clause text about licences.</p></div>"
    doc = html_document(html, ("#t",), (".ad",))
    assert [c.text for c in doc.clauses] == ["Real clause text about licences."]


def _snapshot(
    body: bytes, content_type: str = "text/html", encoding: str | None = "utf-8"
) -> Snapshot:
    return Snapshot(
        "example-terms",
        datetime(2026, 1, 1, tzinfo=UTC),
        "https://example.org/terms",
        200,
        body,
        content_type,
        encoding,
    )


def test_empty_selection_is_a_failure_not_a_version() -> None:
    source = dataclasses.replace(SOURCE, select=("#terms",))
    result = extract(_snapshot(terms_html().encode()), source)
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.NOT_TERMS
    assert "'#terms' matched nothing" in result.detail


def test_suspiciously_short_selection_is_a_failure() -> None:
    result = extract(_snapshot(b"<main><p>Loading...</p></main>"), SOURCE)
    assert isinstance(result, FetchFailure) and "only 10 characters" in result.detail


def test_plain_text_terms() -> None:
    text = (
        "TERMS OF SERVICE\n\n1. ACCEPTANCE\nBy using the service you agree to these terms and to\n"
        "everything they say.\n\n2. CONTENT\nYou keep your content. We may use it to run the ser-\nvice.\n"
    )
    doc = text_document(text)
    assert [(c.heading_path, c.text) for c in doc.clauses] == [
        (
            ("TERMS OF SERVICE", "1. ACCEPTANCE"),
            "By using the service you agree to these terms and to everything they say.",
        ),
        (
            ("TERMS OF SERVICE", "2. CONTENT"),
            "You keep your content. We may use it to run the service.",
        ),
    ]


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with the lines in Helvetica, built by hand."""
    stream = (
        "BT /F1 11 Tf 50 780 Td 14 TL "
        + " ".join(f"({line.replace('(', '[').replace(')', ']')}) Tj T*" for line in lines)
        + " ET"
    )
    content = zlib.compress(stream.encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_pdf_terms_give_a_document() -> None:
    pdf = make_pdf(
        ["1. LICENCE", "You grant us a worldwide licence to host your content.", "Page 1 of 1"]
    )
    doc = pdf_document(pdf, "Example Terms")
    assert [(c.heading_path, c.text) for c in doc.clauses] == [
        (("1. LICENCE",), "You grant us a worldwide licence to host your content.")
    ]
    result = extract(_snapshot(b"%PDF-broken", "application/pdf", None), SOURCE)
    assert isinstance(result, FetchFailure) and result.reason is FailureReason.NOT_TERMS


def test_xml_declaration_and_non_utf8_pages(tmp_path: Path) -> None:
    page = "<?xml version='1.0' encoding='iso-8859-1'?>" + terms_html(
        extra="<p>Café clause about résumés and more words.</p>"
    )
    result = extract(_snapshot(page.encode("cp1252"), encoding="cp1252"), SOURCE)
    assert not isinstance(result, FetchFailure)
    assert "Café clause about résumés and more words." in result.text


def test_documents_cross_to_and_from_the_worker_unchanged() -> None:
    # the extraction worker returns Documents by pickle (Clause has its own __reduce__)
    import pickle

    document = html_document(terms_html(clauses=12))
    copy = pickle.loads(pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == document and copy.clauses[3].full_text == document.clauses[3].full_text
    assert markdown.render(copy) == markdown.render(document)


RANGE_PAGE = """<html><head><title>Example terms</title></head><body>
<nav>Menu Home About</nav>
<article>
  <h1 id="title">Terms of Service</h1>
  <p id="intro">Who we are and what these terms cover.</p>
  <section id="s1"><h2>1. Your content</h2><p>You keep ownership of what you upload.</p>
    <p id="s1-end">We may use your <b>uploads</b> to train our models.</p></section>
  <section id="s2"><h2>2. Licence</h2><p id="s2-first">You grant us a licence to host your work.</p>
    <div class="share">Share this page</div>
    <p>Closing words of section two.</p></section>
  Text between the last section and the footer.
  <footer id="foot">Copyright footer</footer>
</article>
</body></html>"""


def _range(start: str, end: str, *, start_before: bool = True, end_before: bool = True) -> Selector:
    return RangeSelector(start, end, start_before=start_before, end_before=end_before)


def _has(document: Document, *phrases: str) -> list[bool]:
    """Which phrases the document holds, in a heading or in a clause."""
    text = "\n".join(" / ".join((*c.heading_path, c.full_text)) for c in document.clauses)
    return [phrase in text for phrase in phrases]


PHRASES = (
    "Menu Home",
    "Terms of Service",
    "Who we are",
    "1. Your content",
    "You keep ownership",
    "We may use your uploads to train",
    "2. Licence",
    "You grant us",
    "Share this page",
    "Closing words",
    "Text between",
    "Copyright footer",
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        # startBefore / endBefore: the start element in, the end element out
        (_range("#title", "#foot"), "-++++++++++-"),
        # startAfter / endAfter: the start element out, the end element in
        (
            _range("#title", "#s2-first", start_before=False, end_before=False),
            "--++++++----",
        ),
        # ends nested in different sections: each cut section keeps only its part in the range
        (_range("#s1-end", ".share"), "-----+++----"),
        # sibling ends: the first section whole, nothing of the second
        (_range("#s1", "#s2"), "---+++------"),
        # the end inside the start element, and the start inside the end element
        (_range("article", "#foot"), "-++++++++++-"),
        (_range("#title", "article", start_before=False, end_before=False), "--++++++++++"),
        # start and end on one element
        (_range("#s2", "#s2", end_before=False), "------++++--"),
    ],
)
def test_range_selectors_keep_what_lies_between_their_boundaries(
    selector: Selector, expected: str
) -> None:
    document = html_document(RANGE_PAGE, (selector,))
    assert "".join("+" if kept else "-" for kept in _has(document, *PHRASES)) == expected


def test_a_cut_element_keeps_its_structure() -> None:
    document = html_document(RANGE_PAGE, (_range("#s1-end", ".share"),))
    assert [(c.heading_path, c.text) for c in document.clauses] == [
        ((), "We may use your uploads to train our models."),
        (("2. Licence",), "You grant us a licence to host your work."),
    ]


def test_ranges_and_css_selectors_mix_in_document_order_without_repeats() -> None:
    select = ("#s2-first", _range("#title", "#s1"), "#intro", "#s1-end")
    document = html_document(RANGE_PAGE, select)
    assert [(c.heading_path, c.text) for c in document.clauses] == [
        (("Terms of Service",), "Who we are and what these terms cover."),
        (("Terms of Service",), "We may use your uploads to train our models."),
        (("Terms of Service",), "You grant us a licence to host your work."),
    ]


def test_ranges_in_remove_delete_their_content_before_css_removals() -> None:
    remove = (".share", _range("#s1-end", "#s2-first"), _range("#foot", "#foot", end_before=False))
    document = html_document(RANGE_PAGE, ("article",), remove)
    assert _has(document, *PHRASES) == [
        False,  # outside the selection
        True,
        True,
        True,
        True,
        False,  # from #s1-end ...
        False,
        True,  # ... to just before #s2-first
        False,  # a CSS removal
        True,
        True,
        False,  # a range of one element
    ]


@pytest.mark.parametrize(
    ("select", "remove", "why"),
    [
        ((_range("#title", "#missing"),), (), "its end '#missing' matched nothing"),
        ((_range("#missing", "#foot"),), (), "its start '#missing' matched nothing"),
        (("article",), (_range("#s1", ".gone"),), "its end '.gone' matched nothing"),
        ((_range("#s2", "#s1"),), (), "ends before it starts"),
        ((_range("#s2", "#s2", start_before=False),), (), "ends before it starts"),
    ],
)
def test_a_range_that_cannot_be_placed_is_a_failure_not_a_truncated_version(
    select: tuple[Selector, ...], remove: tuple[Selector, ...], why: str
) -> None:
    snapshot = Snapshot(
        "example-terms",
        datetime(2024, 1, 1, tzinfo=UTC),
        SOURCE.url,
        200,
        RANGE_PAGE.encode(),
        "text/html",
        "utf-8",
    )
    source = dataclasses.replace(SOURCE, select=select, remove=remove)
    assert not isinstance(
        extract(snapshot, dataclasses.replace(SOURCE, select=("article",))), FetchFailure
    )
    result = extract(snapshot, source, min_chars=10)
    assert isinstance(result, FetchFailure) and result.reason == FailureReason.NOT_TERMS
    assert why in result.detail and "range {" in result.detail


def test_the_extractor_fingerprint_changes_with_range_selectors() -> None:
    fingerprints = {
        extractor_fingerprint(dataclasses.replace(SOURCE, select=select, remove=remove))
        for select, remove in [
            ((), ()),
            (("article",), ()),
            ((_range("#title", "#foot"),), ()),
            ((_range("#title", "#foot", end_before=False),), ()),
            ((_range("#title", "#s2"),), ()),
            ((), (_range("#title", "#foot"),)),
        ]
    }
    assert len(fingerprints) == 6
    one = Page("https://example.org/1", ("main",))
    pages = {
        extractor_fingerprint(dataclasses.replace(SOURCE, pages=pages))
        for pages in [
            (one,),
            (one, Page("https://example.org/2", ("main",))),
            (one, Page("https://example.org/2", ("main",), (_range("h1", "h2"),))),
            (one, Page("https://example.org/2", (_range("h1", "h2"),))),
        ]
    }
    assert len(pages) == 4 and not pages & fingerprints
    # a source of one page keeps the fingerprint it had before ranges and pages existed
    assert (
        extractor_fingerprint(dataclasses.replace(SOURCE, select=("a", "b")))
        == (hashlib.sha256(f"{EXTRACTOR_VERSION}\na|b\n".encode()).hexdigest()[:16])
    )


def test_tracking_a_range_keeps_the_last_good_version_when_its_end_disappears(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """Through `clausewatch track` on a loopback server: a range selector in sources.yaml
    archives its content; when the page loses the range's end, the fetch fails as not_terms
    and nothing truncated is archived."""
    filler = "".join(
        f"<p>Clause {n}: you keep every right in what you upload.</p>" for n in range(8)
    )
    page = RANGE_PAGE.replace('<p id="intro">', filler + '<p id="intro">')
    httpserver.expect_ordered_request("/terms").respond_with_data(page, content_type="text/html")
    httpserver.expect_ordered_request("/terms").respond_with_data(
        page.replace('id="foot"', 'id="moved"'), content_type="text/html"
    )
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "id": "example-terms",
                        "platform": "Example",
                        "document_type": "Terms of Service",
                        "url": httpserver.url_for("/terms"),
                        "select": [{"startAfter": "#title", "endBefore": "#foot"}],
                        "remove": [".share"],
                        "ignore_robots": True,
                    }
                ]
            }
        )
    )

    def track(status: ExitStatus) -> dict:
        out = io.StringIO()
        env = Environment(
            stdout=out, stderr=io.StringIO(), env={"CLAUSEWATCH_HOST_DELAY": "0"}, cwd=tmp_path
        )
        assert main(["track", "--json"], env) == status
        (result,) = json.loads(out.getvalue())["sources"]
        return result

    assert track(ExitStatus.OK)["outcome"] == "new"
    failed = track(ExitStatus.ERROR)  # every source failed
    assert failed["outcome"] == "failed" and failed["reason"] == "not_terms"
    assert "its end '#foot' matched nothing" in failed["detail"]
    with Archive(tmp_path / "archive") as archive:
        (version,) = archive.versions("example-terms")
        document = archive.read_version(version)
    assert _has(document, *PHRASES) == [
        False,
        False,  # startAfter: the title itself left out
        True,
        True,
        True,
        True,
        True,
        True,
        False,  # removed
        True,
        True,
        False,  # endBefore
    ]


def test_css_beyond_cssselect_that_ota_declarations_use() -> None:
    """`*:nth-of-type()` and its kin count siblings of the same name; an unquoted attribute
    value may start with `--` (Arweave's, National Geographic's and Chayn's declarations)."""
    page = """<html><body><div id="legal">
      <p class="box">Paragraph one.</p><div class="box">Division one.</div>
      <p class="box">Paragraph two.</p><div class="box">Division two.</div>
      <span class="box">The only span.</span></div>
      <a href="/privacy--espanol">En español</a><a href="/privacy">In English</a>
    </body></html>"""

    def texts(selector: str) -> list[str]:
        return [c.text for c in html_document(page, (selector,)).clauses]

    assert texts("#legal .box:nth-of-type(2)") == ["Paragraph two.", "Division two."]
    assert texts("#legal .box:first-of-type") == [
        "Paragraph one.",
        "Division one.",
        "The only span.",
    ]
    assert texts("#legal .box:nth-last-of-type(1)") == [
        "Paragraph two.",
        "Division two.",
        "The only span.",
    ]
    assert texts("#legal .box:only-of-type") == ["The only span."]
    assert texts("#legal p:nth-of-type(2)") == ["Paragraph two."]
    assert texts("a[href$=--espanol]") == ["En español"]


def test_a_range_too_deep_to_cut_is_a_failure_not_a_crash() -> None:
    root = etree.Element("html")
    deepest = etree.SubElement(root, "body")
    for _ in range(sys.getrecursionlimit() + 100):
        deepest = etree.SubElement(deepest, "div")
    etree.SubElement(deepest, "p", id="start").text = "Start"
    etree.SubElement(root[0], "p", id="end").text = "End"
    span = _range("#start", "#end", end_before=False)
    for cut in (selection.choose, selection.remove):
        with pytest.raises(NotTerms, match="nests too deeply to cut"):
            cut(root, (span,))


def test_check_takes_a_range_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "terms.html").write_text(RANGE_PAGE)

    def check(*select: str) -> tuple[int, dict]:
        out, err = io.StringIO(), io.StringIO()
        argv = ["check", str(tmp_path / "terms.html"), "--json"]
        for selector in select:
            argv += ["--select", selector]
        # one selected clause is less text than a terms page: let it count (min_clause_chars)
        env = {"CLAUSEWATCH_MIN_CLAUSE_CHARS": "10"}
        code = main(argv, Environment(stdout=out, stderr=err, env=env, cwd=tmp_path))
        return code, json.loads(out.getvalue()) if out.getvalue() else {"error": err.getvalue()}

    code, report = check("{startAfter: '#s1-end', endBefore: '.share'}")
    # only "You grant us a licence to host your work.": a licence finding, no training clause
    assert report["clauses"] == 1, report
    assert [f["category"] for f in report["findings"]] == ["content_license"]
    assert code == ExitStatus.OK  # a narrow licence alone is on every terms page: not alarming
    assert "train our models" not in json.dumps(report["findings"])
    code, report = check('{"startBefore": "#s1-end", "endBefore": ".share"}', "#intro")
    assert code == ExitStatus.FLAGGED and report["clauses"] == 3
    assert "train our models" in json.dumps(report["findings"])
    code, report = check("{startAfter: '#s1-end'}")
    assert code == ExitStatus.USAGE and "--select: select: a range needs an end" in report["error"]


def test_each_media_type_has_its_reader_and_an_unknown_one_is_an_explicit_failure() -> None:
    text = "# Terms\n\n## 5. Content\n\n5.1 You keep **every** right to what you upload, always.\n"
    document = extract(_snapshot(text.encode(), "text/markdown"), SOURCE, min_chars=10)
    assert not isinstance(document, FetchFailure), document
    assert [(c.heading_path, c.label) for c in document.clauses] == [
        (("Terms", "5. Content"), "5.1")
    ]
    as_text = extract(_snapshot(text.encode(), "text/plain"), SOURCE, min_chars=10)
    assert not isinstance(as_text, FetchFailure) and "**every**" in as_text.text
    unknown = extract(_snapshot(b'{"terms": "..."}', "application/json"), SOURCE)
    assert isinstance(unknown, FetchFailure) and unknown.reason is FailureReason.CONTENT_TYPE
    assert "no reader for media type 'application/json'" in unknown.detail
