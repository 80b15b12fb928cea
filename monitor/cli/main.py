"""The command line: parse, call the library, print. Thin on purpose.

Owns: argument parsing and turning ClausewatchErrors into messages and exit statuses. The
commands live in cli_track, cli_publish, cli_browse and cli_rules, imported only when used so
that a command starts without loading what it does not need. Must never: hold pipeline logic.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from monitor import __version__
from monitor.cli.base import Environment, ExitStatus, safe
from monitor.config import Settings, load_settings
from monitor.errors import ArchiveError, ClausewatchError, ConfigError, UsageError

# command -> "module:function"
COMMANDS = {
    "track": "monitor.cli.track:cmd_track",
    "verify": "monitor.cli.track:cmd_verify",
    "sources": "monitor.cli.track:cmd_sources",
    "diff": "monitor.cli.track:cmd_diff",
    "run": "monitor.cli.track:cmd_run",
    "feeds": "monitor.cli.publish:cmd_feeds",
    "digest": "monitor.cli.publish:cmd_digest",
    "site": "monitor.cli.publish:cmd_site",
    "serve": "monitor.cli.publish:cmd_serve",
    "check": "monitor.cli.browse:cmd_check",
    "history": "monitor.cli.browse:cmd_history",
    "show": "monitor.cli.browse:cmd_show",
    "rules": "monitor.cli.rules:cmd_rules",
    "import-ota": "monitor.cli.rules:cmd_import_ota",
    "import-history": "monitor.cli.rules:cmd_import_history",
}


def command(name: str) -> Callable[..., ExitStatus]:
    module, _, function = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausewatch",
        description="Watch platform terms for AI-training and content-licence changes.",
    )
    parser.add_argument("--version", action="version", version=f"clausewatch {__version__}")
    parser.add_argument("--config", type=Path, help="settings file (default: ./clausewatch.toml)")
    parser.add_argument("--archive", type=Path, help="archive folder (default: ./archive)")
    parser.add_argument("--sources", type=Path, help="sources file (default: ./sources.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    track = commands.add_parser("track", help="fetch sources once and archive what changed")
    track.add_argument(
        "source_ids", nargs="*", metavar="SOURCE", help="source ids (default: all enabled)"
    )
    track.add_argument("--json", action="store_true", help="print the summary as JSON")
    track.add_argument(
        "--verbose",
        action="store_true",
        help="the whole error of each failed source (default: a short reason on one line)",
    )

    verify = commands.add_parser("verify", help="check that archive files and catalog agree")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--repair",
        action="store_true",
        help="restore lost versions (from their snapshots) and changes (from their versions),"
        " and remove files of interrupted runs",
    )

    diff = commands.add_parser(
        "diff", help="show what changed, clause by clause, between two versions"
    )
    diff.add_argument("source_id", metavar="SOURCE", help="source id")
    diff.add_argument(
        "old",
        nargs="?",
        type=int,
        metavar="OLD",
        help="old version number (default: the one before NEW)",
    )
    diff.add_argument(
        "new", nargs="?", type=int, metavar="NEW", help="new version number (default: the latest)"
    )
    formats = diff.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print the ChangeSet as JSON")
    formats.add_argument("--markdown", action="store_true", help="print the ChangeSet as Markdown")
    formats.add_argument(
        "--html", action="store_true", help="print the ChangeSet as an HTML fragment"
    )
    diff.add_argument(
        "--no-color",
        action="store_true",
        help="no colour: deleted words as [-old-], inserted as {+new+} (also NO_COLOR, or when"
        " not on a terminal)",
    )

    feeds = commands.add_parser(
        "feeds", help="write the Atom/RSS feeds and their OPML list from the archive"
    )
    feeds.add_argument(
        "--public",
        type=Path,
        metavar="DIR",
        help="the public folder: the feeds go into DIR/feeds/ (default: public_dir, ./public)",
    )
    feeds.add_argument("--out", type=Path, help=argparse.SUPPRESS)  # an error that says --public

    run = commands.add_parser(
        "run", help="the daemon: track every source on its schedule, publish, send the digest"
    )
    run.add_argument(
        "--once", action="store_true", help="one pass over every source that is due, then exit"
    )

    digest = commands.add_parser(
        "digest", help="the weekly email digest: preview it, write it to files, or send it"
    )
    digest.add_argument(
        "--since",
        default="7d",
        metavar="7d",
        help="how many days the period covers: days (7d) or weeks (2w); default 7d",
    )
    digest.add_argument(
        "--until",
        metavar="DATE",
        help="the period's last day, included (2026-11-29, today, yesterday); default yesterday,"
        " the last whole day. A past period is rebuilt as it was; --send sends it only to"
        " whoever has not had that period",
    )
    outputs = digest.add_mutually_exclusive_group()
    outputs.add_argument(
        "--to-dir",
        type=Path,
        metavar="DIR",
        help="write each recipient's message as .eml, .txt and .html",
    )
    outputs.add_argument(
        "--send",
        action="store_true",
        help="send to every subscriber who has not had this period yet",
    )

    check = commands.add_parser(
        "check",
        help="flag every clause of a URL or file now (exit 3: AI training, licence, sharing)",
    )
    check.add_argument(
        "target",
        metavar="URL|FILE",
        help="a terms page URL, or an HTML, PDF, Markdown or text file",
    )
    check.add_argument(
        "--select",
        action="append",
        metavar="CSS|RANGE",
        help="CSS selector of the terms text, or a range '{startBefore: CSS, endBefore: CSS}'"
        " (repeatable)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    shown = check.add_mutually_exclusive_group()
    shown.add_argument(
        "--all",
        action="store_true",
        help="list the findings of every category (default: the creator categories only)",
    )
    shown.add_argument(
        "--category",
        action="append",
        metavar="NAME",
        help="list the findings of this category only (repeatable), e.g. arbitration",
    )

    history = commands.add_parser(
        "history", help="list a source's archived versions and what changed"
    )
    history.add_argument("source_id", metavar="SOURCE", help="source id")
    history.add_argument("--json", action="store_true", help="print the history as JSON")

    show = commands.add_parser(
        "show", help="print an archived version of a source (default: the latest)"
    )
    show.add_argument("source_id", metavar="SOURCE", help="source id")
    show.add_argument(
        "version",
        nargs="?",
        type=int,
        metavar="VERSION",
        help="version number (default: the latest)",
    )
    show.add_argument("--json", action="store_true", help="print the clauses as JSON")

    site = commands.add_parser("site", help="the static history site")
    site_commands = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    site_build = site_commands.add_parser("build", help="write the history site's pages")
    site_build.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: public_dir, ./public)"
    )

    serve = commands.add_parser("serve", help="serve public/ (site and feeds) on this machine")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)"
    )

    import_ota = commands.add_parser(
        "import-ota", help="convert Open Terms Archive declarations into sources.yaml entries"
    )
    import_ota.add_argument(
        "declarations",
        nargs="+",
        type=Path,
        metavar="DECLARATIONS",
        help="declaration JSON files or folders",
    )
    import_ota.add_argument(
        "--out", type=Path, metavar="FILE", help="write the entries to FILE (default: print them)"
    )
    import_ota.add_argument(
        "--audiences",
        nargs="+",
        metavar="AUDIENCE",
        default=[],
        help="audiences to give every entry",
    )

    import_history = commands.add_parser(
        "import-history", help="read an Open Terms Archive versions repository into the archive"
    )
    import_history.add_argument(
        "repo",
        type=Path,
        metavar="VERSIONS_REPO",
        help="a local clone of an OTA versions repository",
    )
    import_history.add_argument(
        "--source",
        action="append",
        metavar="ID",
        help="import only the document of this source id (repeatable)",
    )
    import_history.add_argument(
        "--only",
        type=Path,
        metavar="FILE",
        help="import only the documents listed in FILE (<service>/<document type>.md, one a line)",
    )
    import_history.add_argument(
        "--map",
        type=Path,
        metavar="FILE",
        help="YAML mapping <service>/<document type>.md to a source id, before any other match",
    )
    import_history.add_argument(
        "--declarations",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="OTA declarations (folders or files): their URLs map documents to sources.yaml",
    )

    rules = commands.add_parser(
        "rules", help="list the flagging rules, try them on text, or learn weighted rules"
    )
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    rules_list = rules_commands.add_parser(
        "list", help="list every rule with its category and description"
    )
    rules_list.add_argument("--json", action="store_true", help="print the rules as JSON")
    rules_test = rules_commands.add_parser(
        "test", help="show which rules fire on a file or a text, sentence by sentence"
    )
    rules_test.add_argument(
        "target", metavar="FILE|TEXT", help="a file to read, or the text itself"
    )
    rules_test.add_argument("--json", action="store_true", help="print the matches as JSON")
    rules_learn = rules_commands.add_parser(
        "learn",
        help="learn weighted rules from a labelled corpus in the CLAUDETTE layout "
        "(needs the 'learn' extra: scikit-learn)",
    )
    rules_learn.add_argument(
        "corpus", type=Path, metavar="DIR", help="sentences/en/original/ and tags/en/original/"
    )
    rules_learn.add_argument(
        "--documents",
        type=Path,
        metavar="LIST",
        help="a file naming the documents to learn from, one per line (default: all)",
    )
    rules_learn.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        required=True,
        help="where to write the pack (then name it in the `rules` setting or --rules)",
    )
    for sub in (track, run, check, import_history, rules_list, rules_test, rules_learn):
        sub.add_argument(
            "--rules",
            type=Path,
            action="append",
            metavar="FILE",
            help="a rule file instead of the shipped packs (repeatable; the `rules` setting)",
        )

    sources = commands.add_parser("sources", help="validate sources.yaml and list the sources")
    sources.add_argument("--json", action="store_true", help="print the sources as JSON")
    return parser


def _settings(args: argparse.Namespace, environment: Environment) -> Settings:
    settings = load_settings(args.config, environment.env, environment.cwd)
    changes = {}
    if args.archive:
        changes["archive_dir"] = (
            args.archive if args.archive.is_absolute() else environment.cwd / args.archive
        )
    if args.sources:
        changes["sources_file"] = (
            args.sources if args.sources.is_absolute() else environment.cwd / args.sources
        )
    if getattr(args, "rules", None):
        changes["rules"] = tuple(p if p.is_absolute() else environment.cwd / p for p in args.rules)
    if changes:
        import dataclasses

        settings = dataclasses.replace(settings, **changes)
    return settings


def main(argv: Sequence[str] | None = None, environment: Environment | None = None) -> int:
    environment = environment or Environment()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    console = Console(file=environment.stdout, highlight=False, soft_wrap=False)
    errors = Console(file=environment.stderr, highlight=False, soft_wrap=True)
    try:
        settings = _settings(args, environment)
        return int(command(args.command)(args, settings, console, environment))
    except (ConfigError, UsageError) as exc:
        errors.print(f"clausewatch: error: {safe(str(exc))}")
        return int(ExitStatus.USAGE)
    except ArchiveError as exc:
        errors.print(f"clausewatch: archive error: {safe(str(exc))}")
        return int(ExitStatus.ERROR)
    except ClausewatchError as exc:
        errors.print(f"clausewatch: error: {safe(str(exc))}")
        return int(ExitStatus.ERROR)
    except KeyboardInterrupt:
        errors.print("clausewatch: interrupted")
        return 130
