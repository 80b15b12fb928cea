"""cli.py: commands, exit statuses, error messages, escaping, and README coverage."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.archive import Archive
from monitor.cli.main import Environment, ExitStatus, build_parser, main, safe
from tests.conftest import ROOT, reset, terms_html, write_sources
from tests.conftest import run_cli as run


def entry(url: str, sid: str = "example-terms") -> dict[str, object]:
    return {
        "id": sid,
        "platform": "Example",
        "document_type": "Terms of Service",
        "url": url,
        "ignore_robots": True,
    }


def test_track_json_then_verify(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    code, out, _ = run(tmp_path, "track", "--json")
    assert code == ExitStatus.OK
    summary = json.loads(out)
    assert summary["counts"]["new"] == 1 and summary["sources"][0]["id"] == "example-terms"
    assert summary["sources"][0]["version"] == 1  # the version's number within its source
    code, out, _ = run(tmp_path, "verify")
    assert code == ExitStatus.OK and "1 snapshots, 1 versions, 0 changes: ok" in out
    code, out, _ = run(tmp_path, "verify", "--json")
    assert json.loads(out)["ok"] is True


def test_track_table_names_outcomes(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    httpserver.expect_request("/down").respond_with_data("no", status=404)
    write_sources(
        tmp_path / "sources.yaml",
        [entry(httpserver.url_for("/terms")), entry(httpserver.url_for("/down"), "down-terms")],
    )
    code, out, _ = run(tmp_path, "--archive", "elsewhere", "track")
    assert code == ExitStatus.OK  # one source failed, not all
    assert "example-terms" in out and "new" in out and "down-terms" in out and "failed" in out
    assert "1 new, 0 changed, 0 unchanged, 0 not modified, 1 failed" in out
    assert (tmp_path / "elsewhere" / "catalog.sqlite").exists()


def test_every_source_failing_exits_1(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/down").respond_with_data("no", status=404)
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/down"))])
    code, _, _ = run(tmp_path, "track")
    assert code == ExitStatus.ERROR


def test_bad_sources_file_exits_2_with_file_line_and_id(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - id: good-one\n    platform: P\n    document_type: T\n    url: https://e.org/\n"
        "  - id: bad-one\n    platform: P\n    document_type: T\n    url: https://e.org/x\n    schedul: every 6h\n"
    )
    code, _, err = run(tmp_path, "track")
    assert code == ExitStatus.USAGE
    assert (
        "sources.yaml:10: source 'bad-one': unknown key 'schedul'; did you mean 'schedule'?" in err
    )


def test_unknown_source_id_exits_2(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources.yaml", [entry("https://example.org/terms")])
    code, _, err = run(tmp_path, "track", "example-term")
    assert code == ExitStatus.USAGE and "did you mean 'example-terms'" in err


def test_bad_settings_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "clausewatch.toml").write_text("[fetch]\nhost_dela = 3\n")
    code, _, err = run(tmp_path, "sources")
    assert (
        code == ExitStatus.USAGE
        and "clausewatch.toml:2 [fetch]" in err
        and "did you mean 'host_delay'" in err
    )


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    code, _, _ = run(tmp_path, "no-such-command")
    assert code == ExitStatus.USAGE


def test_verify_without_archive_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "verify")
    assert code == ExitStatus.USAGE and "no archive here yet" in err


def test_sources_lists_and_json(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources.yaml", [entry("https://example.org/terms")])
    code, out, _ = run(tmp_path, "sources", "--json")
    assert code == ExitStatus.OK and json.loads(out)[0]["url"] == "https://example.org/terms"


def test_fetched_text_cannot_inject_terminal_markup(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/terms").respond_with_response(
        Response("x", status="418 [blink]gotcha[/blink]")
    )
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    _, out, _ = run(tmp_path, "track", "--verbose")  # the whole error, the server's words too
    assert "[blink]gotcha[/blink]" in out
    assert safe("a\x1b[2Jb\u202e") == "a\ufffd[2Jb\ufffd"


def _help(words: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*words, "--help"])
    return out.getvalue()


def _options(words: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(command, option) for every command and option, read from what --help prints."""
    positional, _, options = _help(words).partition("\noptions:\n")
    prefix = " ".join(words)
    found = []
    for line in options.splitlines():
        if line.startswith("  -"):
            invocation = line[2:].split("  ")[0]  # "-q, --quiet" or "--since SINCE"
            for option in re.findall(r"(?<![\w-])-{1,2}[a-zA-Z][\w-]*", invocation):
                if option not in ("-h", "--help"):
                    found.append((prefix, option))
    for name in re.findall(r"^    ([a-z][\w-]*)(?= |$)", positional, re.MULTILINE):
        found.append(((prefix + " " + name).strip(), ""))
        found += _options((*words, name))
    return found


