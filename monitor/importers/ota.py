"""Open Terms Archive interop: declarations into sources, versions histories into the archive.

Owns: converting OTA service declarations (JSON: fetch, select and remove with CSS and range
selectors, combine, executeClientScripts, filters) into sources.yaml entries, saying what cannot
be converted and why (only OTA's JavaScript filters, in the declarations of today);
and reading an OTA versions git repository (one Markdown file per service and document type,
one commit per recorded version) into the archive, oldest first, with its clause diffs and
flags, so that a new user starts with years of history. A capture too short to be terms (under
the not_terms threshold) is left out, as tracking leaves it out; a suspect one is noted as
such; what is alerted is decided afterwards, with the versions after each change, by
monitor.trust (through track.record_alerts), as for tracked sources. Technical-upgrade and
first-capture commits never alert; a commit already imported is skipped, so importing twice
adds nothing.
Must never: fetch over the network (git runs on a local repository only).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.archive import Archive
from monitor.css import SelectorError, css_to_xpath
from monitor.diff import diff
from monitor.errors import ClausewatchError, ConfigError, UsageError, did_you_mean
from monitor.extract.markdown import parse as parse_markdown
from monitor.flag import flag_changes
from monitor.model import Document, Origin, Snapshot, Source
from monitor.rules.language import RuleSet
from monitor.sources import MAX_ID_CHARS, slug
from monitor.trust import with_suspicion

TECHNICAL_RE = re.compile(
    r"^(?:apply\s+technical|apply\s+declaration|start\s+tracking|refilter|extraction)",
    re.IGNORECASE,
)


def source_id(service: str, document_type: str) -> str:
    """The id of a service's document: "<service>-<document type>" as a slug, cut to the
    longest id sources.yaml takes with a digest of the whole kept, so two stay two."""
    whole = slug(f"{service} {document_type}")
    if len(whole) <= MAX_ID_CHARS:
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
    return f"{whole[: MAX_ID_CHARS - len(digest) - 1].rstrip('-')}-{digest}"


RANGE_KEYS = (("startBefore", "startAfter"), ("endBefore", "endAfter"))


@dataclass(slots=True)
class Conversion:
    """What import-ota made of some declarations."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file: document: why it was left out"
    warnings: list[str] = field(default_factory=list)  # converted, but watch out
    documents: int = 0  # documents declared (converted or not)
    browser: int = 0  # converted documents with a page OTA renders (fetch: browser)
    filtered: int = 0  # converted documents whose OTA JavaScript filters are left out
    unreadable: int = 0  # files that are not declarations (no documents counted from them)
    duplicates: int = 0  # documents left out as converted from an earlier file (same id)


def _css_problem(selector: Any) -> str | None:
    if not isinstance(selector, str) or not selector.strip():
        return "is not a CSS selector"
    try:
        css_to_xpath(selector)
    except SelectorError as exc:
        return f"is not CSS that Clausewatch can run: {str(exc).splitlines()[0]}"
    return None


def _selectors(value: Any, name: str, where: str, conversion: Conversion) -> list[Any] | None:
    """OTA selectors as sources.yaml writes them: CSS strings and range mappings, in order;
    None (with the problem noted) when one cannot be run."""
    if value is None:
        return []
    result: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            keys = [[key for key in side if key in item] for side in RANGE_KEYS]
            unknown = set(item) - {key for side in RANGE_KEYS for key in side}
            if unknown or any(len(side) != 1 for side in keys):
                conversion.problems.append(
                    f"{where}: {name} {json.dumps(item)} is not a range selector"
                    " (one of startBefore/startAfter and one of endBefore/endAfter)"
                )
                return None
            selectors = {key: item[key] for side in keys for key in side}
        else:
            selectors = {"": item}
        for key, selector in selectors.items():
            problem = _css_problem(selector)
            if problem:
                part = f" ({key})" if key else ""
                conversion.problems.append(
                    f"{where}: {name} {json.dumps(selector)}{part} {problem}"
                )
                return None
        result.append(item if isinstance(item, str) else selectors)
    return result


