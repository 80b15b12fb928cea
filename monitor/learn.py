"""Learning weighted rules from labelled sentences (`clausewatch rules learn`).

Owns: reading a corpus in the CLAUDETTE layout, fitting one L1-regularised logistic regression
per category over the words and word pairs of a sentence (monitor.rules.ngrams) and the
hand-written rules that fire on it, and writing the result as a pack of weighted rules whose
examples are checked before they are written. scikit-learn is imported here only, and only
while learning (the `learn` extra). Must never: be imported by the monitoring pass, or fetch
anything (the corpus is a local folder).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from monitor.document import normalize_text
from monitor.errors import ConfigError, UsageError
from monitor.model import Category
from monitor.rules import Rule, RuleSet, compile_rule, fired_rules, load_pack, ngrams

# CLAUDETTE tag prefixes (Lippi et al. 2019, with `pinc`) and the categories they label
CLAUDETTE_TAGS = {
    "a": Category.ARBITRATION,
    "ch": Category.UNILATERAL_CHANGE,
    "cr": Category.CONTENT_REMOVAL,
    "j": Category.JURISDICTION,
    "law": Category.CHOICE_OF_LAW,
    "ltd": Category.LIMITATION_OF_LIABILITY,
    "ter": Category.UNILATERAL_TERMINATION,
    "use": Category.CONTRACT_BY_USING,
    "pinc": Category.PRIVACY_INCLUDED,
}
STRENGTH = 3.0  # inverse L1 penalty (scikit-learn's C): about 250 weights per category
THRESHOLD = 0.7  # fire at a fitted probability of 0.7 or more (classes are balanced in fitting)
MIN_DOCUMENTS = 2  # a word or pair must occur in two documents to get a weight (no names)
PACK = "learned"


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled sentence, with what a weighted rule would see of it."""

    document: str
    text: str
    labels: frozenset[Category]
    grams: frozenset[str]
    fired: frozenset[str]  # ids of the hand-written rules that fire on it


def featurize(
    document: str, text: str, labels: Iterable[Category], evidence: Sequence[Rule]
) -> Sample:
    text = normalize_text(text)
    return Sample(
        document,
        text,
        frozenset(labels),
        frozenset(ngrams(text)),
        frozenset(fired_rules(evidence, text)),
    )


def read_claudette(
    root: Path, documents: Sequence[str] | None = None
) -> list[tuple[str, str, frozenset[Category]]]:
    """Sentences and their categories from `sentences/en/original/<doc>.txt` and the
    line-aligned `tags/en/original/<doc>.txt` (every document there unless `documents`)."""
    sentences_dir, tags_dir = root / "sentences/en/original", root / "tags/en/original"
    if not sentences_dir.is_dir() or not tags_dir.is_dir():
        raise UsageError(
            f"{root}: not a CLAUDETTE corpus (no sentences/en/original and tags/en/original)"
        )
    names = documents if documents is not None else sorted(p.stem for p in tags_dir.glob("*.txt"))
    rows = []
    for name in names:
        try:
            texts = (sentences_dir / f"{name}.txt").read_text(encoding="utf-8").split("\n")
            tags = (tags_dir / f"{name}.txt").read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{root}: document {name!r}: {exc}") from None
        if len(texts) != len(tags):
            raise UsageError(
                f"{tags_dir / name}.txt: {len(tags)} tag lines for {len(texts)} sentences"
            )
        for text, line in zip(texts, tags, strict=True):
            if text.strip():
                labels = {CLAUDETTE_TAGS.get(tag.rstrip("123")) for tag in line.split()}
                rows.append((name, text, frozenset(c for c in labels if c is not None)))
    return rows


