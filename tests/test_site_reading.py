"""What a reader sees on the history site (issue 20), in a real headless Chromium: the change
page opens with what the platform may now do, flags link to their clauses, colours follow the
alert policy, the alerts page, the filter row at 375 and 1280 px, and incremental rebuilds.

Screenshots go to tests/output/ (gitignored), named after the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.cli.main import ExitStatus
from monitor.config import Settings
from monitor.fetch import fetchers_for
from monitor.model import Source
from monitor.track import run_pass
from tests.conftest import ROOT, terms_html, write_sources
from tests.test_site import browser, cli  # noqa: F401  (the Chromium fixture)

OUTPUT = ROOT / "tests" / "output"
MANIFEST = ".site-manifest.json"  # monitor.publish.site.MANIFEST
TRAIN = "We may use the content you post to train our artificial intelligence models."
WIDTHS = (1280, 375)


def shoot(page, name: str, overflow: bool = True) -> list[Path]:  # type: ignore[no-untyped-def]
    """Full-page screenshots at 1280 and 375 px, and (`overflow`) no horizontal overflow at
    either: the page's scrolling width is at most the window's."""
    OUTPUT.mkdir(exist_ok=True)
    paths = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
        assert not overflow or widths[0] <= widths[1], (name, width, widths)
        path = OUTPUT / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 3_000
        paths.append(path)
    return paths


def track_pages(
    httpserver: HTTPServer,
    settings: Settings,
    tmp_path: Path,
    pages: list[str],
    source_id: str = "regional-terms",
    platform: str = "Regional",
) -> None:
    """Track `pages` one after another as versions of one source."""
    url = httpserver.url_for(f"/{source_id}")
    entry = {
        "id": source_id,
        "platform": platform,
        "document_type": "Terms of Service",
        "url": url,
        "audiences": ["musicians"],
        "ignore_robots": True,
    }
    sources_file = tmp_path / "sources.yaml"
    known = []
    if sources_file.exists():
        import yaml

        known = [
            s for s in yaml.safe_load(sources_file.read_text())["sources"] if s["id"] != source_id
        ]
    write_sources(sources_file, [*known, entry])
    source = Source(source_id, platform, "Terms of Service", url, audiences=("musicians",))
    for html in pages:
        httpserver.clear()
        httpserver.expect_request(f"/{source_id}").respond_with_data(html, content_type="text/html")
        with (
            fetchers_for(settings.fetch) as fetchers,
            Archive(settings.archive_dir) as archive,
            archive.lock(),
        ):
            run_pass([source], archive, fetchers, settings)


def regional(extra: str = "") -> str:
    """One page with a US and an EEA section, `extra` in both."""
    return terms_html(
        extra=(
            "<h2>United States users</h2><p>U.1 These terms apply to users in the United States.</p>"
            f"{extra}"
            "<h2>EEA users</h2><p>E.1 These terms apply to users in the European Economic Area.</p>"
            f"{extra}"
        )
    )


def build(tmp_path: Path) -> Path:
    assert cli(tmp_path, "feeds")[0] == ExitStatus.OK
    code, _out, err = cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK, err
    return tmp_path / "public"


@pytest.fixture
def regional_site(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> Path:
    track_pages(httpserver, settings, tmp_path, [regional(), regional(f"<p>{TRAIN}</p>")])
    return build(tmp_path)


def change_pages(site: Path, source_id: str) -> list[Path]:
    return sorted((site / "sources" / source_id / "changes").glob("*.html"))


def test_a_change_page_opens_with_what_the_platform_may_now_do_once_also_in_the_other_section(
    regional_site: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    (change,) = [
        p for p in change_pages(regional_site, "regional-terms") if "train" in p.read_text()
    ]
    page.goto(change.as_uri())
    main = page.locator("main")
    # the first thing after the title is the plain sentence, then its quote, then the diff
    first = main.locator("h1 + section.what li.flag").first
    assert (
        first.locator(".said").inner_text()
        == "The platform may now use your content or data to train AI models."
    )
    assert TRAIN in first.locator("blockquote").inner_text()
    text = main.inner_text()
    assert text.index("may now use your content") < text.index("Clause by clause")
    assert "fired on" not in text.lower()
    # the same sentence in the US and the EEA section is one flag, "also in" the other
    same = main.locator("li.flag", has_text="may now use your content or data to train")
    assert same.count() == 1
    where = same.locator(".where").inner_text()
    assert "United States users" in where and "also in EEA users" in where
    # ...while the diff still shows both clauses
    assert main.locator("section.change ins", has_text="train our artificial").count() == 2
    shoot(page, "change-page-regional", overflow=False)


def many_clauses(extra: str = "", revision: str = "", sections: int = 33) -> str:
    """`sections` sections of two clauses each; `revision` rewords every clause."""
    html = terms_html(clauses=sections, extra=extra)
    if revision:
        html = html.replace("without exception", f"without exception ({revision})")
        html = html.replace("You keep ownership", f"You keep ({revision}) ownership")
    return html


@pytest.fixture
def long_change_site(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> Path:
    late = f"<h2>34. Machine learning</h2><p>34.1 {TRAIN}</p>"
    track_pages(
        httpserver,
        settings,
        tmp_path,
        [many_clauses(), many_clauses(late, "revised")],
        source_id="long-terms",
        platform="Long",
    )
    return build(tmp_path)


def test_a_flag_links_to_its_clause_on_a_67_change_page(
    long_change_site: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    change = min(change_pages(long_change_site, "long-terms"), key=lambda p: len(p.name))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(change.as_uri())
    assert page.locator("section.change").count() >= 20
    flag = page.locator("li.flag", has_text="may now use your content or data to train")
    link = flag.locator(".where a").first
    target = link.get_attribute("href")
    assert target and "#change-" in target
    link.click()
    page.wait_for_function("() => window.scrollY > 0")
    anchor = target.split("#", 1)[1]
    assert page.evaluate("() => location.hash") == f"#{anchor}"
    clause = page.locator(f"[id='{anchor}']")
    assert TRAIN in clause.inner_text() and "flagged" in (clause.get_attribute("class") or "")
    box = page.evaluate(f"() => document.getElementById('{anchor}').getBoundingClientRect().top")
    assert 0 <= box < 900  # the reader lands on the clause
    assert page.evaluate("() => window.scrollY") > 1_000  # far down a long page
    page.screenshot(path=str(OUTPUT / "flag-anchor-1280.png"))
    # the ids are stable: the clause's id is on the page the link names
    landed = long_change_site / page.url.split("/public/", 1)[1].split("#", 1)[0]
    assert f'id="{anchor}"' in landed.read_text()


LICENCE = (
    "You grant us a worldwide, non-exclusive, royalty-free license to use, reproduce, modify "
    "and distribute your content."
)
REWORDED = (
    "You grant us a worldwide, non-exclusive, royalty-free license to host, store, use and "
    "distribute the content you submit."
)
PROMISE = "We will never use your content to train artificial intelligence models."
COLOURS = {  # what base.html gives each verdict of monitor.rules.policy
    "threat-high": "rgb(138, 16, 16)",
    "good": "rgb(29, 107, 29)",
    "neutral": "rgb(85, 85, 85)",
}


@pytest.fixture
def three_kinds_site(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> Path:
    """A licence rewritten narrower (neutral: it loses 'reproduce, modify'), a training
    permission (a high threat), a promise (good)."""
    track_pages(
        httpserver,
        settings,
        tmp_path,
        # the narrowed licence is news that waits for a later capture: the last page twice
        [
            terms_html(extra=f"<p>9.1 {LICENCE}</p>"),
            *[terms_html(extra=f"<p>9.1 {REWORDED}</p>")] * 2,
        ],
        source_id="licence-terms",
        platform="Licence",
    )
    track_pages(httpserver, settings, tmp_path, [regional(), regional(f"<p>{TRAIN}</p>")])
    track_pages(
        httpserver,
        settings,
        tmp_path,
        [terms_html(), *[terms_html(extra=f"<p>9.2 {PROMISE}</p>")] * 2],  # good news waits
        source_id="promise-terms",
        platform="Promise",
    )
    return build(tmp_path)


def test_colours_follow_the_alert_policy_a_reworded_licence_is_not_good_news(
    three_kinds_site: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto((three_kinds_site / "index.html").as_uri())

    def colour(row_text: str) -> str:
        cell = page.locator("tbody tr", has_text=row_text).locator("td").nth(2)
        return cell.locator("span").first.evaluate("e => getComputedStyle(e).color")

    assert colour("Licence Terms") == COLOURS["neutral"]  # narrower: neither threat nor good
    assert colour("Regional Terms") == COLOURS["threat-high"]
    assert colour("Promise Terms") == COLOURS["good"]
    shoot(page, "index-colours", overflow=False)
    page.click("text=Licence Terms of Service")
    timeline = page.locator("ol.timeline span", has_text="content licence")
    assert timeline.evaluate("e => getComputedStyle(e).color") == COLOURS["neutral"]
    page.locator("ol.timeline a", has_text="what changed").first.click()
    assert page.locator("h1").evaluate("e => getComputedStyle(e).color") == COLOURS["neutral"]
    # the licence's scope is compared (monitor.rules.scope): narrower, said so, not green
    assert "less widely than before" in page.locator("li.flag .said").inner_text()
    assert page.locator(".good, .tone-good").count() == 0


def test_the_filter_row_wraps_and_no_page_overflows_at_375_or_1280(
    regional_site: Path,
    settings: Settings,
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    # 60 more platforms, some with long names: the platform filter row is long
    with Archive(settings.archive_dir) as archive, archive.lock():
        archive.sync_sources(
            [
                Source(
                    f"platform-{n}-terms",
                    f"Platform{n}{'WithAVeryLongName' * (n % 3)}",
                    "Terms of Service",
                    f"https://example.org/{'very-long-path-' * 6}{n}",
                )
                for n in range(60)
            ],
            datetime(2026, 1, 1, tzinfo=UTC),
        )
    site = build(tmp_path)
    page = browser.new_page()
    page.goto((site / "index.html").as_uri())
    links = page.locator(".filters a[href*='filters/platform-']")
    assert links.count() == 61
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        # every platform link is inside the window: the row wraps instead of being cut off
        rights = links.evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
        assert max(rights) <= width, (width, max(rights))
    shoot(page, "index-many-platforms")
    page.goto((site / "sources" / "platform-7-terms" / "index.html").as_uri())
    shoot(page, "source-long-url")
    (change,) = [p for p in change_pages(site, "regional-terms") if "train" in p.read_text()]
    page.goto(change.as_uri())
    shoot(page, "change-page")


def test_latest_flags_on_the_index_show_their_dates(
    three_kinds_site: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from monitor.archive import Archive as _Archive

    with _Archive(three_kinds_site.parent / "archive") as archive:
        latest = {a.source_id: a for a in archive.alerts()}
    page = browser.new_page()
    page.goto((three_kinds_site / "index.html").as_uri())
    for source_id, alert in latest.items():
        cell = page.locator(
            "tbody tr", has=page.locator(f"a[href$='sources/{source_id}/index.html']")
        )
        flags = cell.locator("td").nth(2)
        shown = flags.locator("time")
        assert shown.get_attribute("datetime") == alert.recorded_at.isoformat()
        assert shown.inner_text() == alert.recorded_at.strftime("%d %b %Y")
        assert alert.title in flags.inner_text()
        # and the flag opens its change page
        assert flags.locator("a").get_attribute("href") == alert.path


def test_the_source_link_is_the_tracked_url_never_the_file_path_of_an_import(
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import CORPUS
    from tests.test_ota import make_repo

    corpus = CORPUS / "reddit" / "terms-of-service"
    repo = make_repo(
        tmp_path,
        "Reddit/Terms of Service.md",
        [
            ((corpus / "2024-02-15.md").read_text(), "2024-02-15T10:00:00+00:00", "Start"),
            ((corpus / "2024-08-16.md").read_text(), "2024-08-16T10:00:00+00:00", "Update"),
        ],
    )
    code, _out, err = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, err
    site = build(tmp_path)
    page = browser.new_page()
    source_page = site / "sources" / "reddit-terms-of-service" / "index.html"
    page.goto(source_page.as_uri())
    # not tracked: no web address to show, so no link at all (and no local path)
    assert "file:" not in source_page.read_text()
    assert page.locator("main a[rel~='nofollow']").count() == 0
    # tracked in sources.yaml: its configured URL
    write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "id": "reddit-terms-of-service",
                "platform": "Reddit",
                "document_type": "Terms of Service",
                "url": "https://www.redditinc.com/policies/user-agreement",
            }
        ],
    )
    site = build(tmp_path)
    page.goto(source_page.as_uri())
    link = page.locator("main a[rel~='nofollow']")
    assert link.get_attribute("href") == "https://www.redditinc.com/policies/user-agreement"
    assert link.inner_text() == "https://www.redditinc.com/policies/user-agreement"
    assert "file:" not in source_page.read_text()


def test_the_alerts_page_lists_alerts_newest_first_across_platforms(
    three_kinds_site: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    page = browser.new_page()
    page.goto((three_kinds_site / "index.html").as_uri())
    page.locator("main a", has_text="all alerts, newest first").click()
    assert page.title() == "Clausewatch: all alerts, newest first"
    items = page.locator("li.alert")
    assert items.count() == 3
    times = [
        datetime.fromisoformat(t)
        for t in items.locator("> time").evaluate_all("els => els.map(e => e.dateTime)")
    ]
    assert times == sorted(times, reverse=True)  # newest first
    platforms = items.evaluate_all("els => els.map(e => e.querySelector('a').textContent)")
    assert platforms == ["Promise", "Regional", "Licence"]  # tracked in that order, reversed
    # each flag's sentence links to its clause on the change page
    training = page.locator("li.alert", has_text="Regional").locator("ul a").first
    assert (
        training.inner_text() == "The platform may now use your content or data to train AI models."
    )
    training.click()
    assert "#change-" in page.url
    anchor = page.url.split("#", 1)[1]
    assert TRAIN in page.locator(f"[id='{anchor}']").inner_text()
    page.go_back()
    shoot(page, "alerts-page")
    # every page links it
    assert (
        "alerts.html" in (three_kinds_site / "sources" / "licence-terms" / "index.html").read_text()
    )


def test_a_change_of_many_clauses_is_paged_under_a_size_bound_and_keeps_every_clause(
    httpserver: HTTPServer,
    settings: Settings,
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    words = "Members may post songs, videos and writing that other members can read and share. "
    added = "".join(
        f"<h2>{n}. Added section {n}</h2><p>{n}.1 Clause {n} says: {words * 18}</p>"
        for n in range(100, 300)
    )
    track_pages(
        httpserver,
        settings,
        tmp_path,
        [terms_html(), terms_html(extra=added)],
        source_id="big-terms",
        platform="Big",
    )
    site = build(tmp_path)
    pages = sorted(
        change_pages(site, "big-terms"),
        key=lambda p: int(p.stem.split("-")[1]) if "-" in p.stem else 1,
    )
    assert len(pages) > 1
    anchors: list[str] = []
    for page in pages:
        html = page.read_text()
        assert len(html.encode()) < 150_000, (page.name, len(html.encode()))
        anchors += [a.split('"')[0] for a in html.split('<section id="')[1:]]
    # every changed clause is on one of the pages, once, in order
    assert anchors == [f"change-{n}" for n in range(len(anchors))] and len(anchors) == 200
    text = "".join(p.read_text() for p in pages)
    assert all(f"Clause {n} says" in text for n in range(100, 300))
    # shown on fewer pages (a larger page size): the pages it no longer needs are removed
    import monitor.publish.site as site_module

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(site_module, "PAGE_CHANGES", 100)
        assert cli(tmp_path, "site", "build")[0] == ExitStatus.OK
        assert len(change_pages(site, "big-terms")) == 2
    assert cli(tmp_path, "site", "build")[0] == ExitStatus.OK
    assert len(change_pages(site, "big-terms")) == len(pages)
    view = browser.new_page()
    view.goto(pages[0].as_uri())
    view.locator("nav.pager a", has_text="2").first.click()
    assert view.locator("section.change").first.get_attribute("id") == "change-40"
    shoot(view, "change-page-2-of-5")


def mtimes(site: Path) -> dict[str, tuple[int, int]]:
    """Each file's inode and modification time: a rewrite (a rename over it) changes both."""
    return {
        p.relative_to(site).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in site.rglob("*")
        if p.is_file()
    }


