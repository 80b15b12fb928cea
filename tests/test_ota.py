"""ota.py: Open Terms Archive declarations into sources, and versions repositories (built here
in OTA's layout, with git) into the archive."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from monitor.archive import Archive
from monitor.cli.main import ExitStatus
from monitor.config import Settings
from monitor.model import FetchMode, Page, RangeSelector
from monitor.sources import MAX_ID_CHARS, parse_sources
from tests.conftest import CORPUS, write_sources
from tests.conftest import run_cli as cli

HISTORIES = {h["id"]: h for h in yaml.safe_load((CORPUS / "cases.yaml").read_text())["histories"]}


ZOOM = {
    "name": "Zoom",
    "documents": {
        "Terms of Service": {
            "fetch": "https://www.zoom.com/en/trust/terms/",
            "select": ["main"],
            "remove": [".cookie", "nav"],
        },
        "Privacy Policy": {
            "select": "article",
            "executeClientScripts": True,
            "combine": [
                {"fetch": "https://a.example/1"},
                {
                    "fetch": "https://a.example/2",
                    "select": [{"startAfter": "h1", "endBefore": "#x"}],
                },
                {"fetch": "https://a.example/3", "remove": "aside", "select": "article"},
                {"fetch": "https://a.example/4", "executeClientScripts": False},
            ],
        },
        "Community Standards": {
            "fetch": "https://www.zoom.com/x",
            "select": [{"startBefore": "#a", "endBefore": "#b"}, ".more"],
            "remove": {"startAfter": "#c", "endAfter": "#d"},
        },
        "Acceptable Use Policy": {
            "fetch": "https://www.zoom.com/aup",
            "select": "main",
            "filter": ["removeTracking"],
            "executeClientScripts": True,
        },
        "Trackers Policy": {
            "fetch": "https://www.zoom.com/t",
            "select": "#legal .box:nth-of-type(2)",  # beyond cssselect: of-type on any element
            "remove": ["main > .note:first-of-type", "a[href$=--espanol]"],
        },
        "Imprint": {"fetch": "https://www.zoom.com/i", "select": "p::before"},
        "Developer Terms": {"fetch": "https://www.zoom.com/d", "select": {"startBefore": "h1"}},
        "Brand Guidelines": {"fetch": "ftp://zoom.com/b"},
        "Seller Terms": {"combine": [{"fetch": "https://a.example/4"}, {"select": "main"}]},
    },
}


def test_import_ota_converts_ranges_combine_and_scripts_and_names_what_it_cannot(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "declarations"
    folder.mkdir()
    (folder / "Zoom.json").write_text(json.dumps(ZOOM))
    (folder / "Zoom.history.json").write_text("{}")
    (folder / "Broken.json").write_text("{not json")
    code, out, err = cli(tmp_path, "import-ota", str(folder), "--audiences", "podcasters")
    assert code == ExitStatus.OK
    sources = {s.id: s for s in parse_sources(out, Path("imported.yaml"))}
    assert list(sources) == [
        "zoom-terms-of-service",
        "zoom-privacy-policy",
        "zoom-community-standards",
        "zoom-acceptable-use-policy",
        "zoom-trackers-policy",
    ]
    terms = sources["zoom-terms-of-service"]
    assert (terms.select, terms.remove, terms.audiences, terms.fetch, terms.pages) == (
        ("main",),
        (".cookie", "nav"),
        ("podcasters",),
        FetchMode.AUTO,
        (),
    )
    # combine: one source of pages, in order, the document's keys their shared defaults
    privacy = sources["zoom-privacy-policy"]
    assert privacy.url == "https://a.example/1" and privacy.fetch == FetchMode.BROWSER
    assert privacy.pages == (
        Page("https://a.example/1", ("article",), (), FetchMode.BROWSER),
        Page(
            "https://a.example/2",
            (RangeSelector("h1", "#x", start_before=False),),
            (),
            FetchMode.BROWSER,
        ),
        Page("https://a.example/3", ("article",), ("aside",), FetchMode.BROWSER),
        Page("https://a.example/4", ("article",), (), FetchMode.AUTO),
    )
    # a page says only what differs from the document's keys
    entry = next(e for e in yaml.safe_load(out)["sources"] if e["id"] == "zoom-privacy-policy")
    assert entry["pages"][2:] == [
        {"url": "https://a.example/3", "remove": ["aside"]},
        {"url": "https://a.example/4", "fetch": "auto"},
    ]
    standards = sources["zoom-community-standards"]
    assert standards.select == (RangeSelector("#a", "#b"), ".more")
    assert standards.remove == (RangeSelector("#c", "#d", start_before=False, end_before=False),)
    assert sources["zoom-acceptable-use-policy"].fetch == FetchMode.BROWSER
    trackers = sources["zoom-trackers-policy"]
    assert trackers.select == ("#legal .box:nth-of-type(2)",)
    assert trackers.remove == ("main > .note:first-of-type", "a[href$=--espanol]")
    assert (
        "Acceptable Use Policy: OTA filters (removeTracking) are JavaScript and not converted"
        in err
    )
    for why in (
        """Imprint: select "p::before" is not CSS that Clausewatch can run""",
        """Developer Terms: select {"startBefore": "h1"} is not a range selector""",
        """Brand Guidelines: 'fetch' "ftp://zoom.com/b" is not an http(s) URL""",
        "Seller Terms (page 2): no 'fetch' URL",
        "Broken.json: cannot read",
    ):
        assert f"not converted: {folder}" in err and why in err, why
    assert (
        "9 documents: 5 converted (2 fetched with the browser), 4 not converted;"
        " 1 converted without their OTA JavaScript filters; 1 files not read"
    ) in err
    code, out, _ = cli(
        tmp_path, "import-ota", str(folder / "Zoom.json"), "--out", "new-sources.yaml"
    )
    assert code == ExitStatus.OK and "5 sources written" in out
    written = parse_sources((tmp_path / "new-sources.yaml").read_text(), Path("x"))
    assert [(s.platform, s.document_type) for s in written] == [
        ("Zoom", "Terms of Service"),
        ("Zoom", "Privacy Policy"),
        ("Zoom", "Community Standards"),
        ("Zoom", "Acceptable Use Policy"),
        ("Zoom", "Trackers Policy"),
    ], written


def test_import_ota_of_two_collections_keeps_the_first_of_each_document(tmp_path: Path) -> None:
    for folder, select in (("pga", "main"), ("contrib", "article")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "Zoom.json").write_text(
            json.dumps(
                {
                    "name": "Zoom",
                    "terms": {
                        "Terms of Service": {"fetch": "https://z.example/t", "select": select}
                    },
                }
            )
        )
    (tmp_path / "contrib" / "Deezer.json").write_text(
        json.dumps(
            {"name": "Deezer", "terms": {"Terms of Service": {"fetch": "https://d.example/t"}}}
        )
    )
    code, out, err = cli(tmp_path, "import-ota", "pga", "contrib")
    assert code == ExitStatus.OK, err
    sources = parse_sources(out, Path("imported.yaml"))
    assert [(s.id, s.select) for s in sources] == [
        ("zoom-terms-of-service", ("main",)),
        ("deezer-terms-of-service", ()),
    ]
    assert "contrib/Zoom.json: Zoom / Terms of Service: left out, already converted from" in err
    assert "3 documents: 2 converted" in err and "1 left out as converted from an earlier" in err


def test_long_names_give_ids_sources_yaml_takes(tmp_path: Path) -> None:
    long_name = "The Very Long Name of a Platform " * 3
    (tmp_path / "Long.json").write_text(
        json.dumps(
            {
                "name": long_name,
                "terms": {
                    "Terms of Service": {"fetch": "https://l.example/t"},
                    "Terms of Services": {"fetch": "https://l.example/s"},
                },
            }
        )
    )
    code, out, err = cli(tmp_path, "import-ota", "Long.json")
    assert code == ExitStatus.OK, err
    ids = [s.id for s in parse_sources(out, Path("imported.yaml"))]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(50 < len(i) <= MAX_ID_CHARS for i in ids)
    assert all(i.startswith("the-very-long-name-of-a-platform-the-very-long") for i in ids)
    repo = make_repo(
        tmp_path,
        f"{long_name.strip()}/Terms of Service.md",
        [(BASE, "2024-01-01T10:00:00+00:00", "Start")],
    )
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK and "1 documents, 1 versions imported" in out
    with Archive(tmp_path / "archive") as archive:
        assert archive.source_ids() == [ids[0]]


def git(repo: Path, *args: str, when: str = "2024-01-01T00:00:00+00:00") -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=OTA", "-c", "user.email=ota@example.org", *args],
        check=True,
        capture_output=True,
        env=env,
    )


def make_repo(tmp_path: Path, path: str, versions: list[tuple[str, str, str]]) -> Path:
    """A git repository in OTA's versions layout: (markdown, ISO date, commit message) per version."""
    repo = tmp_path / "versions"
    repo.mkdir(exist_ok=True)
    git(repo, "init", "-q")
    for text, when, message in versions:
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", message, when=when)
    return repo


