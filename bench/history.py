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
[--days N] [--partial FRACTION] [--keep DIR] [--corpus DIR] [--list FILE] [--labels FILE]
[--seed N]`. `--list bench/history-val.yaml --labels bench/history-val-labels.yaml` measures
on a second set: 69 documents of other services, chosen and labelled by a second annotator
after the rules were written (the kept-back platforms left out); `bench/history-val3.yaml`
with `bench/history-val3-labels.yaml`, on a third (58 documents), labelled by the annotator
who then fixed what it showed.
`--limit N` imports N documents, picked by a seeded shuffle of the list (default: all 320;
14,012 commits). `--budget` stops importing new documents after that many seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from difflib import SequenceMatcher
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.archive import Archive  # noqa: E402
from monitor.importers.ota import import_history, source_id  # noqa: E402
from monitor.model import Alert, Direction, Document, Flag  # noqa: E402
from monitor.rules.files import load_rules  # noqa: E402
from monitor.rules.policy import is_good_news, is_threat  # noqa: E402
from monitor.track import record_alerts  # noqa: E402
from monitor.trust import SUSPECT_NOTE  # noqa: E402

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
    repo: str = ""  # OpenTermsArchive/<name>
    path: str = ""  # the document's path in that repository
    alert: Alert | None = None  # as recorded: all its flags, categories, severity
    change_notes: tuple[str, ...] = ()

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


# ---- what a pass recorded: kinds of alert, held (suspect) versions, resources

KINDS = ("threat", "good news", "info")


def alert_kind(alert: Alert) -> str:
    """threat (widens what may be done with creators' content), good news (a promise not to
    train or an opt-out added or made firmer) or info (the rest)."""
    if alert.threat:
        return "threat"
    return "good news" if any(is_good_news(f) for f in alert.flags) else "info"


# How a change or version is marked as held while suspect, then confirmed or cancelled. The
# alert-trust work (issue 21 items 1-3) is not merged yet: this reads the change's notes and,
# if the catalog has one, a column named suspect/held on versions or changes. Adapt here.
# "suspect" only: import-history's partial-capture note says "The previous capture held less
# than half the text", which is no hold
def held_mark(notes: tuple[str, ...], decision: tuple[object, str] | None) -> str | None:
    """What became of a change whose notes mark its new version a suspect capture
    (monitor.trust's note): "held" (undecided: no row in the alerts table yet), "cancelled"
    (recorded as not alerted) or "confirmed"; None for a change that was never suspect.
    `decision` is the change's (alert_id, reason) row of the alerts table, or None."""
    if not any(note.startswith(SUSPECT_NOTE) for note in notes):
        return None
    if decision is None:
        return "held"
    return "cancelled" if decision[1].startswith("not alerted") else "confirmed"


def decisions(archive: Archive) -> dict[int, tuple[object, str]]:
    """Each decided change's (alert_id, reason), by change id."""
    rows = archive.catalog.query("SELECT change_id, alert_id, reason FROM alerts")
    return {int(str(r[0])): (r[1], str(r[2] or "")) for r in rows}


def held_columns(archive: Archive) -> list[tuple[str, str]]:
    """(table, column) pairs of the catalog that mark a version or change as suspect/held."""
    found = []
    for table in ("versions", "changes"):
        for row in archive.catalog.query(f"PRAGMA table_info({table})"):
            if re.search(r"suspect|held", str(row[1]), re.IGNORECASE):
                found.append((table, str(row[1])))
    return found


def held_column_counts(archive: Archive, source_id: str) -> Counter[str]:
    """Rows per value of each suspect/held column, for one source (empty if no such column)."""
    counts: Counter[str] = Counter()
    for table, column in held_columns(archive):
        for value, n in archive.catalog.query(
            f"SELECT {column}, COUNT(*) FROM {table} WHERE source_id = ? GROUP BY {column}",
            (source_id,),
        ):
            counts[f"{table}.{column}={value}"] += int(str(n))
    return counts


def archive_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with_path = os.path.join(folder, name)
            if not os.path.islink(with_path):
                total += os.path.getsize(with_path)
    return total


def peak_rss_mb() -> float:
    """Peak resident set size of this process (the import runs in it), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def held_line(held: Counter[str], rows: Counter[str]) -> str:
    if not held and not rows:
        return "n/a (no suspect marks in this archive)"
    line = (
        f"{sum(held.values())} changes noted as held: {held['confirmed']} confirmed,"
        f" {held['cancelled']} cancelled, {held['held']} still waiting"
    )
    if rows:
        line += "; catalog marks: " + ", ".join(f"{k} {n}" for k, n in sorted(rows.items()))
    return line


def print_kinds(cases: list[AlertCase]) -> None:
    """Alerts by kind (threat / good news / info), threat severity, and category x direction."""
    kinds = Counter(alert_kind(c.alert) for c in cases if c.alert)
    severities = Counter(c.alert.severity.value for c in cases if c.alert and c.alert.threat)
    print(
        "  alerts by kind: "
        + ", ".join(f"{k} {kinds[k]}" for k in KINDS)
        + "; threat severity: "
        + ", ".join(f"{s} {n}" for s, n in severities.most_common())
    )
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        if case.alert is None:
            continue
        kind = alert_kind(case.alert)
        for category in dict.fromkeys(f.category.value for f in case.alert.flags):
            table[category][kind] += 1
    print("  alerts by category (an alert with several categories counts in each):")
    for category, counts in sorted(table.items(), key=lambda kv: -sum(kv[1].values())):
        print(
            f"    {category:22} {sum(counts.values()):4}: "
            + ", ".join(f"{k} {counts[k]}" for k in KINDS)
        )
    lead = Counter(
        f"{c.flags[0].category.value} {c.flags[0].direction.value}" for c in cases if c.flags
    )
    print(
        "  lead flag (category direction): " + ", ".join(f"{k} {n}" for k, n in lead.most_common())
    )


# ---- labels: bench/history-labels.yaml

LABELS = ("real", "artefact", "restated", "wrong_meaning")
ARTEFACT_KINDS = ("partial", "flip", "chrome", "wrong_page", "stub", "spelling", "other")
LABEL_FIELDS = (
    "repo",
    "path",
    "source",
    "date",
    "category",
    "direction",
    "quote",
    "label",
    "reason",
)
QUOTE_CHARS = 120
DATE_SLACK = timedelta(days=1)
LOOSE_RATIO = 0.8  # a quote reworded by a rule change still matches its label


def quote_text(evidence: str) -> str:
    """The first QUOTE_CHARS characters of a flag's quote, spaces collapsed: what a label keeps."""
    return CONTROL_RE.sub(" ", SPACE_RE.sub(" ", evidence)).strip()[:QUOTE_CHARS]


def quote_key(quote: str) -> str:
    """A quote as a label key: link targets, case, punctuation and spacing dropped."""
    text = LINK_RE.sub(lambda m: m.group(0)[1:].split("](", 1)[0], quote)
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def change_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class Label:
    repo: str  # the versions repository's name: pga-versions
    path: str  # the document in it: "Google/Terms of Service.md"
    source: str  # the source id the bench gave it (informative: matching uses repo and path)
    day: date  # the change's capture date (UTC): the new version's
    category: str
    direction: str
    quote: str
    label: str
    reason: str
    rule: str = ""
    kind: str = ""  # threat / good news / info when labelled (informative)
    artefact: str = ""  # for an artefact: which kind (ARTEFACT_KINDS)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.repo, self.path, self.category, self.direction, quote_key(self.quote))


def load_labels(path: Path) -> list[Label]:
    """The labels file, checked: an error names the file, the entry and the field."""
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    entries = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping with a 'labels:' list")
    labels: list[Label] = []
    seen: dict[tuple[object, ...], int] = {}
    for n, entry in enumerate(entries, 1):
        where = f"{path}: label {n}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
        missing = [f for f in LABEL_FIELDS if entry.get(f) in (None, "")]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if entry["label"] not in LABELS:
            raise ValueError(f"{where}: label {entry['label']!r} is not one of {', '.join(LABELS)}")
        artefact = str(entry.get("artefact") or "")
        if entry["label"] == "artefact" and artefact not in ARTEFACT_KINDS:
            raise ValueError(
                f"{where}: an artefact needs 'artefact:' one of {', '.join(ARTEFACT_KINDS)}"
            )
        try:
            day = date.fromisoformat(str(entry["date"]))
        except ValueError as exc:
            raise ValueError(f"{where}: date {entry['date']!r} is not YYYY-MM-DD") from exc
        label = Label(
            repo=str(entry["repo"]),
            path=str(entry["path"]),
            source=str(entry["source"]),
            day=day,
            category=str(entry["category"]),
            direction=str(entry["direction"]),
            quote=str(entry["quote"]),
            label=str(entry["label"]),
            reason=str(entry["reason"]),
            rule=str(entry.get("rule") or ""),
            kind=str(entry.get("kind") or ""),
            artefact=artefact,
        )
        if (label.key, label.day) in seen:
            raise ValueError(f"{where}: same key and date as label {seen[label.key, label.day]}")
        seen[label.key, label.day] = n
        labels.append(label)
    return labels


def match_strength(label: Label, case: AlertCase) -> int:
    """2: a flag of the alert has the label's key exactly (date within DATE_SLACK); 1: the
    same, but the quote only close (reworded by a rule change); 0: no match."""
    if case.alert is None or label.repo != case.repo.split("/")[-1] or label.path != case.path:
        return 0
    if abs(change_date(case.new_at) - label.day) > DATE_SLACK:
        return 0
    want = quote_key(label.quote)
    best = 0
    for flag in case.alert.flags:
        if flag.category.value != label.category or flag.direction.value != label.direction:
            continue
        got = quote_key(quote_text(flag.evidence))
        if got == want:
            return 2
        shorter = min(len(got), len(want))
        if (shorter >= 40 and got[:shorter] == want[:shorter]) or (
            SequenceMatcher(None, got, want).ratio() >= LOOSE_RATIO
        ):
            best = 1
    return best


def assign_labels(
    cases: list[AlertCase], labels: list[Label]
) -> tuple[dict[int, tuple[Label, int]], list[Label]]:
    """Each alert's label (by position in `cases`, with the match strength), and the labels
    that no alert matches. An alert takes its strongest match, then the nearest date."""
    by_doc: dict[tuple[str, str], list[Label]] = defaultdict(list)
    for label in labels:
        by_doc[label.repo, label.path].append(label)
    assigned: dict[int, tuple[Label, int]] = {}
    used: set[int] = set()
    for n, case in enumerate(cases):
        options = []
        for label in by_doc.get((case.repo.split("/")[-1], case.path), ()):
            strength = match_strength(label, case)
            if strength:
                gap = abs((change_date(case.new_at) - label.day).days)
                options.append((-strength, gap, id(label), label))
        if options:
            options.sort(key=lambda o: o[:3])
            assigned[n] = (options[0][3], -options[0][0])
            used.update(id(o[3]) for o in options)
    return assigned, [label for label in labels if id(label) not in used]


def case_kind(case: AlertCase) -> str:
    if case.alert is not None:
        return alert_kind(case.alert)
    return "threat" if case.threat else "info"


def case_line(case: AlertCase) -> str:
    flag = case.flags[0]
    kind = case_kind(case)
    return (
        f"{case.source_id} {change_date(case.new_at)} [{kind}] {flag.category.value}"
        f" {flag.direction.value} {flag.rule_id}"
        f"{f' (+{len(case.flags) - 1} flags)' if len(case.flags) > 1 else ''}"
        f' "{shown(flag.evidence, 100)}"'
    )


def label_report(
    cases: list[AlertCase], labels: list[Label], path: Path, docs: set[tuple[str, str]]
) -> None:
    """Share of threat alerts labelled real, counts per label, real events lost, unlabelled
    alerts. `docs`: the (repository name, path) pairs imported in this run."""
    assigned, unmatched = assign_labels(cases, labels)
    print(f"\n== labels ({path.name}: {len(labels)} labels)")
    threats = [n for n, c in enumerate(cases) if c.threat]
    labelled_threats = [n for n in threats if n in assigned]
    real_threats = sum(assigned[n][0].label == "real" for n in labelled_threats)
    share = f"{real_threats / len(labelled_threats):.0%}" if labelled_threats else "n/a"
    print(
        f"  threat alerts labelled real: {real_threats}/{len(labelled_threats)} = {share}"
        f" (goal >= 90 %); {len(threats) - len(labelled_threats)} of {len(threats)} threat"
        " alerts unlabelled"
    )
    # by severity: a low alert is a clarification or a narrow widening (the corpus labels
    # clarifications of a training clause alert yes, low)
    for name, levels in (("medium or high", ("medium", "high")), ("low", ("low",))):
        group = [
            n
            for n in labelled_threats
            if (alert := cases[n].alert) is not None and alert.severity.value in levels
        ]
        real_n = sum(assigned[n][0].label == "real" for n in group)
        print(
            f"  threat alerts of {name} severity labelled real: {real_n}/{len(group)}"
            + (f" = {real_n / len(group):.0%}" if group else "")
        )
    for kind in KINDS:
        group = [n for n, c in enumerate(cases) if c.alert and alert_kind(c.alert) == kind]
        counts = Counter(assigned[n][0].label for n in group if n in assigned)
        print(
            f"  {kind:9} {len(group):4} alerts: "
            + ", ".join(f"{name} {counts[name]}" for name in LABELS)
            + f", unlabelled {len(group) - sum(counts.values())}"
        )
    wrong = [n for n in labelled_threats if assigned[n][0].label != "real"]
    if wrong:
        print(f"  threat alerts labelled not real ({len(wrong)}):")
        for n in wrong:
            label = assigned[n][0]
            print(
                f"    - [{label.label}] {case_line(cases[n])}\n        {shown(label.reason, 160)}"
            )
    kinds = Counter(assigned[n][0].artefact for n in assigned if assigned[n][0].label == "artefact")
    if kinds:
        print("  artefacts by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    loose = sum(strength == 1 for _label, strength in assigned.values())
    if loose:
        print(f"  {loose} alerts matched their label by a close quote only (reworded evidence)")
    # only labels of the documents imported in this run (--limit, --match leave some out)
    real = [label for label in labels if label.label == "real" and (label.repo, label.path) in docs]
    unkeyed = [label for label in unmatched if label.label == "real" and label in real]

    def alerted_same_day(label: Label) -> bool:
        return any(
            c.alert is not None
            and c.repo.split("/")[-1] == label.repo
            and c.path == label.path
            and abs(change_date(c.new_at) - label.day) <= DATE_SLACK
            for c in cases
        )

    other_flag = [label for label in unkeyed if alerted_same_day(label)]
    lost = [label for label in unkeyed if label not in other_flag]
    print(
        f"  real events lost (labelled real, no alert of the document that day +/- 1):"
        f" {len(lost)} of {len(real)}; {len(other_flag)} more alert under another flag of"
        " the same change (no alert with the label's key)"
    )
    for label in other_flag:
        print(
            f"    ~ {label.repo}:{label.source} {label.day} {label.category} {label.direction}"
            f' "{shown(label.quote, 100)}"'
        )
    for label in lost:
        print(
            f"    - {label.repo}:{label.source} {label.day} {label.category} {label.direction}"
            f' "{shown(label.quote, 100)}"'
        )
    others = [x for x in unmatched if x.label != "real" and (x.repo, x.path) in docs]
    if others:
        print(f"  {len(others)} labels of other kinds match no alert now (gone or moved)")
    unlabelled = [c for n, c in enumerate(cases) if n not in assigned]
    unlabelled.sort(key=lambda c: (not c.threat, c.source_id, c.new_at))
    print(f"  unlabelled alerts: {len(unlabelled)}")
    for case in unlabelled:
        print(f"    - {case_line(case)}")


# ---- the evidence of each alert, for labelling


def word_diff(old: str, new: str, context: int = 10) -> str:
    """The words removed [-...-] and added {+...+} from one clause text to the other, with
    `context` words around each change and … for the rest."""
    a, b = old.split(), new.split()
    out: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            same = a[i1:i2]
            if len(same) > 2 * context:
                head = same[:context] if out else []
                tail = same[-context:] if i2 < len(a) or j2 < len(b) else []
                out += [*head, "…", *tail]
            else:
                out += same
            continue
        if i2 > i1:
            out.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            out.append("{+" + " ".join(b[j1:j2]) + "+}")
    return " ".join(out)


def quote_history(flag: Flag, norms: list[str], times: list[datetime], i: int) -> str:
    """Where else in the document's history the flag's quoted sentence stood: the last version
    before the old one that held it (for an addition: seen before, then gone), and the first
    version after the new one that holds it again (for a removal: it came back)."""
    pieces = [norm(p) for p in evidence_pieces(flag.evidence)]
    if not pieces:
        return ""

    def holds(j: int) -> bool:
        return all(p in norms[j] for p in pieces)

    notes = []
    if flag.direction in (Direction.REMOVED, Direction.WEAKENED):
        back = next((j for j in range(i + 1, len(norms)) if holds(j)), None)
        if back is not None:
            notes.append(f"quote back on {times[back]:%Y-%m-%d}")
    else:
        if holds(i - 1):
            notes.append("quote already in old version")
        else:
            before = next((j for j in range(i - 2, -1, -1) if holds(j)), None)
            if before is not None:
                notes.append(f"quote seen before on {times[before]:%Y-%m-%d}")
        gone = next((j for j in range(i + 1, len(norms)) if not holds(j)), None)
        if gone is not None:
            notes.append(f"quote gone on {times[gone]:%Y-%m-%d}")
    return f"({'; '.join(notes)})" if notes else ""


def label_template(case: AlertCase) -> dict[str, object]:
    flag = case.flags[0]
    return {
        "repo": case.repo.split("/")[-1],
        "path": case.path,
        "source": case.source_id.split(":", 1)[-1],
        "date": change_date(case.new_at).isoformat(),
        "kind": case_kind(case),
        "category": flag.category.value,
        "direction": flag.direction.value,
        "rule": flag.rule_id,
        "quote": quote_text(flag.evidence),
        "label": "",
        "artefact": "",
        "reason": "",
    }


def write_dump(
    cases: list[AlertCase],
    evidence: list[list[tuple[Flag, str, str, str]]],
    sizes: list[str],
    labels: list[Label],
    out: Path,
) -> None:
    """Every alert with the old and new text of its flagged clauses, the document sizes
    around it and the bench's hints, then a labels template of the unlabelled ones."""
    assigned, _ = assign_labels(cases, labels)
    order = sorted(
        range(len(cases)),
        key=lambda n: (
            KINDS.index(case_kind(cases[n])),
            cases[n].source_id,
            cases[n].new_at,
        ),
    )
    lines: list[str] = []
    template = []
    for number, n in enumerate(order, 1):
        case = cases[n]
        got = assigned.get(n)
        lines.append(f"#### {number}. {case_line(case)}")
        lines.append(
            f"  {case.repo}/{case.path}  {case.old_at:%Y-%m-%d %H:%M} -> "
            f"{case.new_at:%Y-%m-%d %H:%M}  sizes {sizes[n]}"
        )
        lines.append(
            f"  hints: [{case.verdict()}] {'; '.join(dict.fromkeys(case.notes))}"
            f"{' whole-flip' if case.whole_flip else ''}"
        )
        for note in case.change_notes:
            lines.append(f"  note: {shown(note, 300)}")
        if got:
            lines.append(f"  LABEL: {got[0].label} ({got[0].artefact}) {got[0].reason}")
        else:
            template.append(label_template(case))
        shown_changes: set[int] = set()
        for flag, old, new, seen in evidence[n]:
            lines.append(
                f"  * {flag.category.value} {flag.direction.value} {flag.rule_id}"
                f" {'THREAT' if is_threat(flag) else ''} {seen}"
            )
            lines.append(f"    quote: {shown(flag.evidence, 400)}")
            if flag.change_index in shown_changes:
                continue
            shown_changes.add(flag.change_index)
            if old and new:
                lines.append(f"    DIFF: {shown(word_diff(old, new), 1500)}")
            else:
                lines.append(f"    OLD: {shown(old, 1200) if old else '(none)'}")
                lines.append(f"    NEW: {shown(new, 1200) if new else '(none)'}")
        lines.append("")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    template_path = out.with_suffix(".template.yaml")
    template_path.write_text(
        yaml.safe_dump({"labels": template}, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    print(f"bench: wrote {out} and {template_path} ({len(template)} unlabelled)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, action="append", default=[])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--list",
        type=Path,
        help="the documents to import (default: history-dev.yaml in --corpus); for instance"
        " bench/history-val.yaml, with --labels bench/history-val-labels.yaml",
    )
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
    parser.add_argument(
        "--labels",
        type=Path,
        default=ROOT / "bench" / "history-labels.yaml",
        help="hand labels of alerts (default: bench/history-labels.yaml)",
    )
    parser.add_argument(
        "--dump",
        type=Path,
        help="write every alert with its clauses' old and new text to this file, and a labels"
        " template of the unlabelled ones beside it (.template.yaml)",
    )
    args = parser.parse_args()
    try:
        labels = load_labels(args.labels)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    listing = args.list or args.corpus / "history-dev.yaml"
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
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        if head != heads[name]:
            print(f"bench: note: {name} HEAD is {head[:8]}, the list names {heads[name][:8]}")
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
    import_rss = peak_rss_mb()
    size = archive_bytes(root)

    cases: list[AlertCase] = []
    sensitivity: dict[tuple[int, float], Counter[str]] = defaultdict(Counter)
    changes_total = 0
    withdrawn = 0  # changes recorded as not alerted (monitor.trust: undone, restored, seen before)
    doc_years = 0.0
    head_dates = {name: head_date(repo) for name, repo in repos.items()}
    stored: dict[str, dict[int, Alert]] = {}  # by archive: each change's alert, as recorded
    held: Counter[str] = Counter()  # changes held as suspect: held (waiting), confirmed, cancelled
    held_rows: Counter[str] = Counter()  # rows per value of a catalog suspect/held column
    evidence: list[
        list[tuple[Flag, str, str, str]]
    ] = []  # per alert: flag, old and new clause text
    sizes: list[str] = []  # per alert: text sizes of the versions around the change
    for name, doc_path, sid in imported:
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
            held_rows.update(held_column_counts(archive, sid))
            decided = decisions(archive)
            for change in archive.changes(sid):
                changes_total += 1
                changeset = archive.read_changeset(change)
                decision = decided.get(change.id)
                withdrawn += decision is not None and decision[1].startswith("not alerted")
                mark = held_mark(changeset.notes, decision)
                if mark:
                    held[mark] += 1
                alert = stored[name].get(change.id)
                if alert is None:
                    continue
                lead = tuple(f for f in alert.flags if is_threat(f)) or alert.flags
                i = at[change.new_version_id]
                case = AlertCase(
                    f"{name.split('/')[1]}:{sid}",
                    times[i - 1],
                    times[i],
                    alert.threat,
                    lead,
                    repo=name,
                    path=doc_path,
                    alert=alert,
                    change_notes=changeset.notes,
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
                if args.dump:
                    pieces = []
                    for flag in alert.flags:
                        ch = (
                            changeset.changes[flag.change_index]
                            if 0 <= flag.change_index < len(changeset.changes)
                            else None
                        )
                        pieces.append(
                            (
                                flag,
                                ch.old.full_text if ch is not None and ch.old else "",
                                ch.new.full_text if ch is not None and ch.new else "",
                                quote_history(flag, norms, times, i),
                            )
                        )
                    evidence.append(pieces)
                    around = range(max(0, i - 2), min(len(norms), i + 2))
                    sizes.append(
                        " ".join(
                            f"{'*' if j == i else ''}{times[j]:%m-%d}:{len(norms[j])}"
                            for j in around
                        )
                    )
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
    print(
        f"  {withdrawn} changes recorded as not alerted (undone by the next capture, restoring"
        " an earlier text, or seen before: monitor/trust.py)"
    )
    print(
        (
            "  import: not run (--no-import)"
            if args.no_import
            else f"  import {import_seconds:.0f} s ({commits / max(import_seconds, 1e-9):.0f}"
            f" listed commits/s), peak RSS {import_rss:.0f} MB"
        )
        + f", archive {size / 1e6:.1f} MB ({root})"
    )
    print("  held as suspect: " + held_line(held, held_rows))
    print_kinds(cases)
    if args.dump:
        write_dump(cases, evidence, sizes, labels, args.dump)
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
    label_report(cases, labels, args.labels, {(r.split("/")[-1], p) for r, p, _ in imported})
    return 0


if __name__ == "__main__":
    sys.exit(main())
