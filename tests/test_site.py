"""The static history site in a real headless Chromium (Debian's, driven by Playwright), and
the browsing commands: check, history, show, serve."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli.main import ExitStatus
from monitor.config import Settings
from tests.conftest import CORPUS, ROOT, terms_html
from tests.conftest import run_cli as cli

# Debian's Chromium where it is installed (.ci/run installs it), else Playwright's own build
# (`make test` runs `playwright install chromium` when there is no `chromium`).
CHROMIUM = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def site(archive_with_alerts: Settings, tmp_path: Path) -> Path:
    assert cli(tmp_path, "feeds")[0] == ExitStatus.OK
    code, out, _ = cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK and "pages written" in out
    return tmp_path / "public"


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(
                "Chromium is needed: apt-get install chromium, or `make test` (which runs "
                f"`playwright install chromium` where there is none): {exc}"
            )
        yield instance
        instance.close()


def test_navigate_filter_open_a_change_and_nothing_runs(
    site: Path, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((site / "index.html").as_uri())
    assert page.title() == "Clausewatch: Platform terms we watch"
    assert page.locator("link[rel=alternate][type='application/atom+xml']").count() >= 1
    row = page.locator("tbody tr")
    assert row.count() == 1 and "promise not to train on your content added" in row.inner_text()
    page.click("text=ai training")
    assert page.title() == "Clausewatch: Documents with ai training changes"
    assert page.locator("tbody tr").count() == 1
    page.click("text=writers")
    assert "No documents match." in page.inner_text("main")
    page.goto((site / "index.html").as_uri())
    page.click("text=Example Terms of Service")
    assert page.locator("ol.timeline li").count() == 3
    page.locator("ol.timeline li").nth(1).locator("text=what changed").click()
    assert (
        page.locator("h1").inner_text() == "Example Terms of Service: AI-training permission added"
    )
    inserted = page.locator("ins").first.inner_text()
    assert "train our artificial intelligence models" in inserted
    assert "<script>alert('x')</script>" in inserted  # the terms' markup shows as text...
    assert page.locator("main script, main img").count() == 0  # ...and is not in the page
    assert (
        page.locator("blockquote").first.inner_text().startswith("We may use your content to train")
    )
    page.screenshot(path=str(tmp_path / "change.png"), full_page=True)
    assert (tmp_path / "change.png").stat().st_size > 5_000
    assert dialogs == [] and errors == []


def test_every_page_forbids_scripts_and_links_the_feeds(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        html = page.read_text()
        assert "default-src 'none'" in html and "<script" not in html, page
        assert "feeds/all.atom" in html


def test_rebuilding_the_site_writes_nothing(site: Path, tmp_path: Path) -> None:
    code, out, _ = cli(tmp_path, "site", "build")
    assert code == ExitStatus.OK and out.startswith("0 pages written")


def test_history_show_and_check(site: Path, tmp_path: Path) -> None:
    code, out, _ = cli(tmp_path, "history", "example-terms", "--json")
    versions = json.loads(out)["versions"]
    assert code == ExitStatus.OK and [v["version"] for v in versions] == [1, 2, 3]
    assert (
        versions[1]["alert"] == "Example Terms of Service: AI-training permission added"
        and versions[1]["threat"]
    )
    code, out, _ = cli(tmp_path, "history", "example-terms")
    assert "AI-training permission added" in out
    code, out, _ = cli(tmp_path, "show", "example-terms", "2")
    assert (
        out.startswith('---\ntitle: "Example Terms"')
        and "train our artificial intelligence models" in out
    )
    code, out, _ = cli(tmp_path, "show", "example-terms", "--json")
    assert json.loads(out)["clauses"][-1]["text"].startswith("We will never sell your songs")
    code, _, err = cli(tmp_path, "show", "example-terms", "9")
    assert code == ExitStatus.USAGE and "no version 9" in err


def test_check_a_file_exit_statuses(tmp_path: Path) -> None:
    reddit = CORPUS / "reddit/terms-of-service/2024-08-16.md"
    code, out, _ = cli(tmp_path, "check", str(reddit), "--json")
    report = json.loads(out)
    assert code == ExitStatus.FLAGGED and report["clauses"] > 100
    assert any(
        f["rule_id"] == "ai_training.train-models" and "train" in f["words"]
        for f in report["findings"]
    )
    plain = tmp_path / "plain.html"
    plain.write_text(terms_html())
    code, out, _ = cli(tmp_path, "check", str(plain))
    assert code == ExitStatus.OK and "Nothing flagged" in out
    code, _, err = cli(tmp_path, "check", "not-a-file-or-url")
    assert code == ExitStatus.USAGE and "neither a file nor an http(s) URL" in err


def test_check_a_tracked_url_compares_with_the_archive(
    archive_with_alerts: Settings, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data(terms_html(), content_type="text/html")
    code, out, err = cli(tmp_path, "check", httpserver.url_for("/terms"), "--json")
    assert err == ""
    report = json.loads(out)
    assert code == ExitStatus.OK  # today's page no longer has the training clause
    assert (
        report["tracked"]["source_id"] == "example-terms"
        and report["tracked"]["compared_with_version"] == 3
    )
    assert report["tracked"]["alert"] is True  # the promise not to train was removed
    httpserver.clear()
    httpserver.expect_request("/terms").respond_with_data("gone", status=404)
    code, _, err = cli(tmp_path, "check", httpserver.url_for("/terms"))
    assert code == ExitStatus.ERROR and "http_error" in err


def test_serve_serves_the_public_folder(site: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not body:  # bounded
            try:
                body = urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/feeds/all.atom", timeout=2
                ).read()
            except OSError:
                time.sleep(0.2)
        assert b"AI-training permission added" in body
    finally:
        server.terminate()
        server.wait(timeout=10)