# over the not_terms threshold (200 characters of clause text), as a real capture is
BASE = (
    "# Example Terms\n\n## 1. The Service\n\nThese terms govern your use of the Example service"
    " and every feature, app and website we offer under it.\n\n## 2. Your Account\n\nYou are"
    " responsible for your account and for everything done with it.\n\n## 5. Your Content\n\n"
    "You keep ownership of everything you upload to the service.\n"
)


# The first version, then AI training added
FIRST_TWO = [
    (BASE, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms of Service"),
    (
        BASE + "\nWe may use your content to train our AI models.\n",
        "2024-03-01T10:00:00+00:00",
        "Record new changes of Example Terms of Service",
    ),
]


def test_import_history_diffs_flags_and_alerts_and_imports_once(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            *FIRST_TWO,
            (
                BASE + "\nWe may use your content to train our AI models.\n\nSee also our blog.\n",
                "2024-04-01T10:00:00+00:00",
                "Apply technical or declaration upgrade on Example Terms of Service",
            ),
            (
                BASE
                + "\nWe may use your content to train our AI models.\n\nSee also our blog.\n\nWe will never sell your songs to AI companies.\n",
                "2024-05-01T10:00:00+00:00",
                "Record new changes of Example Terms of Service",
            ),
        ],
    )
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, out
    # the promise added by the last commit is good news: it waits for a later capture
    assert "1 documents, 4 versions imported (1 technical), 0 skipped" in out
    assert "1 alerts" in out and "1 held until a later capture confirms" in " ".join(out.split())
    with Archive(tmp_path / "archive") as archive:
        versions = archive.versions("example-terms-of-service")
        assert [v.recorded_at.date().isoformat() for v in versions] == [
            "2024-01-01",
            "2024-03-01",
            "2024-04-01",
            "2024-05-01",
        ]
        assert [v.technical for v in versions] == [False, False, True, False]
        alerts = archive.alerts()
        assert [a.title for a in alerts] == [
            "Example Terms of Service: AI-training permission added",
        ]
        assert archive.verify().ok
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert "0 versions imported (0 technical), 4 skipped" in out and "0 alerts" in out
    assert "1 held" in " ".join(out.split())  # still waiting: no capture since


