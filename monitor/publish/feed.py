"""Feeds: Atom and RSS 2.0 of the stored Alerts, and an OPML list of them (feedgen lives here).

Owns: one feed overall, one per source, one per category and one per audience, each in Atom
and RSS, newest `feed_entries` alerts, filtered by `feed_min_severity`; entries with the
alert's stable tag: id, a plain summary, HTML content (the evidence and the clause diff, every
piece of fetched text escaped), categories and a link to the change's page on the history
site; an OPML file listing every feed once, in Atom (the RSS twin has the same path with .rss). Rebuilding with nothing new writes nothing: dates come
from the alerts, never from the clock. Must never: fetch, or write outside the output folder.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urljoin

from feedgen.feed import FeedGenerator

from monitor.archive import Archive
from monitor.archive.catalog import iso
from monitor.archive.files import TMP_PREFIX, replace_if_changed
from monitor.config import Settings
from monitor.errors import ArchiveError, ClausewatchError
from monitor.extract.document import clean_text
from monitor.model import SEVERITY_ORDER, Alert, Category, ChangeSet, Severity
from monitor.publish.events import Event, group_events
from monitor.publish.render import environment, said
from monitor.rules.policy import ALERT_CATEGORIES
from monitor.sources import AUDIENCES

NO_ALERTS_YET = datetime(2024, 1, 1, tzinfo=UTC)  # the date of an empty feed, so that it is stable


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed: where it goes, what it is called, which alerts it holds."""

    path: str  # relative to the output folder, without extension: "feeds/categories/ai_training"
    title: str
    description: str
    keep: Callable[[Event], bool]
    group: str  # for the OPML outline: "All", "Sources", "Categories", "Audiences"


def clean(text: str) -> str:
    """One line of XML-safe text: no control or bidi characters, no CR/LF (a title is one line)."""
    return " ".join(clean_text(text).split())


def _of_source(source_id: str, event: Event) -> bool:
    return source_id in event.source_ids  # an event over three documents is in their three feeds


def _in_category(category: Category, event: Event) -> bool:
    return category in event.categories


def _for_audience(audience: str, event: Event) -> bool:
    return audience in event.audiences or "everyone" in event.audiences


def feed_specs(sources: dict[str, str], audiences: Iterable[str]) -> list[FeedSpec]:
    """Every feed: overall, per source (id -> title), per category, per audience."""
    specs = [
        FeedSpec(
            "feeds/all",
            "Clausewatch: all alerts",
            "Every flagged change to the terms Clausewatch watches.",
            lambda a: True,
            "All",
        )
    ]
    for source_id, title in sorted(sources.items()):
        specs.append(
            FeedSpec(
                f"feeds/sources/{source_id}",
                f"Clausewatch: {title}",
                f"Flagged changes to {title}.",
                partial(_of_source, source_id),
                "Sources",
            )
        )
    for category in ALERT_CATEGORIES:
        label = category.value.replace("_", " ")
        specs.append(
            FeedSpec(
                f"feeds/categories/{category.value}",
                f"Clausewatch: {label}",
                f"Changes flagged as {label}, on every platform.",
                partial(_in_category, category),
                "Categories",
            )
        )
    for audience in sorted(set(audiences)):
        specs.append(
            FeedSpec(
                f"feeds/audiences/{audience}",
                f"Clausewatch for {audience}",
                f"Flagged changes on the platforms {audience} depend on.",
                partial(_for_audience, audience),
                "Audiences",
            )
        )
    return specs


def entry_html(event: Event, changeset: ChangeSet | None, base_url: str) -> str:
    """The HTML content of one entry: summary, the documents it appeared in (each change
    linked), flags with evidence, the flagged clause changes (of its first alert)."""
    indices = sorted({f.change_index for f in event.flags})
    changes = [changeset.changes[i] for i in indices if changeset and i < len(changeset.changes)]
    return (
        environment()
        .get_template("feed_entry.html")
        .render(alert=event, changes=changes, changeset=changeset, base_url=base_url)
    )


def _generator(
    spec: FeedSpec, entries: list[Event], base_url: str, content: Callable[[Event], str]
) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(urljoin(base_url, f"{spec.path}.atom"))
    fg.title(clean(spec.title))
    fg.subtitle(clean(spec.description))
    fg.description(clean(spec.description))
    fg.link(href=urljoin(base_url, "index.html"), rel="alternate")
    fg.link(href=urljoin(base_url, f"{spec.path}.atom"), rel="self")
    fg.language("en")
    fg.generator("Clausewatch")
    newest = max((e.updated_at for e in entries), default=NO_ALERTS_YET)
    fg.updated(newest)
    fg.lastBuildDate(newest)
    for event in reversed(entries):  # feedgen prepends: add oldest first, newest ends on top
        fe = fg.add_entry()
        fe.id(event.id)
        fe.guid(event.id, permalink=False)
        fe.title(clean(event.title))
        fe.link(href=urljoin(base_url, event.path))
        fe.published(event.recorded_at)  # the earliest: when the news was first seen
        fe.updated(event.updated_at)  # when it last appeared in another document
        fe.summary(clean(said(event)))
        fe.description(clean(said(event)))
        fe.content(content(event), type="html")
        for category in event.categories:
            fe.category(term=category.value, label=category.value.replace("_", " "))
        fe.category(
            term=f"severity:{event.severity.value}", label=f"severity {event.severity.value}"
        )
    return fg


def write_if_changed(path: Path, data: bytes) -> bool:
    """Replace a file atomically, and only when its bytes change. True when it was written."""
    try:
        return replace_if_changed(path, data)
    except ArchiveError as exc:  # the one atomic write names the file and the reason
        raise ClausewatchError(f"{exc}; the files already there are unchanged") from exc


