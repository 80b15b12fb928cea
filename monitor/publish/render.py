"""The jinja2 environment every publisher renders with (monitor/publish/templates/, inside the
package, so that an installed wheel renders too).

Owns: loading templates with autoescape always on, strict undefined variables, and the few
filters templates share. Must never: read the archive or write files.
"""

from __future__ import annotations

from functools import cache

import jinja2

from monitor.model import ChangeSet


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
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["heading"] = lambda path: " › ".join(path) or "(top of the document)"
    return env


def render_changeset_html(changeset: ChangeSet, title: str = "") -> str:
    """A ChangeSet as an HTML fragment: <ins>/<del> word changes, one <section> per change."""
    return environment().get_template("changeset.html").render(changeset=changeset, title=title)