def test_a_technical_upgrade_that_mends_failed_captures_is_compared_as_a_capture(
    tmp_path: Path,
) -> None:
    # the page stops extracting (a capture too short to be terms), the platform adds AI
    # training meanwhile, and the declaration fix that mends the extraction is what shows it
    mended = BASE + "\nWe may use your content to train our AI models.\n"
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            (BASE, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms of Service"),
            ("# Example", "2024-02-01T10:00:00+00:00", "Update Example Terms of Service"),
            (mended, "2024-04-01T10:00:00+00:00", "Apply technical or declaration upgrade on X"),
            (
                mended + "\nSee also our blog.\n",
                "2024-05-01T10:00:00+00:00",
                "Apply technical or declaration upgrade on X",
            ),
        ],
    )
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, out
    assert "3 versions imported (1 technical)" in out
    with Archive(tmp_path / "archive") as archive:
        versions = archive.versions("example-terms-of-service")
        assert [v.technical for v in versions] == [False, False, True]
        assert [a.title for a in archive.alerts()] == [
            "Example Terms of Service: AI-training permission added",
        ]


def _statuses(tmp_path: Path) -> list[str]:
    """`clausewatch history --json`: each change's alert title or why it has none."""
    code, out, _ = cli(tmp_path, "history", "example-terms-of-service", "--json")
    assert code == ExitStatus.OK
    return [r["alert"] or r["not_alerted"] or "" for r in json.loads(out)["versions"][1:]]


def test_import_history_does_not_alert_on_a_change_the_next_capture_undoes(
    tmp_path: Path,
) -> None:
    training = BASE + "\nWe may use your content to train our AI models.\n"
    record = "Record new changes of Example Terms of Service"
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            (BASE, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms of Service"),
            (training, "2024-03-01T10:00:00+00:00", record),  # a flip: undone the next day
            (BASE, "2024-03-02T10:00:00+00:00", record),  # its return leg
            (training, "2024-05-01T10:00:00+00:00", record),  # stays 61 days: real
            (BASE, "2024-07-01T10:00:00+00:00", record),  # removed after 61 days: real
            (training, "2024-08-15T10:00:00+00:00", record),  # back after 45 days: real
            (BASE, "2024-09-16T10:00:00+00:00", record),  # removed again: waits for a capture
        ],
    )
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, out
    assert "7 versions imported" in out and "2 changes not alerted" in out
    assert "1 held" in " ".join(out.split())
    with Archive(tmp_path / "archive") as archive:
        alerted = sorted(a.recorded_at.date().isoformat() for a in archive.alerts())
        assert alerted == ["2024-05-01", "2024-07-01", "2024-08-15"]
        changes = archive.changes("example-terms-of-service")
        # every change keeps its flags: what is alerted is decided after storing
        assert all(archive.read_flags(c) != () for c in changes)
    statuses = _statuses(tmp_path)
    assert statuses[0] == (
        "not alerted: the next capture (2024-03-02, 1 day later) restored the earlier text"
    )
    assert statuses[1] == (
        "not alerted: it restores the text of 2024-01-01 after a capture that stood 1 day"
    )
    assert statuses[-1].startswith("held:")
    code, out, _ = cli(tmp_path, "import-history", str(repo))  # nothing new: nothing changes
    assert "0 versions imported" in out and "not alerted" not in out


def test_import_history_does_not_alert_on_a_partial_capture_or_its_restoration(
    tmp_path: Path,
) -> None:
    full = (
        BASE
        + "\nWe will never use your content to train AI models.\n"
        + "".join(
            f"\n## {n}. Section {n}\n\nThe service may change its features from time to time"
            " and will tell you about changes that matter to your account.\n"
            for n in range(6, 12)
        )
    )
    record = "Record new changes of Example Terms of Service"
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            (full, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms of Service"),
            (BASE, "2024-02-01T10:00:00+00:00", record),  # a partial capture
            # restored the next day, with one sentence more (not a flip back to the same text)
            (full + "\nContact us at any time.\n", "2024-02-02T10:00:00+00:00", record),
            (BASE, "2024-06-01T10:00:00+00:00", record),  # shortened, and it stays...
            (BASE + "\nContact us.\n", "2024-06-02T10:00:00+00:00", record),  # ...confirmed
        ],
    )
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, out
    assert "5 versions imported" in out and "2 changes not alerted" in out
    with Archive(tmp_path / "archive") as archive:
        assert [a.recorded_at.date().isoformat() for a in archive.alerts()] == ["2024-06-01"]
        changes = archive.changes("example-terms-of-service")
        notes = [archive.read_changeset(c).notes for c in changes]
        assert notes[0][0].startswith("Suspect capture: it lacks 77%") and notes[2][0].startswith(
            "Suspect capture"
        )
        assert notes[1] == ()
    statuses = _statuses(tmp_path)
    assert statuses[0] == "not alerted: the next capture (2024-02-02) undid it"
    assert statuses[1].startswith("not alerted: seen before: the document had this text until")
    code, out, _ = cli(tmp_path, "history", "example-terms-of-service")
    assert "(suspect capture)" in out and "not alerted: the next" in out


def test_import_history_reads_names_outside_ascii(tmp_path: Path) -> None:
    repo = tmp_path / "versions"
    repo.mkdir()
    git(repo, "init", "-q")
    names = ["Société/Conditions d'utilisation.md", "微博/服务条款.md", "Bandcamp/Terms [EU].md"]
    for name in names:
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_text(BASE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start tracking")
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files"], capture_output=True, text=True, check=True
    ).stdout
    assert '"Soci\\303\\251t\\303\\251/' in listed  # how git shows them without -z
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, out
    assert "3 documents, 3 versions imported" in out
    with Archive(tmp_path / "archive") as archive:
        assert sorted(archive.source_ids()) == [
            "bandcamp-terms-eu",
            "societe-conditions-d-utilisation",
            "xn-ql8a2vp80bw3ipoak7t",
        ]


