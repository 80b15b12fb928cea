"""Learning weighted rules from labelled sentences (`clausewatch rules learn`).

Owns: reading a corpus in the CLAUDETTE layout, fitting one logistic regression
per category over the words and word pairs of a sentence (monitor.rules.language.ngrams) and the
hand-written rules that fire on it (L2-regularised, small weights dropped afterwards), and writing the result as a pack of weighted rules whose
examples are checked before they are written. scikit-learn is imported here only, and only
while learning (the `learn` extra). Must never: be imported by the monitoring pass, or fetch
anything (the corpus is a local folder).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError, UsageError
from monitor.extract.document import normalize_text
from monitor.model import Category, Severity
from monitor.rules.files import load_pack
from monitor.rules.language import Rule, RuleSet, Weights, fired_rules, ngrams

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
STRENGTH = 1.0  # inverse L2 penalty (scikit-learn's C, at its default)
THRESHOLD = 0.5  # fire at a fitted probability of 0.5 or more (classes are balanced in fitting)
SMALLEST = 0.1  # weights closer to 0 are dropped: about 1,800 are left per category
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


def _fit(samples: Sequence[Sample], category: Category, strength: float) -> Weights:
    from scipy.sparse import csr_matrix  # scikit-learn's own dependency
    from sklearn.linear_model import LogisticRegression

    documents: dict[str, set[str]] = {}
    for sample in samples:
        for gram in sample.grams:
            documents.setdefault(gram, set()).add(sample.document)
    # sorted, and a fixed seed: learning the same corpus again writes the same file
    kept = sorted(g for g, seen in documents.items() if len(seen) >= MIN_DOCUMENTS)
    columns = {g: i for i, g in enumerate(kept)}
    for rule_id in sorted({r for s in samples for r in s.fired}):
        columns["rule:" + rule_id] = len(columns)
    rows, cols = [], []
    for row, sample in enumerate(samples):
        present = [columns[g] for g in sample.grams if g in columns]
        present += [columns["rule:" + r] for r in sample.fired]
        rows += [row] * len(present)
        cols += present
    matrix = csr_matrix(([1.0] * len(rows), (rows, cols)), shape=(len(samples), len(columns)))
    model = LogisticRegression(
        l1_ratio=0.0,
        C=strength,
        solver="liblinear",
        class_weight="balanced",
        max_iter=1000,
        random_state=0,
    )
    model.fit(matrix, [category in s.labels for s in samples])
    names = list(columns)
    weights = {names[i]: round(float(w), 3) for i, w in enumerate(model.coef_[0])}
    weights = {k: v for k, v in weights.items() if abs(v) >= SMALLEST}
    return Weights(
        # the threshold is folded into the bias, so that the rule fires at a sum of 0
        bias=round(float(model.intercept_[0]) - math.log(THRESHOLD / (1 - THRESHOLD)), 3),
        terms=dict(
            sorted(
                ((k, v) for k, v in weights.items() if not k.startswith("rule:")),
                key=lambda kv: -abs(kv[1]),
            )
        ),
        rules={k[5:]: v for k, v in weights.items() if k.startswith("rule:")},
    )


def learn(
    samples: Sequence[Sample],
    evidence: Sequence[Rule],
    categories: Iterable[Category] = CLAUDETTE_TAGS.values(),
    strength: float = STRENGTH,
) -> list[Rule]:
    """One weighted rule per category that has positive samples.

    Severity and description come from the first hand-written rule of the category. Examples
    are training sentences the finished rule set fires on (or stays quiet on), checked here.
    """
    rules = []
    for category in categories:
        if not any(category in s.labels for s in samples):
            continue
        like = next((r for r in evidence if r.category is category), None)
        rules.append(
            Rule(
                id=f"{PACK}.{category.value.replace('_', '-')}",
                category=category,
                severity=like.severity if like else Severity.INFO,
                description=like.description if like else f"A {category.value} clause.",
                weights=_fit(samples, category, strength),
                origin="<learned>",
            )
        )
    return _with_examples(rules, samples, evidence)


def _with_examples(
    rules: list[Rule], samples: Sequence[Sample], evidence: Sequence[Rule]
) -> list[Rule]:
    ruleset = RuleSet((*evidence, *rules), {r.id: r for r in (*evidence, *rules)})

    def fires(rule: Rule, text: str) -> bool:
        return any(m.rule_id == rule.id for m in ruleset.match(text))

    short = sorted(samples, key=lambda s: abs(len(s.text) - 160))
    with_examples = []
    for rule in rules:
        assert rule.weights is not None
        top = {k for k, v in rule.weights.terms.items() if v > 0}
        fire = tuple(
            islice((s.text for s in short if rule.category in s.labels and fires(rule, s.text)), 2)
        )
        quiet = tuple(
            islice(
                (
                    s.text
                    for s in short
                    if rule.category not in s.labels and top & s.grams and not fires(rule, s.text)
                ),
                2,
            )
        )
        if not fire:
            raise ConfigError(
                f"learned rule {rule.id!r} fires on none of its training sentences",
                where="<learned>",
            )
        with_examples.append(replace(rule, fire=fire, quiet=quiet))
    return with_examples


def _as_yaml(rule: Rule) -> dict[str, Any]:
    assert rule.weights is not None
    return {
        "id": rule.id,
        "category": rule.category.value,
        "severity": rule.severity.value,
        "description": rule.description,
        "weights": {
            "bias": rule.weights.bias,
            "rules": dict(rule.weights.rules),
            "terms": dict(rule.weights.terms),
        },
        "examples": {"fire": list(rule.fire), "quiet": list(rule.quiet)},
    }


def write_pack(rules: Sequence[Rule], path: Path, provenance: str) -> None:
    """Write learned rules as a rule file, headed by `provenance`, and check that it loads."""
    header = "".join(f"# {line}\n".replace("# \n", "#\n") for line in provenance.splitlines())
    body = yaml.safe_dump(
        [_as_yaml(r) for r in rules],
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )
    path.write_text(header + body.replace("\n- id:", "\n\n- id:"), encoding="utf-8")
    load_pack(path)  # what was written compiles
