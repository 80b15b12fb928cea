"""The jinja2 environment every publisher renders with (monitor/publish/templates/, inside the
package, so that an installed wheel renders too), and what of a ChangeSet is shown.

Owns: loading templates with autoescape always on, strict undefined variables, and every value
cleaned of control and bidi characters on its way out (`finalize`: one place for pages, feeds
and mail); the display caps (a quote is shortened around the words that fired, an unchanged run
of words to its ends, a changed run to its start, so that a 5 MB clause never makes a 10 MB
page, feed or digest); the ChangeSet renderers (HTML here and in templates/, Markdown here; the
terminal's in cli.track walks the same change_view), and the filters templates share. Must
never: read the archive or write files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from monitor.alerts import plain_sentence, summary
from monitor.extract.document import clean_text
from monitor.extract.markdown import escape
from monitor.model import SEVERITY_ORDER, Alert, ChangeKind, ChangeSet, ClauseChange, Flag, SpanOp
from monitor.publish.events import Event
from monitor.rules.language import fired_words
from monitor.rules.policy import Verdict, verdict

QUOTE_CHARS = 600  # a quoted sentence (flag evidence): this much around the first fired word
CONTEXT_CHARS = 240  # of an unchanged run of words: this much at each end
CHANGED_CHARS = 2_000  # of one inserted or deleted run
CLAUSE_CHARS = 8_000  # of one change in all, and of a moved clause
HEADING_CHARS = 300
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def _shown(value: Any) -> Any:
    """jinja2's finalize: every value a template prints, before it is escaped."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean_text(value)
    return value


def _omitted(count: int) -> str:
    return f" [{ELLIPSIS} {count:,} characters not shown] "