def remove_temp_files(out_dir: Path) -> None:
    """Half-written files of a run that was killed (never renamed into place) are not pages."""
    if out_dir.is_dir():
        for tmp in out_dir.rglob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def opml(specs: list[FeedSpec], base_url: str) -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "Clausewatch feeds"
    body = ET.SubElement(root, "body")
    groups: dict[str, ET.Element] = {}
    for spec in specs:
        if spec.group not in groups:
            groups[spec.group] = ET.SubElement(body, "outline", text=spec.group, title=spec.group)
        # Atom only: a reader importing the list subscribes to each feed once. The RSS twin of
        # every feed is at the same path with .rss (README: "Feeds").
        ET.SubElement(
            groups[spec.group],
            "outline",
            type="rss",  # OPML's type for any syndication feed, Atom included
            text=clean(spec.title),
            title=clean(spec.title),
            xmlUrl=urljoin(base_url, f"{spec.path}.atom"),
            htmlUrl=urljoin(base_url, "index.html"),
        )
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def build_feeds(
    alerts: list[Alert],
    out_dir: Path,
    *,
    base_url: str,
    sources: dict[str, str],
    audiences: Iterable[str],
    changeset_of: Callable[[Alert], ChangeSet | None],
    entries: int = 50,
    min_severity: Severity = Severity.INFO,
) -> list[Path]:
    """Write every feed and the OPML under `out_dir`; returns the files that changed. One
    entry per event (monitor.publish.events): the same news in several documents or in
    several changes of a week is one entry, newest first by its earliest date."""
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    remove_temp_files(out_dir)
    shown = [
        e
        for e in group_events(alerts)
        if SEVERITY_ORDER[e.severity] >= SEVERITY_ORDER[min_severity]
    ]
    cache: dict[str, str] = {}

    def content(event: Event) -> str:
        if event.id not in cache:
            cache[event.id] = entry_html(event, changeset_of(event.first), base_url)
        return cache[event.id]

    specs = feed_specs(sources, audiences)
    written = []
    for spec in specs:
        selected = [a for a in shown if spec.keep(a)][:entries]
        fg = _generator(spec, selected, base_url, content)
        for ext, data in (("atom", fg.atom_str(pretty=True)), ("rss", fg.rss_str(pretty=True))):
            path = out_dir / f"{spec.path}.{ext}"
            if write_if_changed(path, data):
                written.append(path)
    opml_path = out_dir / "feeds" / "feeds.opml"
    if write_if_changed(opml_path, opml(specs, base_url)):
        written.append(opml_path)
    return written


def build_maintainer_feed(
    notices: list[dict[str, str]], out_dir: Path, *, base_url: str, authority: str
) -> list[Path]:
    """feeds/maintainer.atom/.rss: sources failing N times in a row, and their recoveries.
    For whoever runs Clausewatch; never mixed into creators' feeds."""
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    fg = FeedGenerator()
    fg.id(urljoin(base_url, "feeds/maintainer.atom"))
    fg.title("Clausewatch maintainers: failing sources")
    fg.subtitle("Sources that failed several checks in a row, and their recoveries.")
    fg.description("Sources that failed several checks in a row, and their recoveries.")
    fg.link(href=urljoin(base_url, "feeds/maintainer.atom"), rel="self")
    fg.generator("Clausewatch")
    times = [datetime.fromisoformat(n["at"]) for n in notices]
    newest = max(times, default=NO_ALERTS_YET)
    fg.updated(newest)
    fg.lastBuildDate(newest)
    for notice, at in reversed(list(zip(notices, times, strict=True))):
        fe = fg.add_entry()
        entry_id = f"tag:{authority},{at:%Y-%m-%d}:notice/{notice['id']}"
        fe.id(entry_id)
        fe.guid(entry_id, permalink=False)
        fe.title(clean(f"{notice['source_id']}: {notice['kind']}"))
        fe.published(at)
        fe.updated(at)
        fe.summary(clean(notice["detail"]))
        fe.description(clean(notice["detail"]))
    written = []
    for ext, data in (("atom", fg.atom_str(pretty=True)), ("rss", fg.rss_str(pretty=True))):
        path = out_dir / "feeds" / f"maintainer.{ext}"
        if write_if_changed(path, data):
            written.append(path)
    return written


def publish_feeds(
    archive: Archive, settings: Settings, titles: dict[str, str], out_dir: Path | None = None
) -> tuple[int, list[Path]]:
    """Every feed from the archive's stored alerts (and the maintainer feed). The caller has
    given every change its alert (track.record_alerts). Returns (alerts, files written)."""
    out_dir = out_dir or settings.public_dir
    alerts = archive.alerts()
    titles = dict(titles)
    for source_id in archive.source_ids():
        known = archive.source(source_id)
        if known is not None:
            titles.setdefault(source_id, known.title)

    def changeset_of(alert: Alert) -> ChangeSet | None:
        change = archive.change(alert.change_id)
        return archive.or_skip(archive.read_changeset, change) if change else None

    written = build_feeds(
        alerts,
        out_dir,
        base_url=settings.public_base_url,
        sources=titles,
        audiences=[a for a in AUDIENCES if a != "everyone"],
        changeset_of=changeset_of,
        entries=settings.feed_entries,
        min_severity=settings.feed_min_severity,
    )
    notices = [
        {
            "id": str(n.id),
            "source_id": n.source_id,
            "at": iso(n.at),
            "kind": n.kind,
            "detail": n.detail,
        }
        for n in archive.notices()[: settings.feed_entries]
    ]
    written += build_maintainer_feed(
        notices, out_dir, base_url=settings.public_base_url, authority=settings.tag_authority
    )
    return len(alerts), written
