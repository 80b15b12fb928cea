"""Open Terms Archive interop: declarations into sources, versions histories into the archive.

Owns: converting OTA service declarations (JSON: fetch, select, remove, combine, filters,
executeClientScripts) into sources.yaml entries, saying what cannot be converted and why;
and reading an OTA versions git repository (one Markdown file per service and document type,
one commit per recorded version) into the archive, oldest first, with its clause diffs and
flags, so that a new user starts with years of history. Technical-upgrade and first-capture
commits never alert; a commit already imported is skipped, so importing twice adds nothing.
Must never: fetch over the network (git runs on a local repository only).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cssselect import GenericTranslator, SelectorError

from monitor.archive import Archive
from monitor.diff import diff
from monitor.errors import ClausewatchError
from monitor.extract.markdown import parse as parse_markdown
from monitor.flag import flag_changes
from monitor.model import Origin, Snapshot, Source
from monitor.rules.language import RuleSet
from monitor.sources import slug

TECHNICAL_RE = re.compile(
    r"^(?:apply\s+technical|apply\s+declaration|start\s+tracking|refilter|extraction)",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Conversion:
    """What import-ota made of some declarations."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file: document: why it was left out"
    warnings: list[str] = field(default_factory=list)  # converted, but watch out


def _selectors(value: Any, name: str, where: str, conversion: Conversion) -> list[str] | None:
    """OTA selectors as CSS strings; None when one cannot be expressed (range selectors)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        if not isinstance(item, str):
            conversion.problems.append(
                f"{where}: {name} {json.dumps(item)} is a range selector (startBefore/endAfter), which Clausewatch does not support"
            )
            return None
        try:
            GenericTranslator().css_to_xpath(item)
        except SelectorError as exc:
            conversion.problems.append(
                f"{where}: {name} {item!r} is not CSS that Clausewatch can run: {exc}"
            )
            return None
        result.append(item)
    return result


def convert_declaration(
    data: dict[str, Any], origin: str, audiences: Iterable[str] = ()
) -> Conversion:
    conversion = Conversion()
    name = data.get("name")
    documents = data.get("documents") or data.get("terms")
    if not isinstance(name, str) or not isinstance(documents, dict):
        conversion.problems.append(
            f"{origin}: not an OTA service declaration (needs 'name' and 'documents')"
        )
        return conversion
    for doc_type, spec in documents.items():
        where = f"{origin}: {name} / {doc_type}"
        if not isinstance(spec, dict):
            conversion.problems.append(f"{where}: the document is not an object")
            continue
        if "combine" in spec:
            conversion.problems.append(
                f"{where}: assembled from {len(spec['combine'])} pages ('combine'); add each page as its own source"
            )
            continue
        url = spec.get("fetch")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            conversion.problems.append(f"{where}: no http(s) 'fetch' URL")
            continue
        select = _selectors(spec.get("select"), "select", where, conversion)
        remove = _selectors(spec.get("remove"), "remove", where, conversion)
        if select is None or remove is None:
            continue
        if spec.get("filter") or spec.get("filters"):
            names = spec.get("filter") or spec.get("filters")
            conversion.warnings.append(
                f"{where}: OTA filters {names} (JavaScript) are not applied; check the extracted text"
            )
        if spec.get("executeClientScripts"):
            conversion.warnings.append(
                f"{where}: OTA ran this page's scripts; a page built by JavaScript may extract as 'not terms'"
            )
        entry: dict[str, Any] = {
            "id": slug(f"{name} {doc_type}"),
            "platform": name,
            "document_type": doc_type,
            "url": url,
        }
        if select:
            entry["select"] = select
        if remove:
            entry["remove"] = remove
        if audiences:
            entry["audiences"] = list(audiences)
        conversion.entries.append(entry)
    return conversion


def convert_declarations(paths: Iterable[Path], audiences: Iterable[str] = ()) -> Conversion:
    total = Conversion()
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    for file in files:
        if file.name.endswith(".history.json"):
            continue  # past declarations, kept by OTA for its own re-extractions
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            total.problems.append(f"{file}: cannot read: {exc}")
            continue
        part = convert_declaration(data, str(file), list(audiences))
        total.entries += part.entries
        total.problems += part.problems
        total.warnings += part.warnings
    return total


def _git(repo: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=True, timeout=120
        )
    except FileNotFoundError:
        raise ClausewatchError("git is needed to read a versions repository") from None
    except subprocess.CalledProcessError as exc:
        raise ClausewatchError(
            f"{repo}: git {' '.join(args[:2])} failed: {exc.stderr.decode(errors='replace').strip()}"
        ) from None
    return result.stdout.decode("utf-8", errors="replace")


@dataclass(slots=True)
class ImportReport:
    sources: int = 0
    versions: int = 0
    skipped: int = 0  # commits imported before, or with text identical to the last version
    technical: int = 0
    problems: list[str] = field(default_factory=list)


def import_history(
    repo: Path, archive: Archive, rules: RuleSet, *, only: set[str] | None = None
) -> ImportReport:
    """Read every Markdown version of an OTA versions repository into the archive."""
    if not (repo / ".git").exists() and not (repo / "HEAD").exists():
        raise ClausewatchError(
            f"{repo}: not a git repository (clone an Open Terms Archive versions repository)"
        )
    report = ImportReport()
    files = [
        line
        for line in _git(repo, "ls-files", "*.md", "**/*.md").splitlines()
        if "/" in line and not line.startswith(".")
    ]
    for path in sorted(set(files)):
        service, _, filename = path.rpartition("/")
        document_type = filename.removesuffix(".md")
        source_id = slug(f"{service} {document_type}")
        if only and source_id not in only:
            continue
        source = Source(source_id, service, document_type, f"file://{repo.resolve()}/{path}")
        archive.sync_sources([source], datetime.now().astimezone())
        report.sources += 1
        log = _git(repo, "log", "--reverse", "--format=%H%x00%cI%x00%s", "--", path)
        for line in log.splitlines():
            commit, when, message = line.split("\x00", 2)
            origin = f"{source.url}#{commit}"
            if archive.has_snapshot_url(origin):
                report.skipped += 1
                continue
            recorded_at = datetime.fromisoformat(when)
            latest = archive.latest_version(source_id)
            if latest is not None and latest.recorded_at > recorded_at:
                report.problems.append(
                    f"{path}@{commit[:8]}: older than the archive's latest version of {source_id}; skipped"
                )
                report.skipped += 1
                continue
            text = _git(repo, "show", f"{commit}:{path}")
            document = parse_markdown(text, f"{service} {document_type}")
            technical = bool(TECHNICAL_RE.match(message)) and latest is not None
            changeset = None
            if latest is not None:
                previous = archive.read_version(latest)
                changeset = diff(previous, document, latest.id) if previous != document else None
            flags = flag_changes(changeset, rules) if changeset and not technical else ()
            snapshot = Snapshot(
                source_id, recorded_at, origin, 200, text.encode("utf-8"), "text/markdown", "utf-8"
            )
            stored = archive.store(
                snapshot,
                document,
                origin=Origin.TECHNICAL if technical else Origin.FETCHED,
                changeset=changeset,
                flags=flags,
                extractor="ota-markdown",
            )
            if stored.version is None:
                report.skipped += 1
            else:
                report.versions += 1
                report.technical += technical
    return report
