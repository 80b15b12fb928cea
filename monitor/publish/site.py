"""The static history site: every source, version and change as plain HTML pages.

Owns: the pages under public/ (an index of sources with their last change and flags; filter
pages by category, audience and platform; a timeline per source; a page per change with the
clause diff, flags and quoted evidence; a page per version; alerts.html, every alert newest
first), written from templates/site/
with relative links so that the site works from file:// and from any web server. No page has
a script, and a Content-Security-Policy forbids them: terms text is shown as text. Rebuilding
renders again only the change and version pages whose inputs changed (Manifest), and rewrites
only pages whose bytes change; a change of more than PAGE_CHANGES clause changes is paged.
Must never: fetch or write to the archive.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

from monitor import __version__
from monitor.archive import Archive
from monitor.archive.catalog import StoredChange
from monitor.model import Alert, Source, Version
from monitor.publish.events import Event, group_events
from monitor.publish.feed import remove_temp_files, write_if_changed
from monitor.publish.render import FlagView, clause_anchor, environment, flag_views
from monitor.rules.policy import ALERT_CATEGORIES
from monitor.sources import AUDIENCES, slug


def platform_key(name: str) -> str:
    """A platform's name in a file name; "x" for a name with no letter or digit."""
    return slug(name) or "x"


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str
    platform: str
    audiences: tuple[str, ...]
    last_change: datetime | None
    last_change_path: str
    alert: Alert | None
    categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    version: Version
    change: StoredChange | None
    change_count: int
    alert: Alert | None


PAGE_CHANGES = 40  # clause changes on one change page; a longer change continues on more pages


def change_page(source_id: str, change_id: int, part: int = 0) -> str:
    """The path of a change page (relative to the site root): part 0 is <id>.html, the next
    ones <id>-2.html, <id>-3.html..., PAGE_CHANGES clause changes each."""
    suffix = f"-{part + 1}" if part else ""
    return f"sources/{source_id}/changes/{change_id}{suffix}.html"


def clause_path(source_id: str, change_id: int, index: int) -> str:
    """Where clause change `index` of a change is shown: its page and its stable anchor."""
    return f"{change_page(source_id, change_id, index // PAGE_CHANGES)}#{clause_anchor(index)}"


def tracked_url(source: Source, configured: Mapping[str, str]) -> str | None:
    """The address the site links as a document's source: its URL in sources.yaml, else the
    archived one when it is a web address; never a local file:// path (import-history records
    the file it read), so None when there is no web address."""
    url = configured.get(source.id) or source.url
    return url if urlsplit(url).scheme in ("http", "https") else None


def _render(template: str, out: Path, relative: str, written: list[Path], **context: Any) -> None:
    depth = relative.count("/")
    html = environment().get_template(template).render(root="../" * depth, **context)
    path = out / relative
    if write_if_changed(path, html.encode("utf-8")):
        written.append(path)


MANIFEST = ".site-manifest.json"  # under the output folder: the inputs each page was built from
_CODE = (
    "publish/site.py",
    "publish/render.py",
    "publish/events.py",
    "alerts.py",
    "flag.py",
    "rules/policy.py",
    "rules/language.py",
    "extract/document.py",
    "extract/markdown.py",
    "archive/serialize.py",
    "model.py",
)