def shorten(text: str, limit: int) -> str:
    """`text` if it is at most `limit` characters, else its start and a note of what is cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + _omitted(len(text) - limit)


def quote(text: str, words: Iterable[str] = (), limit: int = QUOTE_CHARS) -> str:
    """A quote of at most about `limit` characters, centred on the first of `words` it holds."""
    if len(text) <= limit:
        return text
    lower = text.lower()
    found = [i for i in (lower.find(w.lower()) for w in words if w) if i >= 0]
    centre = min(found) if found else 0
    start = max(0, min(centre - limit // 3, len(text) - limit))
    end = start + limit
    head = f"[{ELLIPSIS}] " if start else ""
    tail = f" [{ELLIPSIS}]" if end < len(text) else ""
    return head + text[start:end].strip() + tail


def heading_text(path: Iterable[str]) -> str:
    return shorten(" › ".join(path), HEADING_CHARS) or "(top of the document)"


@dataclass(frozen=True, slots=True)
class ShownSpan:
    op: str  # "equal" | "insert" | "delete" | "omitted"
    text: str


def shown_spans(change: ClauseChange) -> list[ShownSpan]:
    """A change's word spans as shown: unchanged runs cut to their ends, changed runs to their
    start, and no more than CLAUSE_CHARS in all (the rest counted, never silently dropped)."""
    spans = change.spans
    result: list[ShownSpan] = []
    budget = CLAUSE_CHARS
    for number, span in enumerate(spans):
        text = span.text
        if budget <= 0:
            rest = sum(len(s.text) for s in spans[number:])
            result.append(ShownSpan("omitted", _omitted(rest)))
            break
        if span.op is SpanOp.EQUAL:
            # the words next to a change stay; the middle of a long unchanged run goes
            first, last = number == 0, number == len(spans) - 1
            head = CONTEXT_CHARS if not first or last else 0
            tail = CONTEXT_CHARS if not last else 0
            if len(text) > head + tail + 60:
                if head:
                    result.append(ShownSpan("equal", text[:head]))
                result.append(ShownSpan("omitted", _omitted(len(text) - head - tail)))
                if tail:
                    result.append(ShownSpan("equal", text[-tail:]))
                budget -= head + tail
                continue
        elif len(text) > CHANGED_CHARS:
            result.append(ShownSpan(span.op.value, text[:CHANGED_CHARS]))
            result.append(ShownSpan("omitted", _omitted(len(text) - CHANGED_CHARS)))
            budget -= CHANGED_CHARS
            continue
        result.append(ShownSpan(span.op.value, text))
        budget -= len(text)
    return result


@dataclass(frozen=True, slots=True)
class ChangeView:
    """What is shown of one ClauseChange, whatever the output (HTML, Markdown, terminal)."""

    heading: str
    kind: str
    cosmetic: bool
    label: str  # the clause's number label, or ""
    renumbered: tuple[str, str] | None  # (old label, new label) when the number changed
    moved_text: str | None  # the whole (capped) clause, for a moved or renumbered clause
    spans: tuple[ShownSpan, ...]


def change_view(change: ClauseChange) -> ChangeView:
    clause = change.new or change.old
    assert clause is not None
    heading = heading_text(clause.heading_path)
    if change.kind in (ChangeKind.MOVED, ChangeKind.RENUMBERED):
        old_label = change.old.label if change.old else None
        new_label = change.new.label if change.new else None
        return ChangeView(
            heading,
            change.kind.value,
            change.cosmetic,
            "",
            (old_label or "(none)", new_label or "(none)") if old_label != new_label else None,
            shorten(clause.full_text, CLAUSE_CHARS),
            (),
        )
    return ChangeView(
        heading,
        change.kind.value,
        change.cosmetic,
        shorten(clause.label or "", HEADING_CHARS),
        None,
        None,
        tuple(shown_spans(change)),
    )


def clause_anchor(index: int) -> str:
    """The id of a ChangeSet's clause change `index` on its change page: stable, since a stored
    ChangeSet never changes, so a link to it lands on that clause."""
    return f"change-{index}"


@dataclass(frozen=True, slots=True)
class FlagView:
    """What is shown of one flag, wherever flags are shown (site, feeds, digest): its sentence,
    its colour by the alert policy, and where its clause is. A flag raised by the same sentence
    in several sections (the US and EEA versions of one page) is one FlagView, `also_in` the
    others."""

    flag: Flag
    sentence: str
    tone: str  # "threat-high" | "threat-medium" | "threat-low" | "good" | "neutral"
    index: int  # the clause change it is about
    section: str
    also_in: tuple[tuple[str, int], ...]  # (section, clause change index) of the same flag


def tone(flag: Flag) -> str:
    """A flag's colour class, from the one alert policy (monitor.rules.policy.verdict)."""
    kind = verdict(flag)
    if kind is Verdict.THREAT:
        return f"threat-{flag.severity.value if flag.severity.value != 'info' else 'low'}"
    return "good" if kind is Verdict.GOOD_NEWS else "neutral"


def alert_tone(alert: Alert | Event) -> str:
    """An alert's colour class: its worst threat by severity, else good news, else neutral."""
    threats = [f for f in alert.flags if verdict(f) is Verdict.THREAT]
    if threats:
        return tone(max(threats, key=lambda f: SEVERITY_ORDER[f.severity]))
    return "good" if any(verdict(f) is Verdict.GOOD_NEWS for f in alert.flags) else "neutral"


TONE_ORDER = {"threat-high": 0, "threat-medium": 1, "threat-low": 2, "good": 3, "neutral": 4}


def _path(flag: Flag, changeset: ChangeSet | None) -> tuple[str, ...]:
    if changeset is not None and 0 <= flag.change_index < len(changeset.changes):
        change = changeset.changes[flag.change_index]
        clause = change.new or change.old
        if clause is not None:
            return clause.heading_path
    return tuple(flag.change_key.rsplit(" #", 1)[0].split(" > "))


