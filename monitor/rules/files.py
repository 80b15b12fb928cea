"""Reading rule files: YAML packs (monitor/rules/*.yaml by default) into compiled Rules.

The language itself is described in monitor.rules. Owns: the keys a rule file may use, their
checks, and errors that name file, line and rule id (a ConfigError). Must never: match text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError
from monitor.model import Category, Severity
from monitor.rules.language import (
    TOKEN_RE,
    Actor,
    Polarity,
    Rule,
    RuleSet,
    Screen,
    Weights,
    compile_terms,
)

PACKS_DIR = Path(__file__).resolve().parent / "packs"
RULE_KEYS = (
    "id",
    "category",
    "severity",
    "description",
    "near",
    "all",
    "cue",
    "none",
    "polarity",
    "actor",
    "implied",
    "weights",
    "examples",
)
WEIGHTED_KEYS = ("bias", "rules", "terms")


def _where(path: Path, node: yaml.Node | None) -> str:
    return f"{path}:{node.start_mark.line + 1}" if node is not None else str(path)


def _terms(value: Any, name: str, where: str, rule_id: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise ConfigError(
            f"{name} must be a non-empty list of terms", where=where, source_id=None
        ) from None
    for term in value:
        if term.startswith("re:"):
            try:
                re.compile(term[3:])
            except re.error as exc:
                raise ConfigError(
                    f"rule {rule_id!r}: {name} regex {term[3:]!r}: {exc}", where=where
                ) from None
    return value


def _weights(spec: Any, where: str, rule_id: str) -> Weights:
    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def table(key: str) -> dict[str, float]:
        value = spec.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and number(v) for k, v in value.items()
        ):
            raise ConfigError(
                f"rule {rule_id!r}: weights.{key} maps words or rule ids to numbers", where=where
            )
        return {k: float(v) for k, v in value.items()}

    if not isinstance(spec, dict) or not number(spec.get("bias")):
        raise ConfigError(f"rule {rule_id!r}: weights needs a numeric bias", where=where)
    unknown = set(spec) - set(WEIGHTED_KEYS)
    if unknown:
        raise ConfigError(
            f"rule {rule_id!r}: unknown weights key {sorted(unknown)[0]!r} "
            f"(known: {', '.join(WEIGHTED_KEYS)})",
            where=where,
        )
    terms = table("terms")
    for term in terms:
        if term != " ".join(TOKEN_RE.findall(term.lower())) or term.count(" ") > 1:
            raise ConfigError(
                f"rule {rule_id!r}: weights term {term!r} must be one or two lower-case words",
                where=where,
            )
    return Weights(float(spec["bias"]), terms, table("rules"))


def _rule(path: Path, node: yaml.Node, data: dict[str, Any]) -> Rule:
    where = _where(path, node)
    rule_id = data.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z0-9_]+\.[a-z0-9-]+", rule_id):
        raise ConfigError(f"rule id {rule_id!r} must look like 'pack.rule-name'", where=where)
    for key in data:
        if key not in RULE_KEYS:
            close = difflib.get_close_matches(key, RULE_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"rule {rule_id!r}: unknown key {key!r}{hint}", where=where)

    def enum(kind: type[StrEnum], key: str, default: str | None = None) -> Any:
        value = data.get(key, default)
        try:
            return kind(str(value))
        except ValueError:
            choices = ", ".join(m.value for m in kind)
            raise ConfigError(
                f"rule {rule_id!r}: {key} {value!r} is not one of {choices}", where=where
            ) from None

    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"rule {rule_id!r}: a plain-English description is required", where=where)
    written: list[str] = []
    groups = []
    screens = []
    for group in data.get("all", []):
        group_terms = _terms(group, "all", where, rule_id)
        written += group_terms
        groups.append(compile_terms(group_terms))
        screens.append(Screen.of(group_terms))
    near: tuple[re.Pattern[str], re.Pattern[str], int] | None = None
    if "near" in data:
        spec = data["near"]
        if (
            not isinstance(spec, dict)
            or not {"a", "b", "within"} <= set(spec)
            or not isinstance(spec["within"], int)
        ):
            raise ConfigError(
                f"rule {rule_id!r}: near needs a, b (term lists) and within (words)", where=where
            )
        a_terms = _terms(spec["a"], "near.a", where, rule_id)
        b_terms = _terms(spec["b"], "near.b", where, rule_id)
        written += a_terms + b_terms
        screens += [Screen.of(a_terms), Screen.of(b_terms)]
        near = (compile_terms(a_terms), compile_terms(b_terms), spec["within"])
        if spec.get("order", "any") not in ("any", "a-b"):
            raise ConfigError(f"rule {rule_id!r}: near.order is 'any' or 'a-b'", where=where)
    weights = _weights(data["weights"], where, rule_id) if "weights" in data else None
    if weights is not None:
        extra = [k for k in ("all", "near", "cue", "none", "polarity", "actor") if k in data]
        if extra:
            raise ConfigError(
                f"rule {rule_id!r}: a weighted rule has no {extra[0]!r} (its weights decide)",
                where=where,
            )
    if not groups and near is None and weights is None:
        raise ConfigError(f"rule {rule_id!r}: needs 'all', 'near' or 'weights'", where=where)
    none = compile_terms(_terms(data["none"], "none", where, rule_id)) if "none" in data else None
    cue = None
    if "cue" in data:
        spec = data["cue"]
        if (
            not isinstance(spec, dict)
            or not {"terms", "within"} <= set(spec)
            or not isinstance(spec["within"], int)
        ):
            raise ConfigError(f"rule {rule_id!r}: cue needs terms and within (words)", where=where)
        cue_terms = _terms(spec["terms"], "cue.terms", where, rule_id)
        written += cue_terms
        cue = (compile_terms(cue_terms), spec["within"])
    implied = data.get("implied", False)
    if not isinstance(implied, bool):
        raise ConfigError(f"rule {rule_id!r}: implied is true or false", where=where)
    examples = data.get("examples") or {}
    fire, quiet = tuple(examples.get("fire", [])), tuple(examples.get("quiet", []))
    if not fire:
        raise ConfigError(f"rule {rule_id!r}: needs at least one firing example", where=where)
    return Rule(
        id=rule_id,
        category=enum(Category, "category"),
        severity=enum(Severity, "severity"),
        description=" ".join(description.split()),
        groups=tuple(groups),
        near=near,
        ordered=near is not None and data["near"].get("order") == "a-b",
        cue=cue,
        none=none,
        polarity=enum(Polarity, "polarity", "affirmative"),
        actor=enum(Actor, "actor", "platform"),
        weights=weights,
        implied=implied,
        fire=fire,
        quiet=quiet,
        origin=where,
        terms=tuple(dict.fromkeys(written)),
        screens=tuple(screens),
    )


def rule_terms(rule: Rule) -> list[tuple[str, re.Pattern[str]]]:
    """Each term of a rule as written, with the pattern that finds it alone."""
    return [(term, compile_terms([term])) for term in rule.terms]


def load_pack(path: Path) -> list[Rule]:
    """Compile one rule file; every error names the file, the line and the rule id."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise ConfigError(f"cannot read rule file: {exc}", where=str(path)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem}", where=f"{path}:{mark.line + 1}" if mark else str(path)
        ) from None
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ConfigError("a rule file is a list of rules", where=_where(path, root))
    rules = []
    for node in root.value:
        data = yaml.constructor.SafeConstructor().construct_document(node)  # no re-parse
        if not isinstance(data, dict):
            raise ConfigError("each rule is a mapping", where=_where(path, node))
        rules.append(_rule(path, node, data))
    return rules


def load_rules(paths: Sequence[Path] | None = None) -> RuleSet:
    """The default packs (monitor/rules/*.yaml), or the given files, compiled and checked."""
    files = sorted(PACKS_DIR.glob("*.yaml")) if paths is None else list(paths)
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for path in files:
        for rule in load_pack(path):
            if rule.id in seen:
                raise ConfigError(
                    f"duplicate rule id {rule.id!r} (first at {seen[rule.id].origin})",
                    where=rule.origin,
                )
            seen[rule.id] = rule
            rules.append(rule)
    deciders: dict[Category, Rule] = {}
    for rule in rules:
        if rule.weights is None:
            continue
        if rule.category in deciders:
            raise ConfigError(
                f"rule {rule.id!r}: {rule.category.value} already has a weighted rule "
                f"({deciders[rule.category].id})",
                where=rule.origin,
            )
        deciders[rule.category] = rule
        for evidence in rule.weights.rules:
            if evidence not in seen or seen[evidence].weights is not None:
                raise ConfigError(
                    f"rule {rule.id!r}: weights.rules names {evidence!r}, "
                    "which is not a loaded rule without weights",
                    where=rule.origin,
                )
    return RuleSet(tuple(rules), seen)