def test_a_rebuild_with_nothing_new_rewrites_nothing_and_a_new_version_only_its_pages(
    httpserver: HTTPServer,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    track_pages(
        httpserver,
        settings,
        tmp_path,
        [terms_html(), terms_html(extra=f"<p>9.1 {LICENCE}</p>")],
        source_id="licence-terms",
        platform="Licence",
    )
    track_pages(httpserver, settings, tmp_path, [regional(), regional(f"<p>{TRAIN}</p>")])
    site = build(tmp_path)
    before = mtimes(site)
    reads: list[str] = []
    for name in ("read_changeset", "read_version", "read_flags"):
        original = getattr(Archive, name)

        def counted(self, item, _original=original, _name=name):  # type: ignore[no-untyped-def]
            reads.append(_name)
            return _original(self, item)

        monkeypatch.setattr(Archive, name, counted)
    code, out, _ = cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK and out.startswith("0 pages written")
    assert mtimes(site) == before  # not one file rewritten
    assert reads == []  # nor one change or version read again
    # a new version of one source: its new pages, its timeline and the lists, nothing else
    # (a promise is good news: a second capture confirms it)
    track_pages(httpserver, settings, tmp_path, [regional(f"<p>{TRAIN}</p><p>{PROMISE}</p>")] * 2)
    assert cli(tmp_path, "feeds")[0] == ExitStatus.OK  # the new change gets its alert
    reads.clear()
    code, out, _ = cli(tmp_path, "site", "build")
    after = mtimes(site)
    # (the feeds are `clausewatch feeds`'s; the site build never writes them)
    changed = {p for p in after if before.get(p) != after[p] and not p.startswith("feeds/")}
    with Archive(settings.archive_dir) as archive:
        newest = archive.changes("regional-terms")[-1]
    assert {
        f"sources/regional-terms/changes/{newest.id}.html",
        f"sources/regional-terms/versions/{newest.new_version_id}.html",
        "sources/regional-terms/index.html",
        "index.html",
        "alerts.html",
    } <= changed
    allowed = ("sources/regional-terms/", "index.html", "alerts.html", "filters/", MANIFEST)
    assert all(p.startswith(allowed) for p in changed), sorted(changed)
    assert not any(p.startswith("sources/licence-terms/") for p in changed)
    old = {p for p in before if p.startswith("sources/regional-terms/") and "index" not in p}
    assert not old & changed  # the earlier change and version pages stay as they were
    assert reads.count("read_changeset") == 1 and reads.count("read_version") == 1
    assert out.startswith(f"{len(changed - {MANIFEST})} pages written")


def test_flags_that_say_the_same_are_one_sentence_with_each_quote_under_it() -> None:
    from monitor.alerts import summary
    from monitor.model import Category, Direction, Flag, Severity
    from monitor.publish.render import by_sentence, flag_views

    def flag(evidence: str, index: int, severity: Severity = Severity.MEDIUM) -> Flag:
        return Flag(
            Category.AI_TRAINING,
            severity,
            Direction.INTRODUCED,
            "ai_training.train-models",
            "The platform may train models.",
            evidence,
            ("train", "models"),
            index,
            f"Privacy > {index}. Training #1",
        )

    flags = (flag("We train models on posts.", 0), flag("We train our models.", 3, Severity.LOW))
    groups = by_sentence(flag_views(flags))
    assert [(s, len(v)) for s, _, v in groups] == [
        ("The platform may now use your content or data to train AI models.", 2)
    ]
    # the summary says it once, and names each rule once, at its highest severity
    assert summary(flags) == (
        "The platform may now use your content or data to train AI models."
        " Rules: ai_training.train-models (medium)."
    )