@pytest.mark.parametrize("name", ["___/Terms of Service.md", "Example/---.md", "Ex/¿?.md"])
def test_import_history_refuses_a_name_that_gives_no_id(tmp_path: Path, name: str) -> None:
    repo = make_repo(tmp_path, name, [(BASE, "2024-01-01T10:00:00+00:00", "Start tracking")])
    (repo / "Example").mkdir(exist_ok=True)
    (repo / "Example" / "Terms.md").write_text(BASE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start tracking Example")
    code, _, err = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.USAGE
    assert f"{repo}/{name}" in err and "no letter or digit" in err
    with Archive(tmp_path / "archive") as archive:
        assert archive.source_ids() == []  # refused before anything was imported


def test_import_history_refuses_two_names_that_give_one_id(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path, "Société/Terms.md", [(BASE, "2024-01-01T10:00:00+00:00", "Start tracking")]
    )
    (repo / "Societe").mkdir()
    (repo / "Societe" / "Terms.md").write_text(BASE + "\nMore.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start tracking Societe")
    code, _, err = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.USAGE
    assert "'Societe/Terms.md' and 'Société/Terms.md' both give the source id" in err


def test_import_history_source_is_not_refused_for_two_other_names_of_one_id(
    tmp_path: Path,
) -> None:
    # OTA's contrib-versions holds "TP-Link/Privacy Policy.md" and "Tp-link/Privacy
    # Policy.md": `--source` of any other document must still import it
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [(BASE, "2024-01-01T10:00:00+00:00", "Start tracking")],
    )
    for name in ("TP-Link", "Tp-link"):
        (repo / name).mkdir()
        (repo / name / "Privacy Policy.md").write_text(BASE + f"\n{name}.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start tracking TP-Link", when="2024-02-01T10:00:00+00:00")
    code, out, err = cli(
        tmp_path, "import-history", str(repo), "--source", "example-terms-of-service"
    )
    assert code == ExitStatus.OK, err
    assert "1 documents, 1 versions imported" in out
    code, _, err = cli(tmp_path, "import-history", str(repo), "--source", "tp-link-privacy-policy")
    assert code == ExitStatus.USAGE
    assert "both give the source id 'tp-link-privacy-policy'" in err
    with Archive(tmp_path / "archive") as archive:
        assert archive.source_ids() == ["example-terms-of-service"]


def corpus_repo(tmp_path: Path, history_id: str) -> Path:
    history = HISTORIES[history_id]
    versions = [
        ((CORPUS / v["file"]).read_text(), v["date"], v["ota_commit_message"])
        for v in history["versions"]
    ]
    tmp_path.mkdir(parents=True, exist_ok=True)
    return make_repo(tmp_path, history["path"], versions)


def test_real_histories_alert_on_the_ai_licence_and_never_on_noise(tmp_path: Path) -> None:
    reddit = corpus_repo(tmp_path / "reddit", "reddit-tos-2023-2025")
    noise = corpus_repo(tmp_path / "zoom", "zoom-tos-2024-11-noise")
    assert cli(tmp_path, "import-history", str(reddit))[0] == ExitStatus.OK
    with Archive(tmp_path / "archive") as archive:
        threats = [a for a in archive.alerts() if a.threat]
    assert any(
        a.recorded_at.date().isoformat() == "2024-08-16"
        and "ai_training" in {c.value for c in a.categories}
        for a in threats
    )
    code, _out, _ = cli(tmp_path, "--archive", "archive2", "import-history", str(noise))
    assert code == ExitStatus.OK
    with Archive(tmp_path / "archive2") as archive:
        assert archive.alerts() == []
        (source_id,) = archive.source_ids()
        assert len(archive.versions(source_id)) >= 1


def test_tracking_a_source_after_its_history_was_imported_adds_no_version(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """The imported snapshots are Markdown: the next `track` re-extracts the last one with the
    Markdown reader (it once read it as HTML: a one-clause technical version and a change)."""
    text = BASE + "\n## 6. Licence\n\nYou grant us a licence to host and show your content.\n"
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [(text, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms of Service")],
    )
    assert cli(tmp_path, "import-history", str(repo))[0] == ExitStatus.OK
    httpserver.expect_request("/terms").respond_with_data(text, content_type="text/markdown")
    entry = {
        "id": "example-terms-of-service",
        "platform": "Example",
        "document_type": "Terms of Service",
        "url": httpserver.url_for("/terms"),
        "ignore_robots": True,
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [entry]}))
    (tmp_path / "clausewatch.toml").write_text("min_clause_chars = 20\n[fetch]\nhost_delay = 0\n")
    code, out, err = cli(tmp_path, "track")
    assert code == ExitStatus.OK, out + err
    with Archive(tmp_path / "archive") as archive:
        versions = archive.versions("example-terms-of-service")
        assert [v.technical for v in versions] == [False], versions
        assert archive.alerts() == []
        document = archive.read_version(versions[-1])
    assert [c.heading_path[-1] for c in document.clauses] == [
        "1. The Service",
        "2. Your Account",
        "5. Your Content",
        "6. Licence",
    ]