def _fit(samples: Sequence[Sample], category: Category, strength: float) -> dict[str, Any]:
    from scipy.sparse import csr_matrix  # scikit-learn's own dependency
    from sklearn.linear_model import LogisticRegression

    documents: dict[str, set[str]] = {}
    for sample in samples:
        for gram in sample.grams:
            documents.setdefault(gram, set()).add(sample.document)
    columns = {
        g: i for i, g in enumerate(g for g, seen in documents.items() if len(seen) >= MIN_DOCUMENTS)
    }
    rule_ids = sorted({r for s in samples for r in s.fired})
    for rule_id in rule_ids:
        columns["rule:" + rule_id] = len(columns)
    rows, cols = [], []
    for row, sample in enumerate(samples):
        present = [columns[g] for g in sample.grams if g in columns]
        present += [columns["rule:" + r] for r in sample.fired]
        rows += [row] * len(present)
        cols += present
    matrix = csr_matrix(([1.0] * len(rows), (rows, cols)), shape=(len(samples), len(columns)))
    target = [category in s.labels for s in samples]
    model = LogisticRegression(
        l1_ratio=1.0, C=strength, solver="liblinear", class_weight="balanced", max_iter=1000
    )
    model.fit(matrix, target)
    names = list(columns)
    weights = {names[i]: round(float(w), 3) for i, w in enumerate(model.coef_[0]) if abs(w) >= 5e-4}
    return {
        # the threshold is folded into the bias, so that the rule fires at a sum of 0
        "bias": round(float(model.intercept_[0]) - math.log(THRESHOLD / (1 - THRESHOLD)), 3),
        "rules": {k[5:]: v for k, v in weights.items() if k.startswith("rule:")},
        "terms": dict(
            sorted(
                ((k, v) for k, v in weights.items() if not k.startswith("rule:")),
                key=lambda kv: -abs(kv[1]),
            )
        ),
    }


def learn(
    samples: Sequence[Sample],
    evidence: Sequence[Rule],
    categories: Iterable[Category] = CLAUDETTE_TAGS.values(),
    strength: float = STRENGTH,
) -> list[dict[str, Any]]:
    """One weighted rule per category that has positive samples, as YAML-ready mappings.

    Severity and description come from the first hand-written rule of the category. Examples
    are training sentences the finished rule set fires on (or stays quiet on), checked here.
    """
    specs = []
    for category in categories:
        positives = [s for s in samples if category in s.labels]
        if not positives:
            continue
        model = _fit(samples, category, strength)
        model["rules"] = {k: v for k, v in model["rules"].items() if v}
        model["terms"] = {k: v for k, v in model["terms"].items() if v}
        like = next((r for r in evidence if r.category is category), None)
        specs.append(
            {
                "id": f"{PACK}.{category.value.replace('_', '-')}",
                "category": category.value,
                "severity": like.severity.value if like else "info",
                "description": like.description if like else f"A {category.value} clause.",
                "weights": model,
            }
        )
    return _with_examples(specs, samples, evidence)


def _with_examples(
    specs: list[dict[str, Any]], samples: Sequence[Sample], evidence: Sequence[Rule]
) -> list[dict[str, Any]]:
    # compiled as a rule file would be; a placeholder example lets it compile
    compiled = [
        compile_rule(Path("<learned>"), None, {**spec, "examples": {"fire": ["-"]}})
        for spec in specs
    ]
    ruleset = RuleSet((*evidence, *compiled), {r.id: r for r in (*evidence, *compiled)})

    def fires(rule_id: str, text: str) -> bool:
        return any(m.rule_id == rule_id for m in ruleset.match(text))

    short = sorted(samples, key=lambda s: abs(len(s.text) - 160))
    for spec in specs:
        category = Category(spec["category"])
        top = {k for k, v in spec["weights"]["terms"].items() if v > 0}
        fire = list(
            islice((s.text for s in short if category in s.labels and fires(spec["id"], s.text)), 2)
        )
        quiet = list(
            islice(
                (
                    s.text
                    for s in short
                    if category not in s.labels and top & s.grams and not fires(spec["id"], s.text)
                ),
                2,
            )
        )
        if not fire:
            raise ConfigError(
                f"learned rule {spec['id']!r} fires on none of its training sentences",
                where="<learned>",
            )
        spec["examples"] = {"fire": fire, "quiet": quiet}
    return specs


def write_pack(specs: list[dict[str, Any]], path: Path, provenance: str) -> None:
    header = "".join(f"# {line}\n".replace("# \n", "#\n") for line in provenance.splitlines())
    body = yaml.safe_dump(
        specs, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )
    path.write_text(header + body.replace("\n- id:", "\n\n- id:"), encoding="utf-8")
    load_pack(path)  # what was written compiles