def test_readme_documents_every_command_and_option() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = []
    options = _options()
    assert ("track", "--rules") in options and ("site build", "--out") in options
    for command, option in options:
        if option:
            pattern = (
                rf"clausewatch[^\n`]*\b{re.escape(command)}\b[^\n`]*{re.escape(option)}"
                if command
                else re.escape(option)
            )
        else:
            pattern = rf"clausewatch {re.escape(command)}\b"
        if not re.search(pattern, readme):
            missing.append(f"{command} {option}".strip())
    assert missing == []


def test_diff_between_the_last_two_versions_in_every_format(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    assert run(tmp_path, "track")[0] == ExitStatus.OK
    code, _, err = run(tmp_path, "diff", "example-terms")
    assert code == ExitStatus.USAGE and "nothing to compare" in err
    httpserver.clear()
    changed = terms_html().replace(
        "We may use it to operate the service",
        "We may use it to train [bold]AI[/bold] models and to operate the service",
    )
    httpserver.expect_request("/terms").respond_with_data(changed, content_type="text/html")
    assert run(tmp_path, "track")[0] == ExitStatus.OK
    code, out, _ = run(tmp_path, "diff", "example-terms")
    assert code == ExitStatus.OK and "modified" in out and "train [bold]AI[/bold] models and" in out
    code, out, _ = run(tmp_path, "diff", "example-terms", "--json")
    data = json.loads(out)
    assert (
        data["counts"]["modified"] == 6
        and data["old_version_id"] == 1
        and data["new_version_id"] == 2
    )
    code, out, _ = run(tmp_path, "diff", "example-terms", "1", "2", "--markdown")
    assert re.search(r"\*\*[^*]*train \\\[bold\\\]AI\\\[/bold\\\] models[^*]*\*\*", out)
    code, out, _ = run(tmp_path, "diff", "example-terms", "--html")
    assert re.search(r"<ins>[^<]*train \[bold\]AI\[/bold\] models[^<]*</ins>", out)
    code, _, err = run(tmp_path, "diff", "example-terms", "7")
    assert code == ExitStatus.USAGE and "no version 7" in err
    code, _, err = run(tmp_path, "diff", "nope")
    assert code == ExitStatus.USAGE and "no archived versions" in err


def test_rules_list_and_test(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "rules", "list", "--json")
    rules = json.loads(out)
    assert code == ExitStatus.OK and any(r["id"] == "ai_training.train-models" for r in rules)
    code, out, _ = run(
        tmp_path,
        "rules",
        "test",
        "We may use your posts to train our AI models. We never sell data.",
    )
    assert (
        code == ExitStatus.OK
        and "ai_training.train-models" in out
        and "fired on: train, AI, models" in out
    )
    page = tmp_path / "terms.md"
    page.write_text("# Terms\n\nWe do not use your content to train AI models.\n")
    code, out, _ = run(tmp_path, "rules", "test", str(page), "--json")
    assert [m["category"] for m in json.loads(out)] == ["protective"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x.y\n  category: nope\n")
    code, _, err = run(tmp_path, "rules", "list", "--rules", str(bad))
    assert code == ExitStatus.USAGE and f"{bad}:1: rule 'x.y'" in err


def test_a_tracked_change_is_flagged_in_the_archive(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    run(tmp_path, "track")
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data(
        terms_html(
            extra="<p>7.1 We may use your content to train our artificial intelligence models.</p>"
        ),
        content_type="text/html",
    )
    run(tmp_path, "track")
    changes = list((tmp_path / "archive" / "example-terms" / "changes").iterdir())
    data = json.loads(changes[0].read_text())
    (flag,) = data["flags"]
    assert (
        flag["category"] == "ai_training"
        and flag["direction"] == "introduced"
        and flag["severity"] == "high"
    )
    assert (
        flag["evidence"] == "We may use your content to train our artificial intelligence models."
    )


GLITTER = """\
- id: custom.glitter
  category: ai_training
  severity: high
  description: The platform may sprinkle glitter on your content.
  all: [[glitter]]
  examples:
    fire: [We may put glitter on your uploads.]
    quiet: [We sell sparkles.]
"""
GLITTER_CLAUSE = "<p>9.1 We may put glitter on every song and video you upload to the service.</p>"


def test_the_rules_setting_and_option_reach_track_check_and_import_history(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    (tmp_path / "glitter.yaml").write_text(GLITTER)
    page = tmp_path / "page.html"
    page.write_text(terms_html(extra=GLITTER_CLAUSE))

    def fired(code: int, out: str) -> set[str]:
        assert code in (ExitStatus.OK, ExitStatus.FLAGGED), out
        return {f["rule_id"] for f in json.loads(out)["findings"]}

    assert "custom.glitter" not in fired(*run(tmp_path, "check", str(page), "--json")[:2])
    assert fired(*run(tmp_path, "check", str(page), "--json", "--rules", "glitter.yaml")[:2]) == {
        "custom.glitter"
    }
    env = {"CLAUSEWATCH_RULES": str(tmp_path / "glitter.yaml")}
    assert fired(*run(tmp_path, "check", str(page), "--json", env=env)[:2]) == {"custom.glitter"}

    # track: the setting in clausewatch.toml (relative to it), and --rules
    write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "id": "example-terms",
                "platform": "Example",
                "document_type": "Terms",
                "url": httpserver.url_for("/terms"),
                "ignore_robots": True,
            }
        ],
    )
    (tmp_path / "clausewatch.toml").write_text('rules = ["glitter.yaml"]\n')
    for extra in ("", GLITTER_CLAUSE):
        httpserver.clear()
        httpserver.expect_request("/terms").respond_with_data(
            terms_html(extra=extra), content_type="text/html"
        )
        code, out, err = run(tmp_path, "track")
        assert code == ExitStatus.OK, out + err
    with Archive(tmp_path / "archive") as archive:
        titles = [a.title for a in archive.alerts()]
    assert titles == ["Example Terms: AI-training permission added"], titles

    # import-history with --rules: the same change, read from a versions repository
    from tests.test_ota import make_repo

    base = (  # over the not_terms threshold (200 characters), as tracking requires
        "# Terms\n\n## 1. Content\n\nYou keep ownership of everything you upload here.\n\n"
        "## 2. Accounts\n\nYou are responsible for your account and for everything done with"
        " it, and you keep your password secret at all times.\n\n## 3. Changes\n\nWe tell"
        " you about changes to these terms before they apply to your account.\n"
    )
    repo = make_repo(
        tmp_path,
        "Example/Terms.md",
        [
            (base, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms"),
            (base + "\nWe may put glitter on your uploads.\n", "2024-02-01T10:00:00+00:00", "x"),
        ],
    )
    (tmp_path / "clausewatch.toml").unlink()
    code, out, err = run(
        tmp_path, "--archive", "ota-archive", "import-history", str(repo), "--rules", "glitter.yaml"
    )
    assert code == ExitStatus.OK and "1 alert" in out, out + err


def test_rules_learn_needs_out_and_never_writes_into_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(tmp_path, "rules", "learn", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_check_exits_flagged_on_data_sharing_as_the_feeds_alert_on_it(tmp_path: Path) -> None:
    page = tmp_path / "terms.txt"
    page.write_text(
        "Sharing\n\nWe may share your public posts and comments with third-party AI chatbots"
        " that display them in their answers.\n"
    )
    # one sentence is less text than a terms page (min_clause_chars): let it count as one
    code, out, _ = run(
        tmp_path, "check", str(page), "--json", env={"CLAUSEWATCH_MIN_CLAUSE_CHARS": "50"}
    )
    categories = {f["category"] for f in json.loads(out)["findings"]}
    assert categories == {"data_sharing"} and code == ExitStatus.FLAGGED


@pytest.mark.parametrize(
    "name, content",
    [
        ("shell.html", "<!doctype html><html><body><p>Loading...</p></body></html>"),
        ("tiny.txt", "hello"),
    ],
)
def test_check_a_page_with_no_terms_is_not_terms_never_an_all_clear(
    tmp_path: Path, name: str, content: str
) -> None:
    (tmp_path / name).write_text(content)
    for json_option in ((), ("--json",)):
        code, out, err = run(tmp_path, "check", str(tmp_path / name), *json_option)
        assert code == ExitStatus.ERROR, out + err
        assert "Nothing flagged" not in out and "not_terms" in err
        assert re.search(r"only \d+ characters of text \(at least 200 expected\)", err), err


def test_rules_test_takes_a_text_longer_than_a_file_name(tmp_path: Path) -> None:
    clause = (
        "We may use your posts to train our AI models. "
        + "These terms apply to every account holder without exception and in every region. " * 4
    )
    assert len(clause.encode()) > 255  # more than a file name may hold
    code, out, err = run(tmp_path, "rules", "test", clause, "--json")
    assert code == ExitStatus.OK, err
    assert "ai_training.train-models" in {m["rule_id"] for m in json.loads(out)}
    (tmp_path / "clause.txt").write_text(clause)  # a file, named relative to the working folder
    code, out, err = run(tmp_path, "rules", "test", "clause.txt", "--json")
    assert "ai_training.train-models" in {m["rule_id"] for m in json.loads(out)}, err


def test_an_unknown_source_id_suggests_the_nearest_few_not_every_id(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from monitor.model import Source

    platforms = [f"platform{n:02d}" for n in range(40)] + ["spotify"]
    sources = [
        Source(f"{p}-terms", p.title(), "Terms", f"https://{p}.example/terms") for p in platforms
    ]
    with Archive(tmp_path / "archive") as archive, archive.lock():
        archive.sync_sources(sources, datetime.now(UTC))
    write_sources(
        tmp_path / "sources.yaml",
        [entry(s.url, s.id) for s in sources],
    )
    for argv in (
        ("history", "spotfy-terms"),
        ("show", "spotfy-terms"),
        ("diff", "spotfy-terms"),
        ("track", "spotfy-terms"),
    ):
        code, _, err = run(tmp_path, *argv)
        assert code == ExitStatus.USAGE, (argv, err)
        assert "did you mean 'spotify-terms'" in err, (argv, err)
        assert "41 known" in err and "platform17-terms" not in err, (argv, err)


def test_diff_json_is_the_changeset_as_stored_with_flags_and_version_ids(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    pages = [
        terms_html(),
        terms_html(
            extra="<p>7.1 We may use your content to train our artificial intelligence models.</p>"
        ),
        terms_html(
            extra="<p>7.1 We may share your public posts with third-party AI companies to train"
            " their models.</p>"
        ),
    ]
    for page in pages:
        httpserver.clear()
        httpserver.expect_request("/terms").respond_with_data(page, content_type="text/html")
        assert run(tmp_path, "track")[0] == ExitStatus.OK
    code, out, _ = run(tmp_path, "diff", "example-terms", "1", "2", "--json")
    data = json.loads(out)
    (stored,) = [
        json.loads(p.read_text())
        for p in (tmp_path / "archive" / "example-terms" / "changes").iterdir()
        if json.loads(p.read_text())["new_version_id"] == 2
    ]
    assert code == ExitStatus.OK and data["stored"] is True
    shown = ("stored", "versions", "old_version", "new_version", "alert")
    assert {k: v for k, v in data.items() if k not in shown} == stored
    assert data["alert"] == "Example Terms of Service: AI-training permission added"
    assert data["recorded_at"] == stored["recorded_at"] and data["flags"] == stored["flags"]
    assert [f["category"] for f in data["flags"]] == ["ai_training"]
    assert [v["id"] for v in data["versions"]] == [1, 2, 3]
    # two versions with no stored change between them: the same fields, flagged now
    code, out, _ = run(tmp_path, "diff", "example-terms", "1", "3", "--json")
    data = json.loads(out)
    assert data["stored"] is False and data["recorded_at"] is None
    assert data["old_version_id"] == 1 and data["new_version_id"] == 3
    assert {f["category"] for f in data["flags"]} >= {"third_party_ai"}
    assert set(stored) <= set(data)


def test_feeds_public_is_the_folder_whose_feeds_they_are_and_site_build_out_the_site(
    archive_with_alerts: object, tmp_path: Path
) -> None:
    code, out, err = run(tmp_path, "feeds", "--public", "pub")
    assert code == ExitStatus.OK, err
    assert (tmp_path / "pub" / "feeds" / "all.atom").is_file()
    assert not (tmp_path / "pub" / "feeds" / "feeds").exists()
    assert str(tmp_path / "pub" / "feeds") in out
    code, _, err = run(tmp_path, "site", "build", "--out", "pub")
    assert code == ExitStatus.OK and (tmp_path / "pub" / "index.html").is_file(), err
    # the old option says what it became rather than writing into pub/feeds/feeds/
    code, _, err = run(tmp_path, "feeds", "--out", "pub/feeds")
    assert code == ExitStatus.USAGE and "--public DIR" in err
    assert not (tmp_path / "pub" / "feeds" / "feeds").exists()
    # without an option: public_dir, ./public, as `make run` writes it
    assert run(tmp_path, "feeds")[0] == ExitStatus.OK
    assert (tmp_path / "public" / "feeds" / "all.atom").is_file()


def test_piped_diff_marks_deleted_and_inserted_words(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    write_sources(tmp_path / "sources.yaml", [entry(httpserver.url_for("/terms"))])
    for page in (terms_html(), terms_html().replace("every account holder", "all members")):
        httpserver.clear()
        httpserver.expect_request("/terms").respond_with_data(page, content_type="text/html")
        assert run(tmp_path, "track")[0] == ExitStatus.OK
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env |= {"PYTHONPATH": str(ROOT), "FORCE_COLOR": "", "TERM": "xterm-256color"}
    piped = subprocess.run(
        [sys.executable, "-m", "monitor", "diff", "example-terms"],
        cwd=tmp_path,
        env=env,
        capture_output=True,  # a pipe: not a terminal
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    assert "apply to [-every account holder-] {+all members+} in section 1" in piped.stdout
    assert "\x1b[" not in piped.stdout

    # NO_COLOR and --no-color mark them too, even where colour would be possible
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def on_a_terminal(*extra: str, env: dict[str, str]) -> str:
        out = Terminal()
        environment = Environment(stdout=out, stderr=io.StringIO(), env=env, cwd=tmp_path)
        assert main(["diff", "example-terms", *extra], environment) == ExitStatus.OK
        return out.getvalue()

    assert "[-every" not in on_a_terminal(env={})  # colours on a terminal
    for extra, env in ((("--no-color",), {}), ((), {"NO_COLOR": "1"})):
        shown = on_a_terminal(*extra, env=env)
        assert "[-every account holder-] {+all members+}" in shown and "\x1b[" not in shown


def test_track_shows_each_failed_source_on_one_line_with_a_short_reason(
    httpserver: HTTPServer,
    raw_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    resolve = socket.getaddrinfo

    def no_such_name(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(host).endswith(".invalid"):  # never asked of a resolver: no network in tests
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    closed_port = socket.socket()  # bound, never listening: refused
    closed_port.bind(("127.0.0.1", 0))
    closed = closed_port.getsockname()[1]
    httpserver.expect_request("/forbidden").respond_with_data("no", status=403)
    resets = raw_server(reset)
    urls = {
        "closed-port-terms": f"http://127.0.0.1:{closed}/terms",
        "reset-terms": resets.url(),
        "forbidden-terms": httpserver.url_for("/forbidden"),
        "unresolvable-terms": "http://cw-test.invalid/terms",
    }
    write_sources(
        tmp_path / "sources.yaml",
        [{**entry(url, sid), "fetch": "http"} for sid, url in urls.items()],
    )
    env = {"CLAUSEWATCH_RETRIES": "0"}
    code, out, err = run(tmp_path, "track", env=env)
    assert code == ExitStatus.ERROR, out + err
    rows = {sid: [line for line in out.splitlines() if sid in line] for sid in urls}
    assert all(len(lines) == 1 for lines in rows.values()), out
    assert "connection refused" in rows["closed-port-terms"][0]
    assert "connection reset" in rows["reset-terms"][0]
    assert "http 403" in rows["forbidden-terms"][0]
    assert "dns: name not resolved" in rows["unresolvable-terms"][0]
    assert len(out.splitlines()) == 4 + len(urls) + 2  # title, header, rows, rule, counts
    # --verbose: the whole error of each
    code, out, _ = run(tmp_path, "track", "--verbose", env=env)
    closed_port.close()
    assert "NameResolutionError" in out and "HTTP 403 FORBIDDEN" in out.upper(), out
    assert len(out.splitlines()) > 4 + len(urls) + 2


CLAUDETTE_TERMS = """Terms of Service

Any dispute arising from these terms shall be resolved by binding arbitration.

We may change these terms at any time without notice.

These terms are governed by the laws of the State of California.

We may terminate your account at any time for any reason.

We may use your posts to train our AI models.
"""


def test_check_puts_a_summary_and_the_creator_categories_first(tmp_path: Path) -> None:
    page = tmp_path / "terms.txt"
    page.write_text(CLAUDETTE_TERMS)
    code, out, _ = run(tmp_path, "check", str(page))
    assert code == ExitStatus.FLAGGED
    lines = out.splitlines()
    assert "Verdict: alarming (exit status 3): ai_training" in lines[:4]  # at the top
    summary = out[: out.index("Exit status:")]
    assert re.search(r"^  ai_training +3  alarming$", summary, re.MULTILINE), summary
    assert re.search(r"^  third_party_ai +0$", summary, re.MULTILINE)
    assert "arbitration 1" in summary and "unilateral_change 1" in summary
    assert len(summary.splitlines()) <= 20  # one screen
    # the creator findings are listed; the CLAUDETTE ones only counted
    assert "ai_training.train-on-content" in out and "learned.arbitration" not in out
    assert "not listed below" in out
    code, out, _ = run(tmp_path, "check", str(page), "--all")
    assert "learned.arbitration" in out and "learned.choice-of-law" in out
    assert "not listed below" not in out
    code, out, _ = run(tmp_path, "check", str(page), "--category", "arbitration")
    assert code == ExitStatus.FLAGGED  # the verdict is the whole document's
    assert "learned.arbitration" in out and "learned.choice-of-law" not in out
    assert "ai_training.train-on-content" not in out
    code, out, _ = run(
        tmp_path,
        "check",
        str(page),
        "--json",
        "--category",
        "arbitration",
        "--category",
        "ai_training",
    )
    report = json.loads(out)
    assert {f["category"] for f in report["findings"]} == {"arbitration", "ai_training"}
    assert report["counts"]["choice_of_law"] == 1 and report["alarming"] is True
    code, out, err = run(tmp_path, "check", str(page), "--category", "arbitraton")
    assert code == ExitStatus.USAGE and out == ""
    assert "did you mean 'arbitration'" in err and "content_license" in err


def test_history_show_and_diff_take_and_print_version_numbers_per_source(
    tmp_path: Path,
) -> None:
    # two sources archived in turns: global ids 1, 3, 5 and 2, 4; numbers 1-3 and 1-2
    from datetime import UTC, datetime, timedelta

    from monitor.diff import diff
    from monitor.model import Clause, Document, Snapshot, Source

    with Archive(tmp_path / "archive") as archive:
        archive.sync_sources(
            [
                Source(sid, sid.split("-")[0], "Terms", f"https://example.org/{sid}")
                for sid in ("example-terms", "other-terms")
            ],
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        last: dict[str, Document] = {}
        for hour in range(5):
            at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hour)
            sid = "example-terms" if hour % 2 == 0 else "other-terms"
            text = f"Clause of {sid} as recorded at hour {hour} of the day."
            document = Document(sid, (Clause("1", (), None, text),))
            archive.store(
                Snapshot(
                    sid, at, f"https://example.org/{sid}", 200, text.encode(), "text/html", "utf-8"
                ),
                document,
                changeset=diff(last[sid], document) if sid in last else None,
            )
            last[sid] = document
    code, out, _ = run(tmp_path, "history", "other-terms", "--json")
    assert code == ExitStatus.OK
    assert [(v["version"], v["version_id"]) for v in json.loads(out)["versions"]] == [
        (1, 2),
        (2, 4),
    ]
    code, out, _ = run(tmp_path, "history", "example-terms")
    assert re.search(r"│ 3\s+│ 2026-01-01 04:00", out), out
    code, out, _ = run(tmp_path, "show", "other-terms", "2")
    assert code == ExitStatus.OK and "at hour 3" in out
    code, out, _ = run(tmp_path, "show", "example-terms", "3")
    assert code == ExitStatus.OK and "at hour 4" in out
    code, _, err = run(tmp_path, "show", "other-terms", "4")  # a global id, not its number
    assert code == ExitStatus.USAGE and "no version 4 (versions: 1, 2)" in err
    code, out, _ = run(tmp_path, "diff", "example-terms", "1", "3", "--no-color")
    assert code == ExitStatus.OK and "version 1 (2026-01-01) -> 3 (2026-01-01)" in out
    assert "hour [-0-] {+4+}" in out
    code, out, _ = run(tmp_path, "diff", "example-terms", "--json")  # the last two
    data = json.loads(out)
    assert (data["old_version"], data["new_version"]) == (2, 3)
    assert (data["old_version_id"], data["new_version_id"]) == (3, 5)
    assert [(v["version"], v["id"]) for v in data["versions"]] == [(1, 1), (2, 3), (3, 5)]
    # the site prints the numbers too; its URLs keep the catalog's ids, so links stay stable
    code, _, err = run(tmp_path, "site", "build")
    assert code == ExitStatus.OK, err
    timeline = (tmp_path / "public" / "sources" / "other-terms" / "index.html").read_text()
    assert 'versions/4.html">version 2</a>' in timeline and "version 4<" not in timeline
    page = (tmp_path / "public" / "sources" / "other-terms" / "versions" / "4.html").read_text()
    assert "<p>Version 2, recorded" in page
    changes = tmp_path / "public" / "sources" / "example-terms" / "changes"
    html = min(changes.glob("*.html")).read_text()  # change 1: from id 1 to id 3
    assert re.search(
        r'versions/1.html">version 1</a>\s*to <a [^>]*versions/3.html">version 2</a>', html
    )