def test_import_history_reads_a_bare_clone_and_refuses_what_it_cannot_import(
    tmp_path: Path,
) -> None:
    from tests.test_cli import run

    repo = make_repo(tmp_path, "Example/Terms of Service.md", FIRST_TWO)
    bare = tmp_path / "versions.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    code, out, err = run(tmp_path, "import-history", str(bare))
    assert code == ExitStatus.OK, out + err
    assert "1 documents, 2 versions imported" in out and "1 alerts" in out
    with Archive(tmp_path / "archive") as archive:
        assert len(archive.versions("example-terms-of-service")) == 2

    # an unknown --source is an error that suggests the id, and imports nothing
    code, out, err = run(
        tmp_path, "--archive", "other", "import-history", str(bare), "--source", "example-terms"
    )
    assert code == ExitStatus.USAGE and "no such document" in err, out + err
    assert "example-terms-of-service" in err and "imported" not in out
    # a repository with no commits, and one with no versions, say what to do
    empty = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(empty))
    code, _, err = run(tmp_path, "--archive", "other", "import-history", str(empty))
    assert code == ExitStatus.USAGE and "no commits yet" in err and "git clone" in err
    (tmp_path / "x").mkdir()
    other = make_repo(tmp_path / "x", "README.txt", [("hi", "2024-01-01T10:00:00+00:00", "x")])
    code, _, err = run(tmp_path, "--archive", "other", "import-history", str(other))
    assert code == ExitStatus.USAGE and "versions repository" in err


# --- which source each document goes to: sources.yaml, --declarations, --map, --only --------


def three_document_repo(tmp_path: Path) -> Path:
    """Example/Terms of Service.md, Other/Privacy Policy.md and Third/Terms.md, each with
    the two versions of FIRST_TWO (the second adds AI training)."""
    repo = tmp_path / "versions"
    repo.mkdir()
    git(repo, "init", "-q")
    for text, when, message in FIRST_TWO:
        for path in ("Example/Terms of Service.md", "Other/Privacy Policy.md", "Third/Terms.md"):
            (repo / path).parent.mkdir(exist_ok=True)
            (repo / path).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message, when=when)
    return repo


SOURCES = [
    {  # OTA's Example Terms of Service by its URL: another platform name, another type name
        "id": "example-tos",
        "platform": "Example Inc",
        "document_type": "Terms of Use",
        "url": "https://example.org/terms/",
        "audiences": ["musicians"],
    },
    {  # OTA's Other Privacy Policy by its platform and document type
        "id": "other-privacy",
        "platform": "Other",
        "document_type": "Privacy Policy",
        "url": "https://other.example/privacy",
        "audiences": ["writers"],
    },
    {"id": "third-legal", "platform": "Tri", "document_type": "Legal", "url": "https://3.example/"},
]


def declarations(tmp_path: Path) -> Path:
    folder = tmp_path / "declarations"
    folder.mkdir()
    (folder / "Example.json").write_text(
        json.dumps(
            {
                "name": "Example",
                "terms": {"Terms of Service": {"fetch": "https://www.example.org/terms"}},
            }
        )
    )
    return folder


def test_import_history_maps_documents_to_sources_yaml_by_url_or_platform_and_type(
    tmp_path: Path,
) -> None:
    repo = three_document_repo(tmp_path)
    write_sources(tmp_path / "sources.yaml", SOURCES)
    # without the declarations, Example's URL is unknown: only Other is matched
    code, out, err = cli(tmp_path, "--archive", "plain", "import-history", str(repo))
    assert code == ExitStatus.OK, err
    with Archive(tmp_path / "plain") as archive:
        assert archive.source_ids() == [
            "example-terms-of-service",
            "other-privacy",
            "third-terms",
        ]
    code, out, err = cli(
        tmp_path, "import-history", str(repo), "--declarations", str(declarations(tmp_path))
    )
    assert code == ExitStatus.OK, err
    created = [line for line in out.splitlines() if "created" in line]
    assert len(created) == 1 and created[0].startswith("Third/Terms.md: id third-terms created")
    assert (
        "2 documents go to sources of sources.yaml: 1 by platform and document type, 1 by URL"
        in " ".join(out.split())
    )
    with Archive(tmp_path / "archive") as archive:
        assert archive.source_ids() == ["example-tos", "other-privacy", "third-terms"]
        example = archive.source("example-tos")
        assert example is not None and example.audiences == ("musicians",)
        assert example.title == "Example Inc Terms of Use"  # sources.yaml's title, and URL
        assert example.url == "https://example.org/terms/"
        assert [v.number for v in archive.versions("example-tos")] == [1, 2]
        assert {a.source_id for a in archive.alerts() if a.threat} == {
            "example-tos",
            "other-privacy",
            "third-terms",
        }
    # importing again adds nothing, to the same ids
    code, out, _ = cli(
        tmp_path, "import-history", str(repo), "--declarations", str(tmp_path / "declarations")
    )
    assert code == ExitStatus.OK and "0 versions imported" in out
    # --source takes the id a document goes to (or its own)
    code, out, err = cli(
        tmp_path,
        "--archive",
        "one",
        "import-history",
        str(repo),
        "--declarations",
        str(tmp_path / "declarations"),
        "--source",
        "example-tos",
        "--source",
        "other-privacy-policy",
    )
    assert code == ExitStatus.OK, err
    with Archive(tmp_path / "one") as archive:
        assert archive.source_ids() == ["example-tos", "other-privacy"]


