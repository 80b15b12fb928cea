"""Open Terms Archive interop: declarations into sources, versions histories into the archive.

Owns: converting OTA service declarations (JSON: fetch, select and remove with CSS and range
selectors, combine, executeClientScripts, filters) into sources.yaml entries, saying what cannot
be converted and why (only OTA's JavaScript filters, in the declarations of today);
which source each document of a versions repository goes to (sources.yaml's entry with its
declared URL or its platform and document type, --map, --only, or an id of its own); and reading
an OTA versions git repository (one Markdown file per service and document type, one commit
per recorded version) into the archive, oldest first, with its clause diffs and flags, so that
a new user starts with years of history. A capture too short to be terms (under the not_terms
threshold) is left out, as tracking leaves it out; a suspect one is noted as such; what is
alerted is decided afterwards, with the versions after each change, by monitor.trust (through
track.record_alerts), as for tracked sources. Technical-upgrade and first-capture commits never
alert (unless the upgrade mends captures too short to be terms: it is then the first reading of
the page since the last version, and is compared as a capture); a commit already imported is
skipped, so importing twice adds nothing.
Must never: fetch over the network (git runs on a local repository only).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import re
import subprocess
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from monitor import worker
from monitor.archive import Archive
from monitor.archive.store import IMPORTED_EXTRACTOR
from monitor.css import SelectorError, css_to_xpath
from monitor.diff import diff
from monitor.errors import ClausewatchError, ConfigError, UsageError, did_you_mean
from monitor.extract.markdown import RenderedVersion, render_version
from monitor.extract.markdown import parse as parse_markdown
from monitor.flag import flag_changes
from monitor.model import ChangeSet, Document, Flag, Origin, Snapshot, Source
from monitor.rules.cache import cached
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


# --- which source each document of a versions repository goes to ----------------------------


def _url_key(url: str) -> str:
    """A URL as compared with another: host without case or "www.", path without its
    trailing slash, the query kept; the scheme and fragment ignored."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{port}{parts.path.rstrip('/')}{query}"


def _fetch_urls(spec: Any) -> list[str]:
    """The fetch URLs of one declared document (its `fetch`, and each `combine` page's)."""
    if not isinstance(spec, dict):
        return []
    urls = [spec["fetch"]] if isinstance(spec.get("fetch"), str) else []
    for part in spec.get("combine") or []:
        if isinstance(part, dict) and isinstance(part.get("fetch"), str):
            urls.append(part["fetch"])
    return urls


@dataclass(frozen=True, slots=True)
class Declared:
    """What OTA's declarations say of one document of a versions repository."""

    name: str  # the service's name ("Truth Social" for the folder TruthSocial)
    urls: tuple[str, ...]  # where OTA fetches it, now and in its past declarations