def flag_views(flags: Iterable[Flag], changeset: ChangeSet | None = None) -> list[FlagView]:
    """Flags as shown: the same category, direction and sentence once (the first, `also_in`
    the other sections, named by the headings that differ), threats first by severity, then
    good news, then the rest."""
    groups: dict[tuple[str, str, str], list[Flag]] = {}
    for flag in flags:
        key = (flag.category.value, flag.direction.value, " ".join(flag.evidence.lower().split()))
        groups.setdefault(key, []).append(flag)
    views = []
    for same in groups.values():
        first = same[0]
        path = _path(first, changeset)
        also: dict[tuple[str, int], None] = {}
        for other in same[1:]:
            other_path = _path(other, changeset)
            if other_path == path:
                continue
            common = 0
            while common < min(len(path), len(other_path)) - 1 and (
                path[common] == other_path[common]
            ):
                common += 1
            also[(heading_text(other_path[common:]), other.change_index)] = None
        views.append(
            FlagView(
                first,
                plain_sentence(first),
                tone(first),
                first.change_index,
                heading_text(path),
                tuple(also),
            )
        )
    views.sort(key=lambda v: (TONE_ORDER[v.tone], v.index))
    return views


def by_sentence(views: list[FlagView]) -> list[tuple[str, str, list[FlagView]]]:
    """Flag views under their sentence, in order: a change that adds seven training clauses says
    "The platform may now use your content..." once, with seven quotes under it. Each group:
    (sentence, the tone of its first view, its views)."""
    groups: dict[str, list[FlagView]] = {}
    for view in views:
        groups.setdefault(view.sentence, []).append(view)
    return [(sentence, same[0].tone, same) for sentence, same in groups.items()]


def said(alert: Alert | Event) -> str:
    """An alert's summary as shown today, from its flags (monitor.alerts.summary): an alert
    stored before the wording changed reads the same as a new one."""
    return summary(alert.flags)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.publish", "templates"),
        # HTML and XML always escape (terms text is untrusted); plain-text mail bodies do not,
        # since they are never interpreted as markup.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "xml"), disabled_extensions=("txt",), default=True
        ),
        undefined=jinja2.StrictUndefined,
        finalize=_shown,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["heading"] = heading_text
    env.filters["quote"] = quote
    env.filters["view"] = change_view
    env.filters["plain"] = plain_sentence  # a Flag in words: what the platform may now do
    env.filters["said"] = said  # an Alert's summary, from its flags
    env.filters["fired"] = fired_words  # a Flag's words, without function words
    env.filters["views"] = flag_views  # flags as shown: deduplicated, ordered, coloured
    env.filters["tone"] = alert_tone
    env.filters["by_sentence"] = by_sentence
    env.filters["anchor"] = clause_anchor
    return env


# --- the ChangeSet renderers: each output walks change_view, so all show the same, capped ----


def render_changeset_html(changeset: ChangeSet, title: str = "") -> str:
    """A ChangeSet as an HTML fragment: <ins>/<del> word changes, one <section> per change."""
    return environment().get_template("changeset.html").render(changeset=changeset, title=title)


def render_markdown(changeset: ChangeSet, title: str = "") -> str:
    """A ChangeSet as Markdown: a section per change, deletions ~~struck~~, insertions **bold**."""

    def md(text: str) -> str:
        return escape(clean_text(text))

    lines = [f"# {md(title)}", ""] if title else []
    lines += [f"> Note: {md(note)}\n" for note in changeset.notes]  # the diff's coarser paths
    if not changeset.changes:
        return "\n".join([*lines, "No changes."]) + "\n"
    for change in changeset.changes:
        view = change_view(change)
        note = " (cosmetic)" if view.cosmetic else ""
        lines += [f"## {md(view.heading)}: {view.kind}{note}", ""]
        if view.moved_text is not None:
            if view.renumbered:
                old, new = view.renumbered
                lines += [f"Number {md(old)} is now {md(new)}.", ""]
            lines += [md(view.moved_text), ""]
            continue
        rendered = []
        for span in view.spans:
            text = md(span.text.strip())
            if not text:
                continue
            wrap = {"insert": "**", "delete": "~~", "omitted": "_"}.get(span.op, "")
            rendered.append(f"{wrap}{text}{wrap}")
        label = f"{md(view.label)} " if view.label else ""
        lines += [label + " ".join(rendered), ""]
    return "\n".join(lines)