def test_import_history_map_overrides_and_a_bad_entry_names_file_and_line(tmp_path: Path) -> None:
    repo = three_document_repo(tmp_path)
    write_sources(tmp_path / "sources.yaml", SOURCES)
    bad = {
        "Third/Terms.md: third-legl\n": (
            "map.yaml:1",
            "'third-legl'",
            "did you mean 'third-legal'",
        ),
        "Other/Privacy Policy.md: other-privacy\nThird/Term.md: third-legal\n": (
            "map.yaml:2",
            "no document 'Third/Term.md'",
            "did you mean 'Third/Terms.md'",
        ),
        # two documents to one source: refused, as two names of one id are
        "Third/Terms.md: other-privacy\n": ("both give the source id 'other-privacy'",),
    }
    for text, expected in bad.items():
        (tmp_path / "map.yaml").write_text(text)
        code, _, err = cli(tmp_path, "import-history", str(repo), "--map", "map.yaml")
        assert code == ExitStatus.USAGE and all(e in err for e in expected), err
        with Archive(tmp_path / "archive") as archive:
            assert archive.source_ids() == []  # nothing imported
    (tmp_path / "map.yaml").write_text("# OTA path: source id\nThird/Terms.md: third-legal\n")
    code, out, err = cli(tmp_path, "import-history", str(repo), "--map", "map.yaml")
    assert code == ExitStatus.OK, err
    assert "Third/Terms.md: id" not in out and "1 by --map" in out
    with Archive(tmp_path / "archive") as archive:
        assert "third-legal" in archive.source_ids() and "third-terms" not in archive.source_ids()
        assert len(archive.versions("third-legal")) == 2


def test_import_history_only_imports_the_listed_paths(tmp_path: Path) -> None:
    repo = three_document_repo(tmp_path)
    (tmp_path / "only.txt").write_text(
        "# the documents to import\n\nOther/Privacy Policy.md\nThird/Term.md  # a typo\n"
    )
    code, _, err = cli(tmp_path, "import-history", str(repo), "--only", "only.txt")
    assert code == ExitStatus.USAGE
    assert "only.txt:4" in err and "did you mean 'Third/Terms.md'" in err
    with Archive(tmp_path / "archive") as archive:
        assert archive.source_ids() == []
    (tmp_path / "only.txt").write_text(
        "# the documents to import\n\nOther/Privacy Policy.md  # this one\n"
    )
    code, out, err = cli(tmp_path, "import-history", str(repo), "--only", "only.txt")
    assert code == ExitStatus.OK and "1 documents, 2 versions imported" in out, err
    with Archive(tmp_path / "archive") as archive:
        assert archive.source_ids() == ["other-privacy-policy"]


def test_imported_and_tracked_versions_of_a_source_are_one_history_in_date_order(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from monitor.model import Clause, Document, Snapshot, Source

    repo = make_repo(
        tmp_path,
        "Other/Privacy Policy.md",
        [
            *FIRST_TWO,  # 2024-01-01 and 2024-03-01
            (BASE + "\nWe may sell it.\n", "2024-04-01T10:00:00+00:00", "Record new changes"),
        ],
    )
    write_sources(tmp_path / "sources.yaml", SOURCES)
    tracked = Source(**{k: v for k, v in SOURCES[1].items() if k != "audiences"})
    with Archive(tmp_path / "archive") as archive:  # tracked since 2024-02-15
        archive.sync_sources([tracked], datetime(2024, 2, 15, tzinfo=UTC))
        text = "You keep ownership of everything you upload to the service."
        archive.store(
            Snapshot(
                "other-privacy",
                datetime(2024, 2, 15, tzinfo=UTC),
                "https://other.example/privacy",
                200,
                f"<p>{text}</p>".encode(),
                "text/html",
                "utf-8",
            ),
            Document("Other Privacy Policy", (Clause("5", ("5. Your Content",), None, text),)),
        )
    code, out, err = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK, err
    assert (
        "not imported: 1 versions of Other/Privacy Policy.md (2024-01-01 to 2024-01-01) are"
        " older than the latest archived version of other-privacy (2024-02-15 00:00)"
    ) in " ".join(out.split())
    code, out, _ = cli(tmp_path, "history", "other-privacy", "--json")
    versions = json.loads(out)["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["recorded_at"][:10] for v in versions] == ["2024-02-15", "2024-03-01", "2024-04-01"]
    code, out, _ = cli(tmp_path, "show", "other-privacy", "3")
    assert code == ExitStatus.OK and "We may sell it." in out


def test_import_history_reads_git_with_a_few_processes_not_one_per_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.importers.ota import import_history
    from monitor.rules.files import load_rules

    repo = tmp_path / "versions"
    repo.mkdir()
    git(repo, "init", "-q")
    paths = ("Example/Terms of Service.md", "Other Ö/Privacy Policy.md")
    for number in range(1, 11):
        for path in paths:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(f"{BASE}\n## {number}. Section\n\nRule number {number}.\n")
        git(repo, "add", "-A")
        git(
            repo,
            "commit",
            "-q",
            "-m",
            "Record new changes",
            when=f"2024-01-{number:02d}T10:00:00+00:00",
        )
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    class CountingPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: list[str], *rest: object, **kwargs: object) -> None:
            started.append(list(args))
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", CountingPopen)
    with Archive(tmp_path / "archive") as archive, archive.lock():
        report = import_history(repo, archive, load_rules())
        assert report.versions == 20
        for sid in ("example-terms-of-service", "other-o-privacy-policy"):
            versions = archive.versions(sid)
            assert len(versions) == 10
            last = archive.read_version(versions[-1]).text
            assert "Rule number 10." in last and "Rule number 9." not in last
    # rev-parse, ls-tree, one log for both documents and one cat-file --batch (was 2 + a log
    # per document + a `git show` per commit: 24)
    assert len(started) <= 4, [a[3:5] for a in started]


def test_import_history_commits_in_batches_not_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.archive.files as files
    import monitor.archive.store as store

    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            (
                f"{BASE}\n## {n}. Section\n\nRule number {n}.\n",
                f"2024-01-{n:02d}T10:00:00+00:00",
                "Record",
            )
            for n in range(1, 16)
        ],
    )
    syncs: list[str] = []
    real_fsync, real_syncfs = os.fsync, files.sync_filesystem
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        store, "sync_filesystem", lambda path: (syncs.append("syncfs"), real_syncfs(path))[1]
    )
    code, out, _ = cli(tmp_path, "import-history", str(repo))
    assert code == ExitStatus.OK and "15 versions imported" in out, out
    # was 3 files x 2 fsyncs per version and one per alert; now a syncfs every 2 s at most
    assert len(syncs) <= 6, syncs
    with Archive(tmp_path / "archive") as archive:  # and all of it is there, committed
        assert len(archive.versions("example-terms-of-service")) == 15
        assert len(archive.changes("example-terms-of-service")) == 14
        assert archive.verify().ok