def _page(spec: dict[str, Any], where: str, conversion: Conversion) -> dict[str, Any] | None:
    """The url, select, remove and fetch mode that a declaration (or one page of a `combine`)
    gives itself; None when something in it cannot be converted."""
    page: dict[str, Any] = {}
    if "fetch" in spec:
        url = spec["fetch"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            conversion.problems.append(f"{where}: 'fetch' {json.dumps(url)} is not an http(s) URL")
            return None
        page["url"] = url
    for key in ("select", "remove"):
        if key in spec:
            selectors = _selectors(spec[key], key, where, conversion)
            if selectors is None:
                return None
            page[key] = selectors
    if "executeClientScripts" in spec:
        # OTA renders the page; without it, OTA too falls back to a browser when refused
        page["fetch"] = "browser" if spec["executeClientScripts"] is True else "auto"
    return page


def convert_declaration(
    data: dict[str, Any],
    origin: str,
    audiences: Iterable[str] = (),
    seen: dict[str, str] | None = None,
) -> Conversion:
    """One OTA service declaration as sources: `executeClientScripts` becomes `fetch: browser`,
    `combine` a list of `pages` (the document's own keys their shared defaults), range
    selectors stay ranges. Only OTA's JavaScript filters are left out, and named. `seen` maps
    the ids converted so far to where they came from: a document already there is left out."""
    seen = {} if seen is None else seen
    conversion = Conversion()
    name = data.get("name")
    documents = data.get("documents") or data.get("terms")
    if not isinstance(name, str) or not isinstance(documents, dict):
        conversion.problems.append(
            f"{origin}: not an OTA service declaration (needs 'name' and 'documents')"
        )
        conversion.unreadable += 1
        return conversion
    for doc_type, spec in documents.items():
        conversion.documents += 1
        where = f"{origin}: {name} / {doc_type}"
        if not isinstance(spec, dict):
            conversion.problems.append(f"{where}: the document is not an object")
            continue
        shared = _page({k: v for k, v in spec.items() if k != "combine"}, where, conversion)
        if shared is None:
            continue
        if shared.get("fetch") == "auto":
            del shared["fetch"]  # the default
        entry: dict[str, Any] = {
            "id": source_id(name, doc_type),
            "platform": name,
            "document_type": doc_type,
        }
        combine = spec.get("combine")
        if combine is not None:
            if not isinstance(combine, list) or not combine:
                conversion.problems.append(f"{where}: 'combine' is not a list of pages")
                continue
            pages = []
            for number, part in enumerate(combine, 1):
                page = _page(part, f"{where} (page {number})", conversion)
                if page is None:
                    break
                page.setdefault("url", shared.get("url"))
                if page["url"] is None:
                    conversion.problems.append(f"{where} (page {number}): no 'fetch' URL")
                    break
                pages.append(_own_keys(page, shared))
            else:
                shared.pop("url", None)
                entry.update(shared)
                entry["pages"] = pages
        elif "url" in shared:
            entry.update(shared)
        else:
            conversion.problems.append(f"{where}: no 'fetch' URL")
        if "url" not in entry and "pages" not in entry:
            continue
        if entry["id"] in seen:
            conversion.duplicates += 1
            conversion.warnings.append(
                f"{where}: left out, already converted from {seen[entry['id']]} (id {entry['id']})"
            )
            continue
        seen[entry["id"]] = where
        filters = [spec.get(key) for key in ("filter", "filters") if spec.get(key)]
        filters += [p.get(k) for p in combine or [] for k in ("filter", "filters") if p.get(k)]
        if filters:
            conversion.filtered += 1
            names = ", ".join(str(f) for group in filters for f in _as_list(group))
            conversion.warnings.append(
                f"{where}: OTA filters ({names}) are JavaScript and not converted;"
                " check the extracted text"
            )
        fetch_modes = [entry.get("fetch")] + [p.get("fetch") for p in entry.get("pages", [])]
        conversion.browser += "browser" in fetch_modes
        if audiences:
            entry["audiences"] = list(audiences)
        conversion.entries.append(entry)
    return conversion


def _own_keys(page: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """A page's url, and its keys that differ from the document's (its shared defaults)."""
    defaults = {"fetch": "auto", **shared}
    return {k: v for k, v in page.items() if k == "url" or defaults.get(k) != v}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def convert_declarations(paths: Iterable[Path], audiences: Iterable[str] = ()) -> Conversion:
    total = Conversion()
    seen: dict[str, str] = {}
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
            total.unreadable += 1
            continue
        part = convert_declaration(data, str(file), list(audiences), seen)
        total.entries += part.entries
        total.problems += part.problems
        total.warnings += part.warnings
        total.documents += part.documents
        total.browser += part.browser
        total.filtered += part.filtered
        total.unreadable += part.unreadable
        total.duplicates += part.duplicates
    return total


def _has_commits(repo: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD^{commit}"],
            capture_output=True,
            timeout=120,
        )
    except FileNotFoundError:
        raise ClausewatchError("git is needed to read a versions repository") from None
    return done.returncode == 0


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
    not_terms: int = 0  # captures under the not_terms threshold: left out, as tracking does
    problems: list[str] = field(default_factory=list)


class _VersionReader:
    """A document's text and parsed version at a commit; keeps the last two read, since
    the import reads each commit and looks one ahead."""

    def __init__(self, repo: Path, path: str, title: str) -> None:
        self.repo, self.path, self.title = repo, path, title
        self.read: dict[str, tuple[str, Document]] = {}

    def __call__(self, commit: str) -> tuple[str, Document]:
        if commit not in self.read:
            if len(self.read) >= 2:
                del self.read[next(iter(self.read))]
            text = _git(self.repo, "show", f"{commit}:{self.path}")
            self.read[commit] = text, parse_markdown(text, self.title)
        return self.read[commit]


def import_history(
    repo: Path,
    archive: Archive,
    rules: RuleSet,
    *,
    only: set[str] | None = None,
    min_chars: int = 200,
) -> ImportReport:
    """Read every Markdown version of an OTA versions repository into the archive."""
    if not (repo / ".git").exists() and not (repo / "HEAD").exists():
        raise ClausewatchError(
            f"{repo}: not a git repository (clone an Open Terms Archive versions repository)"
        )
    report = ImportReport()
    if not _has_commits(repo):
        raise UsageError(
            f"{repo}: the repository has no commits yet (clone an Open Terms Archive versions"
            " repository, e.g. git clone https://github.com/OpenTermsArchive/pga-versions)"
        )
    # the files of the last commit, read from git's objects, not a work tree: a bare clone
    # (git clone --bare) reads as well as a checkout. -z: paths as they are, not quoted and
    # escaped as git shows names outside ASCII
    listed = _git(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD").split("\0")
    files = sorted({p for p in listed if p.endswith(".md") and "/" in p and not p.startswith(".")})
    if not files:
        raise UsageError(
            f"{repo}: no <service>/<document type>.md files in its last commit: is it an Open"
            " Terms Archive versions repository (such as pga-versions)?"
        )
    documents = []
    taken: dict[str, str] = {}  # source id -> the path that gives it
    for path in files:
        service, _, filename = path.rpartition("/")
        document_type = filename.removesuffix(".md")
        for part in (service, document_type):
            if not slug(part):
                raise ConfigError(
                    f"the name {part!r} has no letter or digit to make a source id from;"
                    " rename it in the repository (nothing was imported)",
                    where=f"{repo}/{path}",
                )
        sid = source_id(service, document_type)
        if sid in taken and (only is None or sid in only):
            # two names for one id matter only to the documents imported: with --source, the
            # others (OTA's contrib-versions holds both "TP-Link" and "Tp-link") are left alone
            raise ConfigError(
                f"{taken[sid]!r} and {path!r} both give the source id {sid!r};"
                " rename one in the repository (nothing was imported)",
                where=str(repo),
            )
        taken.setdefault(sid, path)
        documents.append((path, service, document_type, sid))
    for sid in sorted((only or set()) - taken.keys()):
        raise UsageError(
            f"--source {sid!r}: {repo} holds no such document"
            + did_you_mean(sid, taken)
            + "; ids are <service>-<document type> slugs; nothing was imported"
        )
    head_commit, head_when = (
        _git(repo, "log", "-1", "--format=%H%x00%cI", "HEAD").strip().split("\0")
    )
    head = (head_commit, datetime.fromisoformat(head_when))
    for path, service, document_type, sid in documents:
        if only and sid not in only:
            continue
        source = Source(sid, service, document_type, f"file://{repo.resolve()}/{path}")
        archive.sync_sources([source], datetime.now().astimezone())
        report.sources += 1
        log = _git(repo, "log", "--reverse", "--format=%H%x00%cI%x00%s", "--", f":(literal){path}")
        entries = [line.split("\x00", 2) for line in log.splitlines()]
        version_at = _VersionReader(repo, path, f"{service} {document_type}")
        for commit, when, message in entries:
            origin = f"{source.url}#{commit}"
            if archive.has_snapshot_url(origin):
                report.skipped += 1
                continue
            recorded_at = datetime.fromisoformat(when)
            latest = archive.latest_version(sid)
            if latest is not None and latest.recorded_at > recorded_at:
                report.problems.append(
                    f"{path}@{commit[:8]}: older than the archive's latest version of {sid}; skipped"
                )
                report.skipped += 1
                continue
            text, document = version_at(commit)
            length = sum(len(c.full_text) for c in document.clauses)
            if length < min_chars:
                # what tracking does with such a page (readers.extract: not_terms): a failed
                # check, no version; here, nothing is stored and the summary counts it
                report.not_terms += 1
                continue
            technical = bool(TECHNICAL_RE.match(message)) and latest is not None
            changeset, previous = None, None
            if latest is not None:
                previous = archive.read_version(latest)
                changeset = diff(previous, document, latest.id) if previous != document else None
            if changeset is not None and previous is not None and not technical:
                changeset = with_suspicion(changeset, previous, document)
            flags = (
                flag_changes(changeset, rules, (previous, document))
                if changeset and not technical
                else ()
            )
            snapshot = Snapshot(
                sid, recorded_at, origin, 200, text.encode("utf-8"), "text/markdown", "utf-8"
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
        _seen_at_head(archive, source, head)
    return report


def _seen_at_head(archive: Archive, source: Source, head: tuple[str, datetime]) -> None:
    """Record that the repository's last commit, later than the document's last version, still
    saw that version: Open Terms Archive kept tracking (it commits a document only when it
    changes), so the version stood. It is the later check that confirms a change held for
    one (monitor.trust); recorded once."""
    commit, at = head
    latest = archive.latest_version(source.id)
    last_check = archive.last_check(source.id)
    if latest is None or at <= latest.recorded_at or (last_check is not None and last_check >= at):
        return
    snapshot = Snapshot(source.id, at, f"{source.url}#{commit}", 200, b"", "text/markdown", "utf-8")
    archive.record_unchanged(
        snapshot, f"the repository's last commit ({commit[:8]}) still holds this version"
    )
