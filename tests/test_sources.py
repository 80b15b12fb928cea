"""sources.py: every mistake in sources.yaml is reported with file, line and source id."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitor.cli.main import Environment, ExitStatus, main
from monitor.config import check_schedule, parse_interval
from monitor.errors import ConfigError
from monitor.model import FetchMode, Page, RangeSelector
from monitor.sources import load_sources, parse_sources, select_sources

GOOD = """\
sources:
  - id: spotify-terms
    platform: Spotify
    document_type: Terms of Use
    url: https://www.spotify.com/legal/end-user-agreement/
    select: main
    remove: [".cookie", "nav"]
    schedule: every 12h ~30m
    audiences: [musicians, podcasters]
  - id: zoom-terms
    platform: Zoom
    document_type: Terms of Service
    url: https://www.zoom.com/en/trust/terms/
    schedule: "0 6 * * mon"
    enabled: false
"""


def parse(text: str) -> list:
    return parse_sources(text, Path("sources.yaml"))


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


def test_good_file_gives_sources() -> None:
    spotify, zoom = parse(GOOD)
    assert spotify.id == "spotify-terms" and spotify.select == ("main",)
    assert spotify.remove == (".cookie", "nav") and spotify.audiences == ("musicians", "podcasters")
    assert spotify.origin == "sources.yaml:2"
    assert zoom.enabled is False and zoom.schedule == "0 6 * * mon"


def test_the_shipped_catalog_covers_the_platforms_creators_depend_on() -> None:
    sources = load_sources(Path(__file__).resolve().parent.parent / "sources.yaml")
    assert len(sources) >= 50 and len({s.id for s in sources}) == len(sources)
    platforms = {s.platform.split()[0] for s in sources}
    assert len(platforms) >= 30
    assert {
        "Spotify",
        "SoundCloud",
        "Bandcamp",
        "YouTube",
        "TikTok",
        "Medium",
        "Substack",
        "Patreon",
        "Instagram",
        "X",
        "Reddit",
        "Adobe",
        "Zoom",
        "WeTransfer",
    } <= platforms
    assert all(s.audiences for s in sources)
    audiences = {a for s in sources for a in s.audiences}
    assert {"musicians", "writers", "podcasters", "video", "visual-artists"} <= audiences
    types = {s.document_type for s in sources}
    assert {"Terms of Service", "Privacy Policy"} <= types and any("AI" in t for t in types)


# The services of Open Terms Archive's pga-declarations (Platform Governance Archive) at
# 005c571d (2026-07-02), the platforms creators live on; "Twitter" is X under its old name.
PGA_PLATFORMS = {
    *("BeReal", "Bluesky", "Facebook", "Instagram", "LINE", "LinkedIn", "Moltbook", "Parler"),
    *("Pinterest", "Quora", "Reddit", "Snapchat", "Spotify", "Telegram", "Threads", "TikTok"),
    *("Truth Social", "Tumblr", "Twitch", "Upscrolled", "WeChat", "WhatsApp", "X", "YouTube"),
}


def test_the_shipped_catalog_has_every_pga_platform_and_renders_what_ota_renders() -> None:
    root = Path(__file__).resolve().parent.parent
    sources = load_sources(root / "sources.yaml")
    platforms = {s.platform for s in sources}
    assert PGA_PLATFORMS - platforms == set()
    browser = {s.id for s in sources if s.fetch == FetchMode.BROWSER}
    assert {"instagram-terms", "tiktok-privacy", "threads-terms", "snapchat-terms"} <= browser
    (monetisation,) = [s for s in sources if s.id == "snapchat-monetisation"]
    assert [p.url for p in monetisation.pages] == [
        "https://www.snap.com/monetization-terms",
        "https://www.snap.com/terms/creator-stories",
    ]
    readme = " ".join((root / "README.md").read_text().split())
    ota = (root / "sources.yaml").read_text().count("# selectors: Open Terms Archive")
    assert (
        f"The shipped file lists {len(sources)} documents of {len(platforms)} platforms" in readme
    )
    assert f"{ota} of them carry the URL and selectors" in readme
    assert f"{len(browser)} are fetched with the browser" in readme


def test_duplicate_id_names_both_lines() -> None:
    text = GOOD + GOOD.split("sources:\n", 1)[1].split("  - id: zoom-terms")[0]
    error = error_of(text)
    assert error.where == "sources.yaml:16" and error.source_id == "spotify-terms"
    assert "duplicate id" in str(error) and "sources.yaml:2" in str(error)


def test_select_and_remove_mix_css_and_range_selectors() -> None:
    (spotify, _) = parse(
        GOOD.replace(
            "    select: main",
            "    select:\n      - main\n      - {startAfter: h1, endBefore: footer}",
        ).replace('remove: [".cookie", "nav"]', "remove: {startBefore: '#a', endAfter: '#b'}")
    )
    assert spotify.select == ("main", RangeSelector("h1", "footer", start_before=False))
    assert spotify.remove == (RangeSelector("#a", "#b", end_before=False),)
    assert str(spotify.remove[0]) == '{"startBefore": "#a", "endAfter": "#b"}'
    (spotify, _) = parse(
        GOOD.replace("select: main", "select: ['main > .x:first-of-type', 'a[href$=--es]']")
    )
    assert spotify.select == ("main > .x:first-of-type", "a[href$=--es]")


PAGES = """\
sources:
  - id: tiktok-guidelines
    platform: TikTok
    document_type: Community Guidelines
    select: main
    remove: header
    fetch: browser
    pages:
      - url: https://www.tiktok.com/community-guidelines
      - url: https://www.tiktok.com/community-guidelines/youth
        select: {startAfter: h1, endBefore: footer}
        fetch: http