def declared_documents(paths: Iterable[Path]) -> dict[str, Declared]:
    """The documents of OTA service declarations (folders of `<service>.json`, or files), by
    their path in a versions repository, `<service>/<document type>.md`: a service's folder
    there is its declaration's file name. Past URLs come from `<service>.history.json`."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"--declarations {path}: no such file or folder")
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    found: dict[str, tuple[str, list[str]]] = {}
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{file}: cannot read this declaration: {exc}") from None
        if not isinstance(data, dict):
            continue
        history = file.name.endswith(".history.json")
        service = file.name.removesuffix(".history.json" if history else ".json")
        documents = data if history else (data.get("documents") or data.get("terms") or {})
        if not isinstance(documents, dict):
            continue
        for document_type, spec in documents.items():
            _name, urls = found.setdefault(f"{service}/{document_type}.md", (service, []))
            for past in spec if history and isinstance(spec, list) else [spec]:
                urls += [u for u in _fetch_urls(past) if u not in urls]
            if not history and isinstance(data.get("name"), str):
                found[f"{service}/{document_type}.md"] = (data["name"], urls)
    return {path: Declared(name, tuple(urls)) for path, (name, urls) in found.items()}


def read_map(file: Path, repo_paths: Iterable[str], known_ids: Iterable[str]) -> dict[str, str]:
    """`--map FILE`: YAML mapping OTA paths (`<service>/<document type>.md`) to source ids.
    A path the repository does not hold or an id that is neither in sources.yaml nor in the
    archive is a ConfigError naming the file and line."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--map {file}: cannot read: {exc}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise ConfigError(f"not YAML: {getattr(exc, 'problem', exc)}", where=where) from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            "a map is a YAML mapping, `<service>/<document type>.md: source-id` on each line",
            where=f"{file}:{root.start_mark.line + 1}",
        )
    paths, ids = set(repo_paths), set(known_ids)
    mapping: dict[str, str] = {}
    for key, value in root.value:
        where = f"{file}:{key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            raise ConfigError(
                "each entry is `<service>/<document type>.md: source-id`", where=where
            )
        path, sid = str(key.value), str(value.value)
        if path not in paths:
            raise ConfigError(
                f"the repository holds no document {path!r}"
                + did_you_mean(path, paths)
                + "; nothing was imported",
                where=where,
            )
        if sid not in ids:
            raise ConfigError(
                f"{path!r} is mapped to {sid!r}, which is neither in the sources file nor in the"
                " archive" + did_you_mean(sid, ids) + "; nothing was imported",
                where=where,
            )
        if path in mapping:
            raise ConfigError(f"{path!r} is mapped twice; nothing was imported", where=where)
        mapping[path] = sid
    return mapping


def read_only(file: Path, repo_paths: Iterable[str]) -> set[str]:
    """`--only FILE`: the OTA paths to import, one a line (blank lines and `#` comments
    skipped); a path the repository does not hold is a ConfigError naming file and line."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--only {file}: cannot read: {exc}") from None
    paths, wanted = set(repo_paths), set()
    for number, line in enumerate(lines, 1):
        path = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not path:
            continue
        if path not in paths:
            raise ConfigError(
                f"the repository holds no document {path!r}"
                + did_you_mean(path, paths)
                + "; nothing was imported",
                where=f"{file}:{number}",
            )
        wanted.add(path)
    return wanted


@dataclass(frozen=True, slots=True)
class Picked:
    """A document of a versions repository and the source its versions go to."""

    path: str
    service: str
    document_type: str
    source: Source  # as recorded in the catalog: sources.yaml's entry, or one made for it
    how: str  # "map", "url", "platform" (and document type) or "created"


def match_source(
    path: str,
    service: str,
    document_type: str,
    sources: Sequence[Source],
    declared: Declared | None,
) -> tuple[list[Source], str]:
    """The sources.yaml entries a document goes to: those with one of its declared URLs,
    else those of its platform and document type (compared as slugs); and how."""
    if declared is not None and declared.urls:
        keys = {_url_key(url) for url in declared.urls}
        by_url = [
            s
            for s in sources
            if keys & {_url_key(s.url), *(_url_key(page.url) for page in s.pages)}
        ]
        if by_url:
            return by_url, "url"
    names = {slug(service)} | ({slug(declared.name)} if declared is not None else set())
    by_platform = [
        s
        for s in sources
        if slug(s.platform) in names and slug(s.document_type) == slug(document_type)
    ]
    return by_platform, "platform"


def _head(repo: Path) -> tuple[str, datetime] | None:
    """The repository's last commit and its date, or None when it has no commits yet."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%H%x00%cI", "HEAD"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except FileNotFoundError:
        raise ClausewatchError("git is needed to read a versions repository") from None
    commit, _, when = done.stdout.strip().partition("\0")
    if done.returncode != 0 or not when:
        return None
    return commit, datetime.fromisoformat(when)


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
    picked: list[Picked] = field(default_factory=list)  # the documents imported, and where
    older: dict[str, Older] = field(default_factory=dict)  # by source id: commits refused


