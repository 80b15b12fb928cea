"""One entry per event: the same news in several documents (or changes of one week) is one
entry in the feeds (read back with feedparser), the digest (sent through aiosmtpd) and the
site's alerts page; distinct news stays distinct; entry ids are stable across rebuilds.

The archive is built by real tracking passes from a loopback server. The
second alert of each document is stored the way an archive made before alert holding kept it
(a stored alert is never recomputed): the grouping must not depend on how alerts are decided.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from pytest_httpserver import HTTPServer

from monitor.alerts import alert_id
from monitor.archive import Archive
from monitor.archive.serialize import alert_to_dict
from monitor.cli.main import ExitStatus
from monitor.config import Settings
from monitor.model import Source
from tests.conftest import TRAINING, pass_once, run_cli, terms_html
from tests.test_digest import MUSICIAN, Inbox, configure, smtp  # noqa: F401 (a fixture)

NEUTRAL = "<p>5.5 You can change your display name at any time in your account settings.</p>"
OTHER_QUOTE = (
    "<p>5.3 We may use your songs to build machine learning models that generate music.</p>"
)
DOCUMENTS = [  # one platform's terms for three products (Open Terms Archive names some of a
    # company's products as platforms of their own: "Google", "Google Calendar")
    ("example-terms", "Example", "Terms of Service"),
    ("example-drive", "Example Drive", "Terms of Service"),
    ("example-photos", "Example", "Photos Terms"),
]


def track(
    httpserver: HTTPServer,
    settings: Settings,
    source_id: str,
    document_type: str,
    extra: str,
    platform: str = "Example",
) -> None:
    """One tracking pass over one document serving `extra` in its terms."""
    source = Source(
        id=source_id,
        platform=platform,
        document_type=document_type,
        url=httpserver.url_for(f"/{source_id}"),
        audiences=("musicians",),
    )
    httpserver.clear()
    httpserver.expect_request(f"/{source_id}").respond_with_data(
        terms_html(extra=extra).encode("utf-8"), content_type="text/html; charset=utf-8"
    )
    pass_once(settings, source)


def store_alert_again(settings: Settings, source_id: str) -> None:
    """Give the document's last change (which flagged nothing) the alert of its first flagged
    change, as its own alert: the same quote alerted twice, as kept in older archives."""
    with Archive(settings.archive_dir) as archive:
        changes = archive.changes(source_id)
        first = next(a for a in reversed(archive.alerts()) if a.source_id == source_id)
        last = changes[-1]
        assert last.id != first.change_id
        again = dataclasses.replace(
            first,
            id=alert_id(
                "clausewatch", source_id, last.recorded_at, archive.version_sha(last.new_version_id)
            ),
            change_id=last.id,
            recorded_at=last.recorded_at,
            path=f"sources/{source_id}/changes/{last.id}.html",
        )
    with sqlite3.connect(settings.archive_dir / "catalog.sqlite") as db:
        updated = db.execute(
            "UPDATE alerts SET alert_id = ?, severity = ?, threat = ?, body = ? "
            "WHERE change_id = ? AND alert_id IS NULL",
            (
                again.id,
                again.severity.value,
                int(again.threat),
                json.dumps(alert_to_dict(again)),
                last.id,
            ),
        ).rowcount
    assert updated == 1


@pytest.fixture
def six_alerts(httpserver: HTTPServer, settings: Settings) -> Settings:
    """Three documents of one platform, each alerting twice on one quote (six alerts), then a
    fourth document of that platform with another quote, and another platform with the same
    quote: three events."""
    for source_id, platform, document_type in DOCUMENTS:
        for extra in ("", TRAINING, TRAINING + NEUTRAL):
            track(httpserver, settings, source_id, document_type, extra, platform)
        store_alert_again(settings, source_id)
    for extra in ("", OTHER_QUOTE):
        track(httpserver, settings, "example-music", "Music Terms", extra)
    for extra in ("", TRAINING):
        track(httpserver, settings, "other-terms", "Terms", extra, platform="Other")
    with Archive(settings.archive_dir) as archive:
        alerts = archive.alerts()
    assert len([a for a in alerts if a.platform.startswith("Example")]) == 7
    assert len(alerts) == 8
    return settings


def feed_entries(tmp_path: Path, public: str = "public") -> list[feedparser.FeedParserDict]:
    code, out, err = run_cli(
        tmp_path,
        "feeds",
        "--public",
        public,
        env={"CLAUSEWATCH_PUBLIC_BASE_URL": "https://w.example/"},
    )
    assert code == ExitStatus.OK, out + err
    atom = feedparser.parse((tmp_path / public / "feeds" / "all.atom").read_bytes())
    rss = feedparser.parse((tmp_path / public / "feeds" / "all.rss").read_bytes())
    assert not atom.bozo and not rss.bozo
    assert [e.id for e in atom.entries] == [e.id for e in rss.entries]
    return list(atom.entries)


def test_six_alerts_with_one_quote_over_three_documents_are_one_feed_entry(
    six_alerts: Settings, tmp_path: Path
) -> None:
    entries = feed_entries(tmp_path)
    assert len(entries) == 3  # one per event, not eight
    (same,) = [e for e in entries if e.title.startswith("Example: AI-training permission added")]
    assert same.title == "Example: AI-training permission added (in 3 documents)"
    html = same.content[0].value
    for _, platform, document_type in DOCUMENTS:
        assert f"{platform} {document_type}" in html
    with Archive(six_alerts.archive_dir) as archive:
        alerts = [
            a
            for a in archive.alerts()
            if a.platform.startswith("Example") and "songs" not in str(a.flags[0].evidence)
        ]
        changes = {c.id for sid, _, _ in DOCUMENTS for c in archive.changes(sid)}
    assert len(alerts) == 6
    links = set(re.findall(r'href="https://w\.example/sources/[^"]+/changes/(\d+)\.html"', html))
    assert {str(a.change_id) for a in alerts} <= links and links <= {str(c) for c in changes}
    first = min(alerts, key=lambda a: (a.recorded_at, a.change_id))
    # the earliest date, and the first alert's id: what a reader got before grouping
    assert same.id == first.id
    assert datetime(*same.published_parsed[:6], tzinfo=UTC) == first.recorded_at
    latest = max(alerts, key=lambda a: (a.recorded_at, a.change_id))
    assert datetime(*same.updated_parsed[:6], tzinfo=UTC) == latest.recorded_at
    # fetched text stays escaped in the grouped entry
    assert "&lt;script&gt;alert" in html and "<script" not in html
    # the entry is in each of its documents' feeds, under the same id
    for source_id, _, _ in DOCUMENTS:
        feed = feedparser.parse(
            (tmp_path / "public" / "feeds" / "sources" / f"{source_id}.atom").read_bytes()
        )
        assert [e.id for e in feed.entries] == [same.id]


def test_distinct_quotes_and_platforms_stay_distinct_entries(
    six_alerts: Settings, tmp_path: Path
) -> None:
    entries = {e.title: e for e in feed_entries(tmp_path)}
    assert set(entries) == {
        "Example: AI-training permission added (in 3 documents)",
        "Example Music Terms: AI-training permission added",
        "Other Terms: AI-training permission added",
    }
    assert len({e.id for e in entries.values()}) == 3


def test_entry_ids_are_stable_across_builds(six_alerts: Settings, tmp_path: Path) -> None:
    first = [(e.id, e.title, e.published) for e in feed_entries(tmp_path, "one")]
    shutil.rmtree(tmp_path / "one")
    second = [(e.id, e.title, e.published) for e in feed_entries(tmp_path, "two")]
    assert first == second and len(first) == 3  # one entry per event, each time
    # a rebuild over the same folder writes nothing
    code, out, _ = run_cli(
        tmp_path,
        "feeds",
        "--public",
        "two",
        env={"CLAUSEWATCH_PUBLIC_BASE_URL": "https://w.example/"},
    )
    assert code == ExitStatus.OK and "0 feed files written" in out


def test_the_digest_tells_the_event_once_naming_its_documents(
    six_alerts: Settings,
    tmp_path: Path,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    configure(tmp_path, port, MUSICIAN)
    code, out, _ = run_cli(tmp_path, "digest", "--send", "--until", "today")
    assert code == ExitStatus.OK and "1 sent" in out, out
    (message,) = inbox.messages
    assert message["Subject"].startswith("Clausewatch weekly: 3 alerts, 0 other changes")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.count("* Example: AI-training permission added (in 3 documents)") == 1
    assert text.count("AI-training permission added") == 3
    for _, platform, document_type in DOCUMENTS:
        assert text.count(f"- {platform} {document_type}, ") == 2  # two changes each, linked
    assert (
        len(re.findall(r"https://watch\.example\.org/sources/example-\w+/changes/\d+\.html", text))
        == 7
    )
    assert "<script>" not in html and "&lt;script&gt;alert(" in html


def test_the_alerts_page_groups_like_the_feeds(six_alerts: Settings, tmp_path: Path) -> None:
    code, out, err = run_cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK, out + err
    page = (tmp_path / "public" / "alerts.html").read_text()
    assert "3 alerts on every platform" in page
    assert page.count("AI-training permission added (in 3 documents)") == 1
    assert page.count('class="documents"') == 2  # the lead-in and the list, of one event
    assert "<script" not in page


def test_evidence_is_compared_normalised() -> None:
    from monitor.publish.events import group_events, normal_evidence

    assert normal_evidence("5.3 We may use your content\u2019s text.") == normal_evidence(
        "(b)  we MAY use your content's text"
    )
    assert normal_evidence("We may use your content") != normal_evidence("We may use your posts")
    assert group_events([]) == []
