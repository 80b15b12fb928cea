"""Benchmark: alert trust over real history (Open Terms Archive versions repositories).

Imports the documents listed in ../shared/corpus/history-dev.yaml (DEV and DEV-2 services of
the four OTA versions repositories) with `import_history` (the code behind `clausewatch
import-history REPO --source ID`) into a temporary archive, gives every stored ChangeSet its
alert as a pass does (`monitor.track.record_alerts`, read back from the archive), and asks of each alert whether it is
likely a capture artefact, on evidence a reader can check in the printed sample:

  partial  the new version lost more than --partial (default 50 %) of the old one's text (a
           partial capture), or the old version was the partial one: it had lost that much
           against the version before it and the new one restores it (restoration).
  flip     the flagged clause's change is undone within --days (default 30) days: a later
           version holds the clause's old text again and not its new text (revert), or this
           change re-does a state that a version at most --days before it already held (the
           return leg of a flip).
  moved    the flagged clause's text (its new text; the old one for a removal) or its quoted
           sentence was already elsewhere in the old document (the new one, for a removal).
  chrome   the flagged clause is page chrome: cookie-banner or navigation wording (accept or
           reject cookies, cookie settings, skip to content, sign in, menu, back to top), or
           a clause that is mostly links.

An alert is an artefact when each of its lead flags (its threat flags, else all its flags) has
at least one class; it is counted under the first class, in the order above, that explains
all of its lead flags (else under "mixed"). Counts are also given per class without that
precedence (an alert may sit in several). A sample of 10 alerts per class is printed with
source id, dates, rule id and quote.

Repositories: `--repo DIR` (repeatable; a bare clone or checkout, matched to its
OpenTermsArchive/<name> by its folder name), else /work/.mirror/OpenTermsArchive+<name>/repo,
else ../<name> beside the repository. Missing ones are named, and their documents left out;
with none found the bench exits 2.

Usage: `PYTHONPATH=. .venv/bin/python bench/history.py [--limit N] [--budget SECONDS]
[--days N] [--partial FRACTION] [--keep DIR] [--corpus DIR] [--seed N]`.
`--limit N` imports N documents, picked by a seeded shuffle of the list (default: all 320;
14,012 commits). `--budget` stops importing new documents after that many seconds.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.archive import Archive  # noqa: E402
from monitor.importers.ota import import_history, source_id  # noqa: E402
from monitor.model import Alert, Direction, Document, Flag  # noqa: E402
from monitor.rules.files import load_rules  # noqa: E402
from monitor.rules.policy import is_threat  # noqa: E402
from monitor.track import record_alerts  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
MIRROR = Path("/work/.mirror")
CLASSES = ("partial", "flip", "moved", "chrome")
# other thresholds (days for a flip, text lost for a partial capture) whose shares are printed
SENSITIVITY = ((7, 0.5), (90, 0.5), (30, 0.3), (30, 0.7))

CHROME_RE = re.compile(
    r"\b(?:accept(?:\s+all)?\s+cookies|reject\s+(?:all|non-essential)|(?:manage|customi[sz]e)\s+"
    r"(?:cookies|preferences|settings)|cookie\s+(?:settings|preferences|banner|consent)"
    r"|skip\s+to\s+(?:main\s+)?content|back\s+to\s+top|sign\s+(?:in|up)\b|log\s*in\b"
    r"|toggle\s+navigation|main\s+menu|open\s+menu|close\s+menu|select\s+(?:your\s+)?language"
    r"|this\s+site\s+uses\s+cookies|we\s+use\s+cookies\s+(?:and\s+similar\s+technologies\s+)?to"
    r"\s+(?:improve|give|provide|personali[sz]e)\s+your\s+(?:browsing\s+)?experience)",
    re.IGNORECASE,
)
LINK_RE = re.compile(r"\[[^\]]*\]\([^)]*\)")
SPACE_RE = re.compile(r"\s+")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def norm(text: str) -> str:
    return SPACE_RE.sub(" ", text).strip().lower()


def shown(text: str, limit: int = 160) -> str:
    """Fetched text as one safe terminal line, cut to `limit` characters."""
    text = CONTROL_RE.sub(" ", SPACE_RE.sub(" ", text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def find_repos(names: list[str], given: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in names:
        short = name.split("/")[1]
        candidates = [p for p in given if short in str(p)]
        candidates += [MIRROR / name.replace("/", "+") / "repo", ROOT.parent / short]
        for path in candidates:
            if (path / "HEAD").exists() or (path / ".git").exists():
                found[name] = path
                break
    return found


def head_date(repo: Path) -> datetime:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%cI", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return datetime.fromisoformat(out)


@dataclass(slots=True)
class AlertCase:
    source_id: str
    old_at: datetime
    new_at: datetime
    threat: bool
    flags: tuple[Flag, ...]  # the lead flags
    classes: list[set[str]] = field(default_factory=list)  # per lead flag
    # A -> B -> A of the whole document, B standing at most --days: this change is undone by
    # the next version, or undoes the one before (what import-history's FLIP_WINDOW withdraws)
    whole_flip: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def all_classes(self) -> set[str]:
        return set().union(*self.classes) if self.classes else set()

    def verdict(self) -> str:
        if not self.classes or not all(self.classes):
            return "real?"
        for name in CLASSES:
            if all(name in c for c in self.classes):
                return name
        return "mixed"


def contained(text: str, doc_norm: str) -> bool:
    return bool(text) and norm(text) in doc_norm


def evidence_pieces(evidence: str) -> list[str]:
    return [p.strip() for p in evidence.split("…") if len(p.strip()) >= 30]


def classify(
    docs: list[Document],
    norms: list[str],
    times: list[datetime],
    i: int,
    changeset_changes: tuple,
    flag: Flag,
    days: int,
    partial: float,
) -> tuple[set[str], list[str]]:
    """The artefact classes of one flag of the change from version i-1 to version i."""
    classes: set[str] = set()
    notes: list[str] = []
    lengths = [len(n) for n in norms]
    old_len, new_len = lengths[i - 1], lengths[i]
    if new_len < (1 - partial) * old_len:
        classes.add("partial")
        notes.append(f"new version {new_len} chars vs old {old_len}")
    elif (
        i >= 2
        and old_len < (1 - partial) * lengths[i - 2]
        and new_len >= (1 - partial) * lengths[i - 2]
    ):
        classes.add("partial")
        notes.append(
            f"restoration: old {old_len} chars vs {lengths[i - 2]} before it, new {new_len}"
        )
    change = (
        changeset_changes[flag.change_index]
        if 0 <= flag.change_index < len(changeset_changes)
        else None
    )
    old_text = change.old.full_text if change is not None and change.old is not None else ""
    new_text = change.new.full_text if change is not None and change.new is not None else ""
    if change is not None:
        o, n = norm(old_text), norm(new_text)
        old_in_new = bool(o) and o in n
        new_in_old = bool(n) and n in o

        def is_new(doc: str) -> bool:
            if n and n not in doc:
                return False
            return not (o and not old_in_new and o in doc)

        def is_old(doc: str) -> bool:
            if o and o not in doc:
                return False
            return not (n and not new_in_old and n in doc)

        if o or n:
            for j in range(i + 1, len(docs)):
                if times[j] - times[i] > timedelta(days=days):
                    break
                if is_old(norms[j]):
                    classes.add("flip")
                    notes.append(f"reverted on {times[j]:%Y-%m-%d}")
                    break
            else:
                for k in range(i - 2, -1, -1):
                    if times[i] - times[k] > timedelta(days=days):
                        break
                    if is_new(norms[k]):
                        classes.add("flip")
                        notes.append(f"same state on {times[k]:%Y-%m-%d}, undone, now back")
                        break
    # moved: the flagged text was elsewhere in the other document already
    removal = flag.direction in (Direction.REMOVED, Direction.WEAKENED)
    other = norms[i] if removal else norms[i - 1]
    own = old_text if removal else new_text
    if (change is not None and change.old is not None and change.new is not None) or not own:
        # a modified clause: its own old text is in the other document by construction; look
        # for the quoted sentence only, outside the clause's old (new) text
        rest = other.replace(norm(new_text if removal else old_text), " ") if change else other
        if any(contained(p, rest) for p in evidence_pieces(flag.evidence)):
            classes.add("moved")
            notes.append("quoted sentence already elsewhere")
    elif contained(own, other) or any(contained(p, other) for p in evidence_pieces(flag.evidence)):
        classes.add("moved")
        notes.append("clause text already elsewhere")
    chrome_text = " ".join([old_text, new_text, flag.evidence])
    body = new_text or old_text
    links = sum(len(m) for m in LINK_RE.findall(body))
    if CHROME_RE.search(chrome_text) or (body and links > 0.5 * len(body)):
        classes.add("chrome")
        hit = CHROME_RE.search(chrome_text)
        notes.append(f"chrome: {hit.group(0)!r}" if hit else "chrome: mostly links")
    return classes, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, action="append", default=[])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="documents to import (0: all)")
    parser.add_argument("--budget", type=float, default=0, help="seconds of import at most")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--partial", type=float, default=0.5)
    parser.add_argument("--match", help="only the listed documents whose path holds this text")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=int, default=10)
    parser.add_argument(
        "--no-import",
        action="store_true",
        help="only read the documents already in the --keep archive",
    )
    parser.add_argument("--keep", type=Path, help="archive folder to keep (default: a temp one)")
    args = parser.parse_args()

    listing = args.corpus / "history-dev.yaml"
    if not listing.is_file():
        print(
            f"bench: no {listing}: this benchmark needs the shared corpus's history list;"
            " pass --corpus DIR",
            file=sys.stderr,
        )
        return 2
    data = yaml.safe_load(listing.read_text(encoding="utf-8"))
    heads = data["snapshot_heads"]
    repos = find_repos(list(heads), args.repo)
    for name in heads:
        if name not in repos:
            print(
                f"bench: {name} is absent (looked in --repo, {MIRROR}/{name.replace('/', '+')}/repo"
                f" and ../{name.split('/')[1]}); its documents are left out",
                file=sys.stderr,
            )
    if not repos:
        print("bench: no versions repository found; nothing to measure", file=sys.stderr)
        return 2
    for name, repo in repos.items():
        got = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        if got != heads[name]:
            print(f"bench: note: {name} HEAD is {got[:8]}, the list names {heads[name][:8]}")
    documents = [d for d in data["documents"] if d["repo"] in repos]
    if args.match:
        documents = [d for d in documents if args.match in d["path"]]
    random.Random(args.seed).shuffle(documents)
    if args.limit:
        documents = documents[: args.limit]

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-history-"))
    rules = load_rules()
    started = time.monotonic()
    imported: list[tuple[str, str, str]] = []  # (repo name, path, source id)
    commits = 0
    skipped_older = 0
    for doc in documents:
        service, _, filename = doc["path"].rpartition("/")
        sid = source_id(service, filename.removesuffix(".md"))
        # one archive per repository: a document in several repositories (pga-versions and
        # contrib-versions both hold "Reddit/Terms of Service.md") has a history in each
        where = root / doc["repo"].split("/")[1]
        if args.no_import:
            if (where / "catalog.sqlite").exists():
                with Archive(where) as archive:
                    if archive.versions(sid):
                        imported.append((doc["repo"], doc["path"], sid))
                        commits += doc["commits"]
            continue
        if args.budget and time.monotonic() - started > args.budget:
            print(f"bench: --budget reached after {len(imported)} documents")
            break
        where.mkdir(parents=True, exist_ok=True)
        with Archive(where) as archive, archive.lock():
            report = import_history(repos[doc["repo"]], archive, rules, only={sid})
        for problem in report.problems:
            skipped_older += "older than the archive's latest version" in problem
            if "older than the archive's latest version" not in problem:
                print(f"bench: import: {problem}", file=sys.stderr)
        imported.append((doc["repo"], doc["path"], sid))
        commits += doc["commits"]
    import_seconds = time.monotonic() - started

    cases: list[AlertCase] = []
    sensitivity: dict[tuple[int, float], Counter[str]] = defaultdict(Counter)
    changes_total = 0
    withdrawn = 0  # changes import-history did not alert on as flips
    doc_years = 0.0
    head_dates = {name: head_date(repo) for name, repo in repos.items()}
    stored: dict[str, dict[int, Alert]] = {}  # by archive: each change's alert, as recorded
    for name, _path, sid in imported:
        with Archive(root / name.split("/")[1]) as archive:
            versions = archive.versions(sid)
            if not versions:
                continue
            if name not in stored:  # the alerts the feeds publish, recorded as a pass does
                record_alerts(archive)
                stored[name] = {a.change_id: a for a in archive.alerts()}
            doc_years += (head_dates[name] - versions[0].recorded_at).days / 365.25
            docs = [archive.read_version(v) for v in versions]
            norms = [norm(d.text) for d in docs]
            times = [v.recorded_at for v in versions]
            at = {v.id: n for n, v in enumerate(versions)}
            for change in archive.changes(sid):
                changes_total += 1
                changeset = archive.read_changeset(change)
                withdrawn += any(n.startswith("Not alerted: a") for n in changeset.notes)
                alert = stored[name].get(change.id)
                if alert is None:
                    continue
                lead = tuple(f for f in alert.flags if is_threat(f)) or alert.flags
                i = at[change.new_version_id]
                case = AlertCase(
                    f"{name.split('/')[1]}:{sid}", times[i - 1], times[i], alert.threat, lead
                )
                window = timedelta(days=args.days)
                case.whole_flip = (
                    i + 1 < len(docs)
                    and docs[i + 1] == docs[i - 1]
                    and times[i + 1] - times[i] <= window
                ) or (i >= 2 and docs[i - 2] == docs[i] and times[i] - times[i - 1] <= window)
                for flag in lead:
                    got, notes = classify(
                        docs, norms, times, i, changeset.changes, flag, args.days, args.partial
                    )
                    case.classes.append(got)
                    case.notes += notes
                cases.append(case)
                for days, partial in SENSITIVITY:
                    other = AlertCase(sid, times[i - 1], times[i], alert.threat, lead)
                    for flag in lead:
                        got, _ = classify(
                            docs, norms, times, i, changeset.changes, flag, days, partial
                        )
                        other.classes.append(got)
                    sensitivity[days, partial][other.verdict()] += 1
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"history: {len(imported)} documents ({commits} listed commits) from"
        f" {', '.join(sorted(repos))}; import {import_seconds:.0f} s"
    )
    if skipped_older:
        print(
            f"  {skipped_older} commits skipped by import-history as older than the version"
            " before them (commit dates out of order in the repository)"
        )
    print(f"  {doc_years:.1f} document-years observed (first capture to the repository head)")
    print(
        f"  {changes_total} stored changes, {len(cases)} alerts"
        f" ({sum(c.threat for c in cases)} threats)"
    )
    print(f"  {withdrawn} changes not alerted by import-history as flips or partial captures")
    if not cases:
        return 0
    print(
        f"  alerts per document-year: {len(cases) / max(doc_years, 1e-9):.2f}"
        f" (threats {sum(c.threat for c in cases) / max(doc_years, 1e-9):.2f})"
    )
    verdicts = Counter(c.verdict() for c in cases)
    artefacts = len(cases) - verdicts["real?"]
    threat_cases = [c for c in cases if c.threat]
    threat_artefacts = sum(c.verdict() != "real?" for c in threat_cases)
    print(
        f"  artefact share: {artefacts}/{len(cases)} = {artefacts / len(cases):.0%} of alerts;"
        f" {threat_artefacts}/{len(threat_cases)} ="
        f" {threat_artefacts / max(len(threat_cases), 1):.0%} of threat alerts"
        f" (--days {args.days}, --partial {args.partial})"
    )
    print("  per class (first class that explains every lead flag; alerts in any class):")
    anyclass = Counter(name for c in cases for name in c.all_classes)
    for name in (*CLASSES, "mixed", "real?"):
        print(f"    {name:8} {verdicts[name]:5}   any: {anyclass.get(name, '-')}")
    whole = [c for c in cases if c.whole_flip]
    print(
        f"  whole-document flips (A -> B -> A within --days, next or previous version):"
        f" {len(whole)} alerts ({sum(c.threat for c in whole)} threats);"
        f" {sum(c.verdict() == 'flip' for c in whole)} of them counted as flip above"
    )
    print(
        "  artefact share with other thresholds: "
        + ", ".join(
            f"--days {d} --partial {p}: {1 - n['real?'] / len(cases):.0%}"
            for (d, p), n in sorted(sensitivity.items())
        )
    )
    per_source = Counter(c.source_id for c in cases)  # repository:source id
    print("  most alerts: " + ", ".join(f"{s} {n}" for s, n in per_source.most_common(8)))
    per_year: dict[int, Counter[str]] = defaultdict(Counter)
    for c in cases:
        per_year[c.new_at.year]["all"] += 1
        per_year[c.new_at.year]["artefact"] += c.verdict() != "real?"
    print(
        "  per year (alerts / artefacts): "
        + ", ".join(f"{y} {n['all']}/{n['artefact']}" for y, n in sorted(per_year.items()))
    )
    rng = random.Random(args.seed)
    if whole:
        print(
            f"\n== whole-document flips: {len(whole)} alerts, sample of {min(args.sample, len(whole))}"
        )
        for c in rng.sample(whole, min(args.sample, len(whole))):
            flag = c.flags[0]
            print(
                f"- {c.source_id} {c.old_at:%Y-%m-%d} -> {c.new_at:%Y-%m-%d}"
                f" {flag.rule_id} {flag.direction.value} [{c.verdict()}]"
            )
            print(f'    "{shown(flag.evidence)}"')
    for name in (*CLASSES, "mixed", "real?"):
        group = [c for c in cases if c.verdict() == name]
        if not group:
            continue
        print(f"\n== {name}: {len(group)} alerts, sample of {min(args.sample, len(group))}")
        for c in rng.sample(group, min(args.sample, len(group))):
            flag = c.flags[0]
            print(
                f"- {c.source_id} {c.old_at:%Y-%m-%d} -> {c.new_at:%Y-%m-%d}"
                f" {flag.rule_id} {flag.direction.value}"
                f"{f' (+{len(c.flags) - 1} flags)' if len(c.flags) > 1 else ''}"
                f" [{'; '.join(dict.fromkeys(c.notes))}]"
            )
            print(f'    "{shown(flag.evidence)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