def test_import_history_matches_each_clause_text_once_across_back_and_forth_captures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.diff import diff
    from monitor.flag import flag_changes
    from monitor.importers.ota import import_history
    from monitor.rules.files import load_rules
    from monitor.rules.language import RuleSet

    repo = tmp_path / "versions"
    repo.mkdir()
    git(repo, "init", "-q")
    other = "\n## 6. Other\n\nYou may not scrape the service.\n"
    with_ai = BASE + "\nWe may use your content to train our AI models.\n" + other
    for year in range(2015, 2025):  # a year apart: not flips, every change is flagged
        (repo / "Example").mkdir(exist_ok=True)
        (repo / "Example/Terms.md").write_text(with_ai if year % 2 else BASE + other)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Record", when=f"{year}-01-01T10:00:00+00:00")
    calls: list[str] = []
    real_match = RuleSet.match

    def counting(self: RuleSet, text: str, *args: object) -> list[object]:
        calls.append(text)
        return real_match(self, text, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RuleSet, "match", counting)
    import monitor.importers.ota as ota

    diffs: list[int] = []
    parses: list[int] = []
    monkeypatch.setattr(ota, "diff", lambda *a: (diffs.append(1), diff(*a))[1])
    real_parse = ota.parse_markdown
    monkeypatch.setattr(ota, "parse_markdown", lambda *a: (parses.append(1), real_parse(*a))[1])
    with Archive(tmp_path / "archive") as archive, archive.lock():
        real_read = archive._parse_version
        reads: list[int] = []
        monkeypatch.setattr(archive, "_parse_version", lambda v: (reads.append(1), real_read(v))[1])
        report = import_history(repo, archive, load_rules())
        assert report.versions == 10 and report.not_terms == 0
        # two texts: each parsed once from git, never again from the archive (a stored
        # Document is remembered: its file parses back into it), each pair diffed once (was
        # 10 parses, 9 reads and 9 diffs)
        assert (len(parses), len(reads), len(diffs)) == (2, 0, 2)
        monkeypatch.setattr(RuleSet, "match", real_match)
        fresh = load_rules()
        changes = archive.changes("example-terms")
        assert len(changes) == 9
        versions = {v.id: archive.read_version(v) for v in archive.versions("example-terms")}
        for change in changes:  # the cached matches flag exactly what fresh rules flag
            old, new = versions[change.old_version_id], versions[change.new_version_id]  # type: ignore[index]
            expected = flag_changes(diff(old, new), fresh, (old, new))
            assert archive.read_flags(change) == expected and expected
    # each clause text matched once (was 27 matches: each of the 9 changes matched them all
    # again)
    assert len(calls) == len(set(calls)) <= 6, calls


def test_import_history_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import io

    from monitor.cli.base import Environment
    from monitor.cli.main import main

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    repo = make_repo(tmp_path, "Example/Terms of Service.md", FIRST_TWO)
    out, err = io.StringIO(), Terminal()
    code = main(["import-history", str(repo)], Environment(stdout=out, stderr=err, cwd=tmp_path))
    assert code == ExitStatus.OK and "2 versions imported" in out.getvalue()
    shown = err.getvalue()
    assert "importing" in shown and "2/2 commits, 1/1 documents" in shown, shown
    # piped or redirected: no bar, nothing on stderr
    code, out_text, err_text = cli(
        tmp_path, "import-history", str(repo), "--source", "example-terms-of-service"
    )
    assert code == ExitStatus.OK and "2 skipped" in out_text and err_text == ""


def test_the_first_tracked_version_after_imported_history_never_alerts(
    tmp_path: Path, httpserver: HTTPServer, settings: Settings
) -> None:
    # Open Terms Archive extracted the page its own way: the first version tracked after an
    # import differs from the imported one in extraction as much as in substance, so it is a
    # technical version (as after a change of selectors); the changes after it alert
    from monitor.fetch import fetchers_for
    from monitor.importers.ota import import_history
    from monitor.model import Source
    from monitor.rules.files import load_rules
    from monitor.track import record_alerts, run_pass
    from tests.conftest import terms_html

    repo = make_repo(
        tmp_path, "Example/Terms of Service.md", [(BASE, "2024-01-01T10:00:00+00:00", "Record")]
    )
    source = Source("example-terms", "Example", "Terms of Service", httpserver.url_for("/terms"))
    training = (
        "<p>We may use the content you upload to train our artificial intelligence models.</p>"
    )
    sharing = (
        "<p>We may share the content you upload with third-party AI developers to train their"
        " models.</p>"
    )
    with Archive(settings.archive_dir) as archive, archive.lock():
        import_history(repo, archive, load_rules(), sources=[source])
        assert [v.number for v in archive.versions("example-terms")] == [1]
        for extra in (training, training, training + sharing, training + sharing):
            httpserver.clear()
            httpserver.expect_request("/terms").respond_with_data(
                terms_html(extra=extra), content_type="text/html; charset=utf-8"
            )
            with fetchers_for(settings.fetch) as fetchers:
                run_pass([source], archive, fetchers, settings)
            record_alerts(archive)
        versions = archive.versions("example-terms")
        assert len(versions) == 3 and versions[1].technical and not versions[2].technical
        assert "after imported history" in archive.checks("example-terms")[-2].detail
        alerts = archive.alerts()
        assert len(alerts) == 1 and alerts[0].change_id == archive.changes("example-terms")[-1].id
        assert "third-party AI developers" in json.dumps([f.evidence for f in alerts[0].flags])