@dataclass(slots=True)
class Older:
    """A document's commits older than the latest version its source had when they came:
    refused, since a source's versions are one history in date order."""

    path: str
    latest: datetime  # the source's latest version then
    commits: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, at: datetime) -> None:
        self.commits += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)


class GitReader:
    """One versions repository's files at given commits, through one `git cat-file --batch`
    process for the whole import (a process per commit was a third of an import's time)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GitReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            assert process.stdin is not None and process.stdout is not None
            with contextlib.suppress(OSError):
                process.stdin.close()
            process.stdout.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _batch(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            try:
                self._process = subprocess.Popen(
                    ["git", "-C", str(self.repo), "cat-file", "--batch"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except FileNotFoundError:
                raise ClausewatchError("git is needed to read a versions repository") from None
        return self._process

    def blob(self, commit: str, path: str) -> str:
        """The text of `path` at `commit` (UTF-8, undecodable bytes replaced)."""
        if "\n" in path:  # one request per line: such a name goes through `git show`
            return _git(self.repo, "show", f"{commit}:{path}")
        process = self._batch()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(f"{commit}:{path}\n".encode())
            process.stdin.flush()
            header = process.stdout.readline().decode("utf-8", "replace").split()
            if len(header) == 3 and header[1] == "blob":
                data = process.stdout.read(int(header[2]) + 1)[:-1]  # the blob, then "\n"
                return data.decode("utf-8", errors="replace")
        except (OSError, ValueError):
            self.close()
            raise ClausewatchError(f"{self.repo}: git cat-file stopped reading {path}") from None
        if not header:
            self.close()
        raise ClausewatchError(
            f"{self.repo}: git cannot read {path} at {commit[:8]}: {' '.join(header) or 'no answer'}"
        )


# Texts (and pairs of versions) an import remembers per document: a page flipping between a
# few captured states comes back to the same texts, parsed and diffed once each
REMEMBERED = 8


class _Recent(OrderedDict[Any, Any]):
    """A small least-recently-used memo."""

    def get_or(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        if len(self) > REMEMBERED:
            self.popitem(last=False)
        return value


class _VersionReader:
    """A document's text and parsed version at a commit; the Document of a text read again is
    the one already had (the last few texts are remembered)."""

    def __init__(self, git: GitReader, path: str, title: str) -> None:
        self.git, self.path, self.title = git, path, title
        self.parsed = _Recent()

    def __call__(self, commit: str) -> tuple[str, Document]:
        text = self.git.blob(commit, self.path)
        return text, self.parsed.get_or(text, lambda: parse_markdown(text, self.title))


class _Diffs:
    """`diff`, remembering the ChangeSets of the last few pairs of versions (A -> B and
    B -> A come back at each flip)."""

    def __init__(self) -> None:
        self.made = _Recent()

    def __call__(self, old: Document, new: Document) -> ChangeSet:
        changeset: ChangeSet = self.made.get_or((old, new), lambda: diff(old, new))
        return changeset


@dataclass(frozen=True, slots=True)
class _Latest:
    """The last version of a document's source, as planning the document's commits knows it."""

    recorded_at: datetime
    sha256: str
    document: Document


class Kept(StrEnum):
    """What a planned commit comes to."""

    SEEN = "seen"  # imported before
    OLDER = "older"  # older than the source's last version
    NOT_TERMS = "not terms"  # too short to be terms: left out, as tracking leaves it out
    STORED = "stored"  # a snapshot to store, and a version unless its text is the last one's


@dataclass(frozen=True, slots=True)
class _Step:
    """One commit of a document, worked out before anything of it is stored: everything the
    import's storing needs, small to send from a worker process (a rendered version, not a
    Document)."""

    commit: str
    recorded_at: datetime
    kept: Kept
    latest_at: datetime | None = None  # OLDER: when the version it is older than came
    content: bytes = b""  # STORED: the commit's text, the snapshot
    rendered: RenderedVersion | None = None
    new_version: bool = False  # STORED: its text is not the last version's
    technical: bool = False
    changeset: ChangeSet | None = None
    flags: tuple[Flag, ...] = ()


class _Planner:
    """A document's commits, in order, as _Steps: read, parsed, diffed with the last version,
    checked for suspicion and flagged. Everything a step depends on is the document's own
    history (`latest`, the source's last version when the document starts, then the versions
    it plans), so that the planning runs in a worker process while the import stores the steps
    planned before."""

    def __init__(
        self,
        read: Callable[[str], tuple[str, Document]],
        rules: RuleSet,
        seen: frozenset[str],
        latest: _Latest | None,
        min_chars: int,
    ) -> None:
        self.read, self.rules, self.seen, self.latest = read, rules, seen, latest
        self.min_chars = min_chars
        self.diffs = _Diffs()
        # a capture too short to be terms came since the last version: the extraction failed,
        # and the technical upgrade that mends it is the first reading of the page since that
        # version, with whatever the platform changed meanwhile (not technical)
        self.failed = False

    def plan(self, entries: Iterable[list[str]]) -> list[_Step]:
        return [self._step(commit, when, message) for commit, when, message in entries]

    def _step(self, commit: str, when: str, message: str) -> _Step:
        recorded_at = datetime.fromisoformat(when)
        if commit in self.seen:
            return _Step(commit, recorded_at, Kept.SEEN)
        latest = self.latest
        if latest is not None and latest.recorded_at > recorded_at:
            return _Step(commit, recorded_at, Kept.OLDER, latest_at=latest.recorded_at)
        text, document = self.read(commit)
        if sum(len(c.full_text) for c in document.clauses) < self.min_chars:
            # what tracking does with such a page (readers.extract: not_terms): a failed check,
            # no version; here, nothing is stored and the summary counts it
            self.failed = True
            return _Step(commit, recorded_at, Kept.NOT_TERMS)
        technical = bool(TECHNICAL_RE.match(message)) and latest is not None and not self.failed
        self.failed = False
        changeset: ChangeSet | None = None
        flags: tuple[Flag, ...] = ()
        previous = latest.document if latest is not None else None
        if previous is not None and previous != document:
            changeset = self.diffs(previous, document)
            if not technical:
                changeset = with_suspicion(changeset, previous, document)
                flags = (
                    flag_changes(changeset, self.rules, (previous, document)) if changeset else ()
                )
        rendered = render_version(document)
        new_version = latest is None or latest.sha256 != rendered.sha256
        if new_version:
            self.latest = _Latest(recorded_at, rendered.sha256, document)
        return _Step(
            commit,
            recorded_at,
            Kept.STORED,
            content=text.encode("utf-8"),
            rendered=rendered,
            new_version=new_version,
            technical=technical,
            changeset=changeset,
            flags=flags,
        )


# An import of at least this many commits plans its documents in worker processes ("lanes",
# one document in one lane, its commits in order), CHUNK commits a task, at most AHEAD commits
# a lane ahead of the storing (the steps waiting take memory): reading, parsing, diffing and
# flagging (four fifths of an import's time) run on the other cores (bench/import_speed.py)
POOL_FROM = 100
LANES = 2
CHUNK = 8
AHEAD = 192
_worker_git: dict[str, GitReader] = {}  # in a lane: one `git cat-file` per repository
_worker_plans: dict[int, _Planner] = {}  # in a lane: the documents it is planning
_worker_rules: list[RuleSet] = []  # in a lane: the import's rules


def _lane_setup(rules: RuleSet) -> None:
    _worker_rules[:] = [rules]


def _plan_in_lane(
    job: int,
    repo: str,
    path: str,
    title: str,
    start: tuple[frozenset[str], _Latest | None, int] | None,
    entries: list[list[str]],
    last: bool,
) -> list[_Step]:
    """A lane's task: the steps of a document's next `entries`; `start` (what was seen, the
    source's last version, the not_terms threshold) comes with the document's first task."""
    planner = _worker_plans.get(job)
    if planner is None:
        assert start is not None, "a document's first task says how it starts"
        git = _worker_git.get(repo)
        if git is None:
            git = _worker_git[repo] = GitReader(Path(repo))
        seen, latest, min_chars = start
        planner = _worker_plans[job] = _Planner(
            _VersionReader(git, path, title), _worker_rules[0], seen, latest, min_chars
        )
    try:
        return planner.plan(entries)
    finally:
        if last:
            del _worker_plans[job]


@dataclass(slots=True)
class _Job:
    """A document to plan in a lane, in CHUNK-commit tasks."""

    chosen: Picked
    title: str
    source_url: str  # its snapshots' URL, before "#commit"
    chunks: list[list[list[str]]]
    lane: int | None = None
    futures: deque[concurrent.futures.Future[list[_Step]]] = field(default_factory=deque)
    submitted: int = 0  # chunks given to the lane


class _Lanes:
    """Plans the import's documents in worker processes, ahead of their storing, which takes
    the jobs in order and each document's steps in order. A job starts in the lane with the
    fewest commits waiting, when it has room; each source has one document in an import
    (pick_documents), so a job's start (the source's last version) is known when it starts."""

    def __init__(
        self,
        lanes: Sequence[concurrent.futures.Executor],
        jobs: list[_Job],
        archive: Archive,
        repo: Path,
        min_chars: int,
    ) -> None:
        self.lanes, self.jobs, self.archive = lanes, jobs, archive
        self.repo, self.min_chars = str(repo), min_chars
        self.waiting = [0] * len(lanes)  # commits given to each lane and not yet stored
        self.next = 0  # the first job not given to a lane in full

    def _freest(self) -> int:
        """The lane with the fewest commits waiting."""
        return min(range(len(self.lanes)), key=self.waiting.__getitem__)

    def _submit(self, index: int) -> None:
        job = self.jobs[index]
        assert job.lane is not None
        start = None
        if job.submitted == 0:
            start = (
                *_start_of(self.archive, job.chosen.source.id, job.source_url, job.chunks),
                self.min_chars,
            )
        chunk = job.chunks[job.submitted]
        job.futures.append(
            self.lanes[job.lane].submit(
                _plan_in_lane,
                index,
                self.repo,
                job.chosen.path,
                job.title,
                start,
                chunk,
                job.submitted == len(job.chunks) - 1,
            )
        )
        job.submitted += 1
        self.waiting[job.lane] += len(chunk)

    def top_up(self) -> None:
        """Give the lanes what they have room for, the earlier jobs first."""
        for index in range(self.next, len(self.jobs)):
            job = self.jobs[index]
            if job.lane is None:
                lane = self._freest()
                if self.waiting[lane] >= AHEAD:
                    return
                job.lane = lane
            while job.submitted < len(job.chunks) and self.waiting[job.lane] < AHEAD:
                self._submit(index)
            if index == self.next and job.submitted == len(job.chunks):
                self.next += 1

    def steps(self, index: int) -> Iterator[list[_Step]]:
        """The steps of job `index` (the next one to store), a chunk at a time."""
        job = self.jobs[index]
        for _ in job.chunks:
            self.top_up()
            if not job.futures:  # its lane is full of later jobs: it goes next
                if job.lane is None:
                    job.lane = self._freest()
                self._submit(index)
            steps = job.futures.popleft().result()
            self.waiting[job.lane] -= len(steps)  # type: ignore[index]
            self.top_up()
            yield steps

    def close(self) -> None:
        for job in self.jobs:
            for future in job.futures:
                future.cancel()


def _start_of(
    archive: Archive, sid: str, url: str, chunks: Iterable[list[list[str]]]
) -> tuple[frozenset[str], _Latest | None]:
    """What planning a document starts from: its commits imported before, and its source's
    last version."""
    seen = frozenset(
        commit
        for chunk in chunks
        for commit, _, _ in chunk
        if archive.has_snapshot_url(f"{url}#{commit}")
    )
    latest = archive.latest_version(sid)
    if latest is None:
        return seen, None
    return seen, _Latest(latest.recorded_at, latest.sha256, archive.read_version(latest))


def pick_documents(
    repo: Path,
    files: list[str],
    archive: Archive,
    *,
    only: set[str] | None = None,
    sources: Sequence[Source] = (),
    declared: dict[str, Declared] | None = None,
    map_file: Path | None = None,
    only_file: Path | None = None,
) -> list[Picked]:
    """The documents of a versions repository to import, each with its source: the one
    `--map` names, else the sources.yaml entry with one of its declared URLs, else the one of
    its platform and document type, else the entry with its own id; else a source of its own
    id is made ("created"). `only` (source ids, theirs or their own) and `only_file` (paths)
    choose documents; both given, each adds its own. Every problem is raised before anything
    is imported."""
    declared = declared or {}
    by_id = {s.id: s for s in sources}
    known = set(by_id) | set(archive.source_ids())
    mapping = read_map(map_file, files, known) if map_file is not None else {}
    listed = read_only(only_file, files) if only_file is not None else None
    picked: list[Picked] = []
    own_ids: dict[str, str] = {}  # each document's own id, for --source
    ambiguous: dict[str, list[Source]] = {}
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
        own = own_ids[path] = source_id(service, document_type)
        file_url = f"file://{repo.resolve()}/{path}"
        if path in mapping:
            sid = mapping[path]
            described = by_id.get(sid) or archive.source(sid)
            assert described is not None  # read_map knows it
            picked.append(Picked(path, service, document_type, described, "map"))
            continue
        matches, how = match_source(path, service, document_type, sources, declared.get(path))
        if not matches and own in by_id:
            matches, how = [by_id[own]], "id"
        if len(matches) == 1:
            picked.append(Picked(path, service, document_type, matches[0], how))
            continue
        if len(matches) > 1:
            ambiguous[path] = matches
        source = Source(own, service, document_type, file_url)
        picked.append(Picked(path, service, document_type, source, "created"))
    chosen_ids = {p.path: {p.source.id, own_ids[p.path]} for p in picked}
    if only is not None:
        every = set().union(*chosen_ids.values())
        for sid in sorted(only - every):
            raise UsageError(
                f"--source {sid!r}: {repo} holds no such document"
                + did_you_mean(sid, every)
                + "; ids are those of sources.yaml, or <service>-<document type> slugs;"
                " nothing was imported"
            )
    if only is not None or listed is not None:
        picked = [
            p
            for p in picked
            if (listed is not None and p.path in listed)
            or (only is not None and chosen_ids[p.path] & only)
        ]
    taken: dict[str, str] = {}
    for p in picked:
        if p.path in ambiguous:
            names = ", ".join(repr(s.id) for s in ambiguous[p.path])
            raise ConfigError(
                f"{p.path!r} matches several sources of the sources file ({names}); say which"
                " with --map FILE (nothing was imported)",
                where=str(repo),
            )
        if p.source.id in taken:
            raise ConfigError(
                f"{taken[p.source.id]!r} and {p.path!r} both give the source id"
                f" {p.source.id!r}; rename one in the repository, leave one out (--only FILE)"
                " or map one to another source (--map FILE)"
                " (nothing was imported)",
                where=str(repo),
            )
        taken[p.source.id] = p.path
    return picked


# The import's rows are committed in batches, at most this far apart: a commit and its fsyncs
# per version were a sixth of an import's time
COMMIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """How far an import is: what a progress bar shows."""

    documents: int  # documents done
    documents_total: int
    commits: int  # commits done (imported or skipped)
    commits_total: int
    source_id: str  # the document being read


def import_history(
    repo: Path,
    archive: Archive,
    rules: RuleSet,
    *,
    only: set[str] | None = None,
    sources: Sequence[Source] = (),
    declared: dict[str, Declared] | None = None,
    map_file: Path | None = None,
    only_file: Path | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    min_chars: int = 200,
    stored: Callable[[str], None] | None = None,
) -> ImportReport:
    """Read every Markdown version of an OTA versions repository into the archive, each
    document into the source pick_documents gives it (`sources`: sources.yaml's entries);
    `progress` is told after each commit, and `stored` each source's id once its document
    is stored (the command decides its alerts then, while the next documents are planned)."""
    last_commit = time.monotonic()

    def step(done: ImportProgress) -> None:
        nonlocal last_commit
        if time.monotonic() - last_commit >= COMMIT_SECONDS:
            archive.commit()  # what is done so far is durable: an interrupted import keeps it
            last_commit = time.monotonic()
        if progress is not None:
            progress(done)

    # the same clause texts come back at every back-and-forth capture: matched once each
    rules = cached(rules)
    with GitReader(repo) as git, archive.batch():
        return _import_history(
            repo,
            archive,
            rules,
            git,
            only,
            step,
            sources,
            declared,
            map_file,
            only_file,
            min_chars,
            stored,
        )


PATHSPEC_UP_TO = 2


def _logs(repo: Path, paths: list[str]) -> dict[str, list[list[str]]]:
    """Each path's commits, oldest first, as [hash, committer date, subject]: one walk of the
    history for all of them (a `git log -- PATH` each walked it once per document: seconds
    each in contrib-versions' 42,000 commits). Git matches every changed name against every
    path given, so for more than PATHSPEC_UP_TO paths the walk names every file changed and
    the names are picked here: 62 documents of contrib-versions, 10.7 s -> 1.7 s (the same
    commits for every document of the four Open Terms Archive repositories, merges included)."""
    if not paths:
        return {}
    pathspec = [f":(literal){path}" for path in paths] if len(paths) <= PATHSPEC_UP_TO else []
    out = _git(
        repo,
        "log",
        "--reverse",
        "-z",
        "--name-only",
        "--no-renames",
        "--format=%x01%H%x00%cI%x00%s",
        "--",
        *pathspec,
    )
    logs: dict[str, list[list[str]]] = {path: [] for path in paths}
    for record in out.split("\x01")[1:]:
        commit, when, rest = record.split("\x00", 2)
        subject, _, names = rest.partition("\x00")  # the subject, then "\n" and the names
        for name in names.removeprefix("\n").split("\x00"):
            if name in logs:
                logs[name].append([commit, when, subject])
    return logs


def _import_history(
    repo: Path,
    archive: Archive,
    rules: RuleSet,
    git: GitReader,
    only: set[str] | None,
    progress: Callable[[ImportProgress], None] | None,
    sources: Sequence[Source],
    declared: dict[str, Declared] | None,
    map_file: Path | None,
    only_file: Path | None,
    min_chars: int,
    stored: Callable[[str], None] | None,
) -> ImportReport:
    if not (repo / ".git").exists() and not (repo / "HEAD").exists():
        raise ClausewatchError(
            f"{repo}: not a git repository (clone an Open Terms Archive versions repository)"
        )
    report = ImportReport()
    head = _head(repo)
    if head is None:
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
    picked = pick_documents(
        repo,
        files,
        archive,
        only=only,
        sources=sources,
        declared=declared,
        map_file=map_file,
        only_file=only_file,
    )
    report.picked = picked
    logs = _logs(repo, [p.path for p in picked])
    done = ImportProgress(0, len(picked), 0, sum(len(e) for e in logs.values()), "")
    url = f"file://{repo.resolve()}"
    jobs = [
        _Job(
            p,
            f"{p.service} {p.document_type}",
            f"{url}/{p.path}",
            [logs[p.path][at : at + CHUNK] for at in range(0, len(logs[p.path]), CHUNK)],
        )
        for p in picked
    ]
    with contextlib.ExitStack() as stack:
        lanes: _Lanes | None = None
        if done.commits_total >= POOL_FROM:
            pools = [
                stack.enter_context(worker.pool(1, _lane_setup, (rules,))) for _ in range(LANES)
            ]
            lanes = _Lanes(pools, jobs, archive, repo, min_chars)
            stack.callback(lanes.close)
        return _import_documents(
            archive, rules, git, lanes, jobs, done, progress, head, report, min_chars, stored
        )


def _import_documents(
    archive: Archive,
    rules: RuleSet,
    git: GitReader,
    lanes: _Lanes | None,
    jobs: list[_Job],
    done: ImportProgress,
    progress: Callable[[ImportProgress], None] | None,
    head: tuple[str, datetime],
    report: ImportReport,
    min_chars: int,
    stored: Callable[[str], None] | None,
) -> ImportReport:
    """Store each job's steps, planned in the lanes or (small imports) here."""
    for index, job in enumerate(jobs):
        chosen, sid = job.chosen, job.chosen.source.id
        done = replace(done, source_id=sid)
        # the snapshots record where the text was read (what makes a second import skip it);
        # the catalog describes the source as sources.yaml does, when it is there
        source = Source(sid, chosen.service, chosen.document_type, job.source_url)
        archive.sync_sources([chosen.source], datetime.now().astimezone())
        report.sources += 1
        planned: Iterable[list[_Step]]
        if lanes is not None:
            planned = lanes.steps(index)
        else:
            seen, latest = _start_of(archive, sid, job.source_url, job.chunks)
            planner = _Planner(
                _VersionReader(git, chosen.path, job.title), rules, seen, latest, min_chars
            )
            planned = (planner.plan(chunk) for chunk in job.chunks)
        for steps in planned:
            for step in steps:
                if progress is not None:
                    progress(done)
                    done = replace(done, commits=done.commits + 1)
                _store_step(archive, source, chosen.path, step, report)
        _seen_at_head(archive, source, head)
        if stored is not None:
            stored(sid)
        done = replace(done, documents=done.documents + 1)
        if progress is not None:
            progress(done)
    return report


def _store_step(
    archive: Archive, source: Source, path: str, step: _Step, report: ImportReport
) -> None:
    if step.kept is Kept.NOT_TERMS:
        report.not_terms += 1
        return
    if step.kept is not Kept.STORED:
        if step.kept is Kept.OLDER:
            assert step.latest_at is not None
            older = report.older.setdefault(source.id, Older(path, step.latest_at))
            older.add(step.recorded_at)
        report.skipped += 1
        return
    assert step.rendered is not None
    snapshot = Snapshot(
        source.id,
        step.recorded_at,
        f"{source.url}#{step.commit}",
        200,
        step.content,
        "text/markdown",
        "utf-8",
    )
    stored = archive.store(
        snapshot,
        step.rendered,
        origin=Origin.TECHNICAL if step.technical else Origin.FETCHED,
        changeset=step.changeset,
        flags=step.flags,
        extractor=IMPORTED_EXTRACTOR,
    )
    if (stored.version is not None) != step.new_version:
        # the plan's last version is not the archive's: something else wrote to this source
        # while the import ran (the archive's lock keeps that out)
        raise ClausewatchError(
            f"{source.id}: the import planned {step.commit[:8]} against another last version"
            " than the archive has; run the import again (it skips what it stored)"
        )
    if stored.version is None:
        report.skipped += 1
    else:
        report.versions += 1
        report.technical += step.technical


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