@cache
def code_digest() -> str:
    """What every page depends on besides its data: the templates, the code that reads the
    archived files and renders and words them (sentences, colours, caps), and the version."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    files = sorted((package / "publish" / "templates").rglob("*")) + [package / c for c in _CODE]
    for file in files:
        if file.is_file():
            digest.update(file.relative_to(package).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _stat(archive: Archive, relative: str) -> tuple[int, int] | None:
    try:
        status = (archive.root / relative).stat()
    except OSError:
        return None  # missing: the page is rendered, and reading the file reports it
    return status.st_size, status.st_mtime_ns


def _key(*parts: object) -> str:
    """A digest of a page's inputs: the code, and reprs of the catalog rows and file stats it
    is built from (frozen dataclasses: their repr is their value)."""
    return hashlib.sha256(repr((code_digest(), *parts)).encode()).hexdigest()


class Manifest:
    """The inputs each page was built from, by page: a page whose inputs did not change is not
    rendered again (nor its files read), and so is not written. Kept as a JSON file in the
    output folder; a missing or unreadable one means every page is rendered once more."""

    def __init__(self, out: Path) -> None:
        self.path = out / MANIFEST
        self.out = out
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            self.old: dict[str, dict[str, Any]] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self.old = {}
        self.new: dict[str, dict[str, Any]] = {}

    def fresh(self, page: str, key: str) -> dict[str, Any] | None:
        """The entry of `page` when it was built from inputs with this key and its files are
        all still there; it is kept. None when the page must be rendered."""
        entry = self.old.get(page)
        if (
            isinstance(entry, dict)
            and entry.get("key") == key
            and all((self.out / f).is_file() for f in entry.get("files", [page]))
        ):
            self.new[page] = entry
            return entry
        return None

    def built(self, page: str, key: str, **facts: Any) -> None:
        self.new[page] = {"key": key, **facts}
        # a change now shown on fewer pages: its old last pages go (only files of this page)
        old = self.old.get(page)
        stale = old.get("files") if isinstance(old, dict) else None
        stale = stale if isinstance(stale, list) else []
        prefix = page.removesuffix(".html") + "-"
        for name in set(stale) - set(facts.get("files", [page])):
            if isinstance(name, str) and name.startswith(prefix) and "/" not in name[len(prefix) :]:
                (self.out / name).unlink(missing_ok=True)

    def save(self) -> None:
        data = json.dumps(self.new, sort_keys=True, indent=0).encode("utf-8")
        write_if_changed(self.path, data)  # not a page: never counted in `written`


def _change_pages(
    archive: Archive,
    out: Path,
    written: list[Path],
    source: Source,
    change: StoredChange,
    alert: Alert | None,
    manifest: Manifest,
    numbers: tuple[int | None, int | None] = (None, None),
) -> int | None:
    """Render one change's pages (unless their inputs are unchanged); returns its number of
    clause changes, or None when its file is damaged. `numbers` are the old and new
    versions' numbers within their source, which the page shows (its links keep the ids)."""
    page = change_page(source.id, change.id)
    key = _key(source, change, _stat(archive, change.path), alert, PAGE_CHANGES, numbers)
    entry = manifest.fresh(page, key)
    if entry is not None and isinstance(entry.get("count"), int):
        return int(entry["count"])
    changeset = archive.or_skip(archive.read_changeset, change)
    if changeset is None:
        return None
    flags = archive.or_skip(archive.read_flags, change) or ()
    parts = max(1, -(-len(changeset.changes) // PAGE_CHANGES))
    depth = "../" * page.count("/")
    files = []
    for part in range(parts):
        first = part * PAGE_CHANGES
        relative = change_page(source.id, change.id, part)
        files.append(relative)
        _render(
            "site/change.html",
            out,
            relative,
            written,
            source=source,
            change=change,
            changeset=changeset,
            shown=range(first, min(first + PAGE_CHANGES, len(changeset.changes))),
            part=part,
            parts=[change_page(source.id, change.id, n) for n in range(parts)],
            flags=flags,
            alert=alert,
            old_number=numbers[0],
            new_number=numbers[1],
            clause_href=lambda index: depth + clause_path(source.id, change.id, index),
        )
    manifest.built(page, key, count=len(changeset.changes), files=files)
    return len(changeset.changes)


def _version_page(
    archive: Archive,
    out: Path,
    written: list[Path],
    source: Source,
    version: Version,
    manifest: Manifest,
) -> None:
    page = f"sources/{source.id}/versions/{version.id}.html"
    key = _key(source, version, _stat(archive, version.path))
    if manifest.fresh(page, key) is not None:
        return
    document = archive.or_skip(archive.read_version, version)
    if document is None:  # a damaged file is reported by the command, and skipped
        return
    _render(
        "site/version.html", out, page, written, source=source, version=version, document=document
    )
    manifest.built(page, key)


def build_site(archive: Archive, out: Path, urls: Mapping[str, str] | None = None) -> list[Path]:
    """Write every page under `out`; returns the pages that changed. `urls` are the sources'
    configured addresses (sources.yaml), by id: what a source page links to.

    Incremental: a change or version page whose inputs (its catalog rows, its file's size and
    time, its source, its alert, the code and templates) are those it was last built from is
    neither rendered nor read again (Manifest); the index, filter, alerts and source pages are
    rendered from the catalog each time and written only when their bytes change."""
    urls = urls or {}
    written: list[Path] = []
    remove_temp_files(out)
    manifest = Manifest(out)
    alerts_by_change = {a.change_id: a for a in archive.alerts()}
    rows: list[Row] = []
    for source_id in archive.source_ids():
        source = archive.source(source_id)
        if source is None:
            continue
        versions = archive.versions(source_id)
        changes = archive.changes(source_id)
        by_new_version = {c.new_version_id: c for c in changes}
        number = {v.id: v.number for v in versions}  # pages show numbers; URLs keep ids
        alerts = [alerts_by_change[c.id] for c in changes if c.id in alerts_by_change]
        timeline = []
        for version in reversed(versions):
            change = by_new_version.get(version.id)
            alert = alerts_by_change.get(change.id) if change else None
            count = (
                _change_pages(
                    archive,
                    out,
                    written,
                    source,
                    change,
                    alert,
                    manifest,
                    (number.get(change.old_version_id or 0), number.get(change.new_version_id)),
                )
                if change
                else None
            )
            timeline.append(TimelineItem(version.recorded_at, version, change, count or 0, alert))
            _version_page(archive, out, written, source, version, manifest)
        _render(
            "site/source.html",
            out,
            f"sources/{source_id}/index.html",
            written,
            source=source,
            timeline=timeline,
            url=tracked_url(source, urls),
        )
        last = changes[-1] if changes else None
        rows.append(
            Row(
                source.id,
                source.title,
                source.platform,
                source.audiences,
                last.recorded_at if last else None,
                change_page(source_id, last.id) if last else "",
                alerts[-1] if alerts else None,
                frozenset(c.value for a in alerts for c in a.categories),
            )
        )
    _index_pages(rows, out, written)
    _alerts_page(list(alerts_by_change.values()), out, written)
    manifest.save()
    return written


@dataclass(frozen=True, slots=True)
class AlertItem:
    alert: Event  # one event: an alert, or the same news in several documents or changes
    views: list[FlagView]
    href: Callable[[int], str]  # clause change index -> its page and anchor


def _alerts_page(alerts: list[Alert], out: Path, written: list[Path]) -> None:
    """alerts.html: every event on every platform (grouped as the feeds group them:
    monitor.publish.events), newest first by its earliest date, by week (Monday to Sunday,
    UTC), each flag's sentence linking to its clause, each document it appeared in listed."""
    events = group_events(alerts)
    weeks: dict[date, list[AlertItem]] = {}
    for event in events:
        day = event.recorded_at.astimezone(UTC).date()
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(
            AlertItem(
                event,
                flag_views(event.flags),
                partial(clause_path, event.source_id, event.change_id),
            )
        )
    _render(
        "site/alerts.html",
        out,
        "alerts.html",
        written,
        weeks=list(weeks.items()),
        count=len(events),
    )


def _index_pages(rows: list[Row], out: Path, written: list[Path]) -> None:
    rows = sorted(
        rows,
        key=lambda r: (
            r.last_change is None,
            -(r.last_change.timestamp() if r.last_change else 0),
            r.title,
        ),
    )
    by_platform: dict[str, list[Row]] = {}
    for row in rows:
        by_platform.setdefault(platform_key(row.platform), []).append(row)
    platforms = sorted({(key, r.platform) for key, same in by_platform.items() for r in same})
    categories = [c.value for c in ALERT_CATEGORIES]
    audiences = [a for a in AUDIENCES if a != "everyone"]
    filters = environment().get_template("site/_filters.html")
    # the filter rows once for the index (root "") and once for the filter pages ("../")
    rows_at = {
        root: Markup(
            filters.render(
                root=root, categories=categories, audiences=audiences, platforms=platforms
            )
        )
        for root in ("", "../")
    }
    common: dict[str, Any] = {"filters": rows_at[""]}
    _render(
        "site/index.html",
        out,
        "index.html",
        written,
        heading="Platform terms we watch",
        rows=rows,
        **common,
    )
    common = {"filters": rows_at["../"]}
    for category in categories:
        chosen = [r for r in rows if category in r.categories]
        label = category.replace("_", " ")
        _render(
            "site/index.html",
            out,
            f"filters/category-{category}.html",
            written,
            heading=f"Documents with {label} changes",
            rows=chosen,
            **common,
        )
    for audience in audiences:
        chosen = [r for r in rows if audience in r.audiences or "everyone" in r.audiences]
        _render(
            "site/index.html",
            out,
            f"filters/audience-{audience}.html",
            written,
            heading=f"Documents for {audience}",
            rows=chosen,
            **common,
        )
    for platform_slug, name in platforms:
        chosen = by_platform[platform_slug]
        _render(
            "site/index.html",
            out,
            f"filters/platform-{platform_slug}.html",
            written,
            heading=f"{name} documents",
            rows=chosen,
            **common,
        )
