"""bench/history.py's labels: how alerts are matched to hand labels kept in bench/, what it
reports (share of threat alerts labelled real, real events lost, unlabelled alerts) and how a
bad labels file is refused. The repository is a small OTA-layout git history made here; the
bench never reads ../shared in these tests (--corpus and --repo point at tmp_path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.test_ota import BASE, git

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "history.py"
DOC = "Example/Terms of Service.md"
TRAINING = "We may use your content to train our AI models."
PROMISE = "We will never sell your songs to AI companies."
RECORD = "Record new changes of Example Terms of Service"


def make_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """A versions repository named like OTA's contrib-versions, and a corpus folder whose
    history-dev.yaml lists its one document."""
    repo = tmp_path / "contrib-versions"
    repo.mkdir()
    git(repo, "init", "-q")
    versions = [
        (BASE, "2024-01-01T10:00:00+00:00", "Start tracking Example Terms of Service"),
        (BASE + f"\n{TRAINING}\n", "2024-03-01T23:30:00+00:00", RECORD),
        (BASE + f"\n{TRAINING}\n\n{PROMISE}\n", "2024-05-01T10:00:00+00:00", RECORD),
    ]
    for text, when, message in versions:
        (repo / DOC).parent.mkdir(parents=True, exist_ok=True)
        (repo / DOC).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message, when=when)
    # a later commit of another document: the repository still held the last version then,
    # which confirms its good news (monitor.trust holds good news for a later capture)
    (repo / "Other" / "Terms.md").parent.mkdir()
    (repo / "Other" / "Terms.md").write_text(BASE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", RECORD, when="2024-06-01T10:00:00+00:00")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    listing = {
        "snapshot_heads": {"OpenTermsArchive/contrib-versions": head},
        "documents": [{"repo": "OpenTermsArchive/contrib-versions", "path": DOC, "commits": 3}],
    }
    (corpus / "history-dev.yaml").write_text(yaml.safe_dump(listing))
    return repo, corpus


def label(**changes: str) -> dict[str, str]:
    entry = {
        "repo": "contrib-versions",
        "path": DOC,
        "source": "example-terms-of-service",
        "date": "2024-03-02",  # the capture was 2024-03-01 23:30 UTC: one day off still matches
        "category": "ai_training",
        "direction": "introduced",
        "quote": TRAINING.upper().replace(".", ""),  # case and punctuation do not matter
        "label": "real",
        "reason": "adds a licence to train AI on users' content",
    }
    return {**entry, **changes}


def run_bench(tmp_path: Path, repo: Path, corpus: Path, labels: object) -> tuple[int, str, str]:
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(labels) if not isinstance(labels, str) else labels)
    command = [sys.executable, str(BENCH), "--corpus", str(corpus), "--repo", str(repo)]
    command += ["--labels", str(path), "--keep", str(tmp_path / "archive")]
    command += ["--dump", str(tmp_path / "dump.txt")]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    return done.returncode, done.stdout, done.stderr


def test_bench_matches_labels_and_reports_share_lost_and_unlabelled(tmp_path: Path) -> None:
    repo, corpus = make_corpus(tmp_path)
    gone = label(date="2024-03-05", quote="We may sell your content to AI labs.")
    code, out, err = run_bench(tmp_path, repo, corpus, {"labels": [label(), gone]})
    assert code == 0, err
    assert "threat alerts labelled real: 1/1 = 100%" in out
    assert "alerts by kind: threat 1, good news 1, info 0" in out
    assert "held as suspect: n/a (no suspect marks in this archive)" in out
    assert "peak RSS" in out and "archive" in out
    # the label two days from any alert is an event lost; the promise is unlabelled
    assert (
        "real events lost (labelled real, no alert of the document that day +/- 1): 1 of 2;"
        " 0 more alert under another flag" in out
    )
    assert "2024-03-05 ai_training introduced" in out
    unlabelled = out.split("unlabelled alerts: ", 1)[1]
    assert unlabelled.startswith("1\n") and "[good news] protective introduced" in unlabelled
    # the dump shows the clause text and leaves a template of the unlabelled alert
    dump = (tmp_path / "dump.txt").read_text()
    assert f"NEW: {PROMISE}" in dump and "LABEL: real" in dump
    template = yaml.safe_load((tmp_path / "dump.template.yaml").read_text())["labels"]
    assert [(t["date"], t["category"], t["label"]) for t in template] == [
        ("2024-05-01", "protective", "")
    ]


def test_bench_does_not_match_a_label_of_another_direction_or_three_days_off(
    tmp_path: Path,
) -> None:
    repo, corpus = make_corpus(tmp_path)
    labels = [label(direction="removed"), label(date="2024-03-04", quote=TRAINING)]
    code, out, err = run_bench(tmp_path, repo, corpus, {"labels": labels})
    assert code == 0, err
    assert "threat alerts labelled real: 0/0 = n/a" in out
    # the label of another direction names a change that alerts under another flag; the one
    # three days off is lost
    assert (
        "real events lost (labelled real, no alert of the document that day +/- 1): 1 of 2;"
        " 1 more alert under another flag" in out
    )


def test_bench_refuses_a_bad_labels_file_naming_the_entry(tmp_path: Path) -> None:
    repo, corpus = make_corpus(tmp_path)
    code, _, err = run_bench(tmp_path, repo, corpus, {"labels": [label(), label(label="maybe")]})
    assert code == 2 and "labels.yaml: label 2: label 'maybe' is not one of" in err
    code, _, err = run_bench(tmp_path, repo, corpus, {"labels": [label(reason="")]})
    assert code == 2 and "label 1: missing reason" in err
    code, _, err = run_bench(tmp_path, repo, corpus, {"labels": [label(label="artefact")]})
    assert code == 2 and "an artefact needs 'artefact:'" in err
    code, _, err = run_bench(tmp_path, repo, corpus, "labels: [unclosed")
    assert code == 2 and "not valid YAML" in err
    assert not (tmp_path / "archive").exists()  # refused before importing anything


def test_held_marks_read_the_suspect_note_and_the_decision() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_history", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_history"] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    from monitor.trust import SUSPECT_NOTE

    suspect = (f"{SUSPECT_NOTE}: it lacks 80% of the previous version's words",)
    assert bench.held_mark(("Cosmetic change.",), None) is None
    assert bench.held_mark(suspect, None) == "held"
    assert bench.held_mark(suspect, ("tag:x", "")) == "confirmed"
    assert (
        bench.held_mark(suspect, (None, "not alerted: the next capture restores it")) == "cancelled"
    )