def test_a_big_import_plans_in_worker_processes_and_stores_the_same_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents planned in two lanes, a few commits a task, with little room ahead, store
    what planning them here stores: the same versions, checks, flags and counts."""
    from monitor.importers import ota
    from monitor.rules.files import load_rules

    documents = {
        "Example/Terms of Service.md": 12,
        "Other/Privacy Policy.md": 9,
        "Third/Terms of Service.md": 5,
    }
    for number, (path, count) in enumerate(documents.items()):
        texts = [
            f"{BASE}\n## {n % 4}. Section\n\nRule number {n % 4} of {path}.\n" for n in range(count)
        ]
        texts[2] += "\nWe may use your content to train our AI models.\n"  # a change, then back
        texts[count - 2] = "# Stub\n"  # too short to be terms
        dates = [f"2024-{number + 1:02d}-{n + 1:02d}T10:00:00+00:00" for n in range(count)]
        messages = ["Record new changes"] * count
        messages[-1] = "Apply technical or declaration upgrade"  # mends the stub: not technical
        repo = make_repo(tmp_path, path, list(zip(texts, dates, messages, strict=True)))

    def imported(where: Path) -> tuple[object, ...]:
        with Archive(where) as archive, archive.lock():
            report = ota.import_history(repo, archive, load_rules())
            history = []
            for sid in sorted(archive.source_ids()):
                changes = archive.changes(sid)
                history.append(
                    (
                        [(v.sha256, v.technical) for v in archive.versions(sid)],
                        [(c.outcome, c.version_id is not None) for c in archive.checks(sid)],
                        [
                            tuple(
                                (f.category, f.direction, f.evidence) for f in archive.read_flags(c)
                            )
                            for c in changes
                        ],
                    )
                )
            return history, report.versions, report.skipped, report.not_terms, report.technical

    monkeypatch.setattr(ota, "POOL_FROM", 10_000)
    alone = imported(tmp_path / "in-process")
    monkeypatch.setattr(ota, "POOL_FROM", 1)
    monkeypatch.setattr(ota, "CHUNK", 2)
    monkeypatch.setattr(ota, "AHEAD", 3)
    pooled = imported(tmp_path / "pooled")
    assert pooled == alone
    # with another thread running (a progress bar's) the lanes come from a fork server: the
    # rules and the tasks are pickled to them
    waiting = threading.Event()
    bar = threading.Thread(target=waiting.wait, args=(60,))
    bar.start()
    try:
        assert imported(tmp_path / "from-a-fork-server") == alone
    finally:
        waiting.set()
        bar.join()
    history, versions, skipped, not_terms, _ = alone
    assert versions == sum(documents.values()) - 3 and skipped == 0 and not_terms == 3
    assert all(any(flags) for _, _, flags in history)  # each training clause flags
    # a second import plans nothing new: every commit is already there
    kept: list[ota.Kept] = []
    real = ota._store_step

    def spying(
        archive: Archive, source: object, path: str, step: ota._Step, report: object
    ) -> None:
        kept.append(step.kept)
        real(archive, source, path, step, report)  # type: ignore[arg-type]

    monkeypatch.setattr(ota, "_store_step", spying)
    with Archive(tmp_path / "pooled") as archive, archive.lock():
        assert ota.import_history(repo, archive, load_rules()).versions == 0
    # (the stubs left no snapshot: they read as older than the last version)
    assert kept == [
        ota.Kept.OLDER if n == count - 2 else ota.Kept.SEEN
        for count in documents.values()
        for n in range(count)
    ]


def test_each_source_is_told_once_its_document_is_stored_and_decided_alone(
    tmp_path: Path,
) -> None:
    """`stored` hears each source's id when all its versions are in, so the command decides
    its alerts then (record_alerts with source_id), and the others' after (decided=)."""
    from monitor.importers import ota
    from monitor.rules.files import load_rules
    from monitor.track import record_alerts

    for path in ("Example/Terms of Service.md", "Other/Terms of Service.md"):
        repo = make_repo(tmp_path, path, FIRST_TWO)
    told: list[tuple[str, int, int, int]] = []
    with Archive(tmp_path / "archive") as archive, archive.lock():

        def stored(source_id: str) -> None:
            versions = len(archive.versions(source_id))
            alerts = record_alerts(archive, source_id=source_id)
            told.append((source_id, versions, alerts, len(archive.changes_without_alerts())))

        ota.import_history(repo, archive, load_rules(), stored=stored)
        final = {sid: len(archive.versions(sid)) for sid in archive.source_ids()}
        # told in order, with all its versions in, and nothing left undecided after it
        assert told == [
            ("example-terms-of-service", 2, 1, 0),
            ("other-terms-of-service", 2, 1, 0),
        ]
        assert final == {"example-terms-of-service": 2, "other-terms-of-service": 2}
        assert record_alerts(archive, decided={"example-terms-of-service"}) == 0
    # undecided changes of a source the import did not decide are left for the final call
    with Archive(tmp_path / "other") as archive, archive.lock():
        ota.import_history(repo, archive, load_rules())
        assert len(archive.changes_without_alerts()) == 2
        assert record_alerts(archive, decided={"example-terms-of-service"}) == 1
        assert [c.source_id for c in archive.changes_without_alerts()] == [
            "example-terms-of-service"
        ]
