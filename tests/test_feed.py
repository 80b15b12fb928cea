"""Alerts and feeds end to end: track real changes from a loopback server, build the feeds,
read them back with feedparser (a real feed reader)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import feedparser
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.cli.main import Environment, ExitStatus, main
from monitor.config import Settings
from monitor.fetch import fetchers_for
from monitor.model import Source
from monitor.track import run_pass
from tests.conftest import TRAINING, terms_html


# Markup shown as text on the page (escaped in its HTML): after extraction the clause *text*
# holds "<script>..." and every publisher must escape it again.
def build(tmp_path: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    env = Environment(
        stdout=out,
        stderr=io.StringIO(),
        env={
            "CLAUSEWATCH_PUBLIC_BASE_URL": "https://watch.example.org/",
            **dict(e.split("=", 1) for e in extra),
        },
        cwd=tmp_path,
    )
    return main(["feeds"], env), out.getvalue()


def test_alerts_have_headlines_evidence_and_stable_ids(archive_with_alerts: Settings) -> None:
    with Archive(archive_with_alerts.archive_dir) as archive:
        alerts = archive.alerts()
    assert [a.title for a in alerts] == [
        "Example Terms of Service: promise not to train on your content added",
        "Example Terms of Service: AI-training permission added",
    ]
    promise, training = alerts
    assert training.threat and training.severity.value == "high" and not promise.threat
    assert training.id.startswith("tag:clausewatch,") and ":example-terms/" in training.id
    # the summary says in words what the platform may now do; the rule id is a detail, last
    assert training.summary.startswith(
        "The platform may now use your content or data to train AI models."
    )
    assert training.summary.endswith("Rules: ai_training.train-on-content (high).")
    assert "fired on" not in training.summary
    assert promise.summary.startswith(
        "Good news, not a threat. A promise not to train AI on your content was added."
    )


def test_feed_summaries_say_what_the_clause_now_allows_not_which_rule_fired_on_we(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    build(tmp_path)
    entries = feedparser.parse((tmp_path / "public" / "feeds" / "all.atom").read_bytes()).entries
    promise, training = entries
    assert training.summary.startswith(
        "The platform may now use your content or data to train AI models."
    )
    assert promise.summary.startswith("Good news, not a threat. A promise not to train AI")
    for entry in entries:
        html = entry.content[0].value
        assert "fired on" not in entry.summary.lower() and '"We"' not in entry.summary
        # the content opens with the plain sentence; the rule id comes later, as a detail
        sentence = html.index('class="said"')
        assert sentence < html.index("<blockquote>") < html.index("rule <code>")
        assert "<mark>We</mark>" not in html and "<mark>we</mark>" not in html


def test_feeds_parse_and_carry_ids_links_dates_categories(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    code, out = build(tmp_path)
    assert code == ExitStatus.OK and "2 alerts" in out
    feeds = tmp_path / "public" / "feeds"
    atom = feedparser.parse((feeds / "all.atom").read_bytes())
    rss = feedparser.parse((feeds / "all.rss").read_bytes())
    assert not atom.bozo and not rss.bozo
    assert atom.version == "atom10" and rss.version == "rss20"
    assert [e.title for e in atom.entries] == [e.title for e in rss.entries]
    newest, older = atom.entries
    assert older.title == "Example Terms of Service: AI-training permission added"
    assert older.id.startswith("tag:clausewatch,") and rss.entries[1].id == older.id
    assert rss.entries[1].guidislink is False
    assert older.link.startswith("https://watch.example.org/sources/example-terms/changes/")
    assert {t.term for t in older.tags} >= {"ai_training", "severity:high"}
    assert older.published_parsed and older.updated_parsed
    assert (
        atom.feed.updated_parsed == newest.updated_parsed
    )  # feed date = newest alert, not the clock


def test_fetched_text_is_escaped_in_feeds(archive_with_alerts: Settings, tmp_path: Path) -> None:
    build(tmp_path)
    raw = (tmp_path / "public" / "feeds" / "all.atom").read_text()
    entry = feedparser.parse(raw).entries[1]
    html = entry.content[0].value
    assert "&lt;script&gt;alert" in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\r" not in entry.title and "<script" not in raw.replace("&lt;script", "")


def test_rebuilding_with_nothing_new_writes_nothing(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    build(tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "public").rglob("*") if p.is_file()}
    code, out = build(tmp_path)
    assert code == ExitStatus.OK and "0 feed files written" in out
    assert {p: p.read_bytes() for p in (tmp_path / "public").rglob("*") if p.is_file()} == before


def test_per_source_category_audience_feeds_and_opml(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    build(tmp_path)
    feeds = tmp_path / "public" / "feeds"

    def titles(name: str) -> list[str]:
        return [e.title for e in feedparser.parse((feeds / name).read_bytes()).entries]

    assert len(titles("sources/example-terms.atom")) == 2
    assert titles("categories/ai_training.atom") == [
        "Example Terms of Service: AI-training permission added"
    ]
    assert titles("categories/protective.rss") == [
        "Example Terms of Service: promise not to train on your content added"
    ]
    assert len(titles("audiences/musicians.atom")) == 2 and titles("audiences/writers.atom") == []
    outline = (feeds / "feeds.opml").read_text()
    assert 'xmlUrl="https://watch.example.org/feeds/categories/ai_training.atom"' in outline


def test_opml_lists_each_feed_once_in_atom_and_rss_stays_by_url(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    import xml.etree.ElementTree as ET

    build(tmp_path)
    feeds = tmp_path / "public" / "feeds"
    urls = [
        o.get("xmlUrl")
        for o in ET.parse(feeds / "feeds.opml").getroot().iter("outline")
        if o.get("xmlUrl")
    ]
    assert urls and len(urls) == len(set(urls))  # a reader importing it subscribes once each
    assert all(u.endswith(".atom") for u in urls)
    titles = [o.get("title") for o in ET.parse(feeds / "feeds.opml").getroot().iter("outline")]
    assert len(titles) == len(set(titles))
    # every listed feed's RSS twin is there, at the same path with .rss
    base = "https://watch.example.org/"
    for url in urls:
        twin = feeds.parent / (url.removeprefix(base).removesuffix(".atom") + ".rss")
        assert feedparser.parse(twin.read_bytes()).version == "rss20", twin


def test_minimum_severity_keeps_good_news_out(
    archive_with_alerts: Settings, tmp_path: Path
) -> None:
    build(tmp_path, "CLAUSEWATCH_FEED_MIN_SEVERITY=low")
    entries = feedparser.parse((tmp_path / "public" / "feeds" / "all.atom").read_bytes()).entries
    assert [e.title for e in entries] == ["Example Terms of Service: AI-training permission added"]


def test_cosmetic_changes_never_become_alerts(httpserver: HTTPServer, settings: Settings) -> None:
    source = Source(
        id="example-terms",
        platform="Example",
        document_type="Terms",
        url=httpserver.url_for("/terms"),
    )
    for page in (
        terms_html(extra=TRAINING),
        terms_html(extra=TRAINING.replace("We may", "we  may")),
    ):
        httpserver.clear()
        httpserver.expect_request("/terms").respond_with_data(page, content_type="text/html")
        with (
            fetchers_for(settings.fetch) as fetchers,
            Archive(settings.archive_dir) as archive,
            archive.lock(),
        ):
            run_pass([source], archive, fetchers, dataclasses.replace(settings))
    with Archive(settings.archive_dir) as archive:
        assert len(archive.changes("example-terms")) == 1 and archive.alerts() == []