"""


def test_pages_and_fetch_modes_with_shared_defaults() -> None:
    (source,) = parse(PAGES)
    assert source.url == "https://www.tiktok.com/community-guidelines"
    assert source.fetch == FetchMode.BROWSER
    assert source.pages == (
        Page(
            "https://www.tiktok.com/community-guidelines", ("main",), ("header",), FetchMode.BROWSER
        ),
        Page(
            "https://www.tiktok.com/community-guidelines/youth",
            (RangeSelector("h1", "footer", start_before=False),),
            ("header",),
            FetchMode.HTTP,
        ),
    )
    (zoom,) = parse(GOOD)[1:]
    assert zoom.fetch == FetchMode.AUTO and zoom.pages == ()


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (
            "    fetch: browser",
            "    fetch: chrome",
            7,
            "fetch must be one of http, browser, auto, not 'chrome'",
        ),
        ("        fetch: http", "        fetch: never", 12, "not 'never'"),
        ("        fetch: http", "        fecth: http", 12, "did you mean 'fetch'"),
        (
            "      - url: https://www.tiktok.com/community-guidelines\n",
            "      - select: p\n",
            9,
            "a page needs a 'url'",
        ),
        (
            "        select: {startAfter: h1, endBefore: footer}",
            "        select: 'h1['",
            11,
            "not valid CSS",
        ),
        (
            "    pages:\n",
            "    url: https://www.tiktok.com/\n    pages:\n",
            10,
            "either 'url' or 'pages'",
        ),
        (
            "      - url: https://www.tiktok.com/community-guidelines/youth",
            "      - url: /youth",
            10,
            "not an absolute",
        ),
    ],
)
def test_bad_pages_and_fetch_modes_are_reported_where_they_are(
    old: str, new: str, line: int, words: str
) -> None:
    assert old in PAGES
    error = error_of(PAGES.replace(old, new, 1))
    assert error.where == f"sources.yaml:{line}", str(error)
    assert error.source_id == "tiktok-guidelines" and words in str(error)


def test_clausewatch_sources_validates_and_prints_ranges_and_pages(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(PAGES)
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(stdout=out, stderr=err, env={}, cwd=tmp_path)
    assert main(["sources", "--json"], environment) == ExitStatus.OK
    (row,) = json.loads(out.getvalue())
    assert row["fetch"] == "browser" and row["pages"][1] == {
        "url": "https://www.tiktok.com/community-guidelines/youth",
        "select": [{"startAfter": "h1", "endBefore": "footer"}],
        "remove": ["header"],
        "fetch": "http",
    }
    (tmp_path / "sources.yaml").write_text(PAGES.replace("endBefore: footer", "endBefore: 'p['"))
    assert main(["sources"], environment) == ExitStatus.USAGE
    assert "sources.yaml:11" in err.getvalue() and "not valid CSS" in err.getvalue()


def test_unknown_key_suggests_the_nearest() -> None:
    error = error_of(GOOD.replace("    select: main", "    selector: main"))
    assert error.where == "sources.yaml:6" and error.source_id == "spotify-terms"
    assert "did you mean 'select'" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (
            "url: https://www.spotify.com/legal/end-user-agreement/",
            "url: ftp://spotify.com/x",
            5,
            "not an absolute http",
        ),
        (
            "url: https://www.spotify.com/legal/end-user-agreement/",
            "url: www.spotify.com/legal",
            5,
            "not an absolute http",
        ),
        ("select: main", "select: 'main >> p['", 6, "not valid CSS"),
        ('remove: [".cookie", "nav"]', 'remove: [".cookie", "nav::"]', 7, "not valid CSS"),
        ("schedule: every 12h ~30m", "schedule: every 5m", 8, "impolite"),
        ("schedule: every 12h ~30m", "schedule: sometimes", 8, "expected 'every"),
        (
            "audiences: [musicians, podcasters]",
            "audiences: [musician]",
            9,
            "did you mean 'musicians'",
        ),
        ("id: spotify-terms", "id: Spotify_Terms", 2, "lowercase slug"),
        ("select: main", "select: {startBefore: h1}", 6, "a range needs an end (endBefore"),
        ("select: main", "select: {endAfter: h1}", 6, "a range needs a start (startBefore"),
        ("select: main", "select: {startBefore: h1, endBefore: ''}", 6, "must be a CSS"),
        ("select: main", "select: [{startBefore: 'h1[', endBefore: p}]", 6, "not valid CSS"),
        (
            "select: main",
            "select: {startBefore: h1, startAfter: h2, endBefore: p}",
            6,
            "one start and one end",
        ),
        ("select: main", "select: {startBefore: h1, endBfore: p}", 6, "unknown range key"),
        ("select: main", "select: [main, 3]", 6, "a CSS selector, a range"),
    ],
)
def test_bad_values_are_reported_where_they_are(old: str, new: str, line: int, words: str) -> None:
    error = error_of(GOOD.replace(old, new, 1))
    assert error.where == f"sources.yaml:{line}", str(error)
    assert words in str(error)


def test_missing_required_key() -> None:
    error = error_of(GOOD.replace("    platform: Spotify\n", ""))
    assert "missing or empty 'platform'" in str(error) and error.source_id == "spotify-terms"


def test_bad_yaml_has_a_line_number() -> None:
    error = error_of("sources:\n  - id: a\n    url: [unclosed\n")
    assert error.where.startswith("sources.yaml:") and "not valid YAML" in str(error)


def test_enabled_must_be_boolean() -> None:
    error = error_of(GOOD.replace("    enabled: false", "    enabled: maybe"))
    assert error.where == "sources.yaml:15" and "true or false" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "nope.yaml")


def test_empty_file_means_no_sources() -> None:
    assert parse("") == [] and parse("sources: []\n") == []


def test_select_sources_by_id_and_unknown_ids() -> None:
    sources = parse(GOOD)
    assert [s.id for s in select_sources(sources, [], Path("s.yaml"))] == [
        "spotify-terms"
    ]  # zoom disabled
    assert [s.id for s in select_sources(sources, ["zoom-terms"], Path("s.yaml"))] == ["zoom-terms"]
    with pytest.raises(ConfigError, match="did you mean 'zoom-terms'"):
        select_sources(sources, ["zoom-term"], Path("s.yaml"))


def test_schedules() -> None:
    assert parse_interval("every 6h ~30m") == (21600, 1800)
    assert parse_interval("0 6 * * mon") is None
    assert check_schedule("every 1d") is None
    assert check_schedule("every 1h ~2h") == "jitter must be smaller than the interval"
