"""Benchmark: flagging quality (issue 5 targets).

1. ../shared/datasets/ai-terms-changes/sentences.jsonl: precision, recall and F1 per label
   (P -> ai_training, T3 -> third_party_ai, N -> protective, O -> opt_out,
   R -> others_may_not_train, L -> content_license), and for "any AI training" (P or T3 against
   ai_training or third_party_ai). Targets: AI-training and third-party-AI precision >= 0.90,
   recall >= 0.95; protective F1 >= 0.90.
2. ../shared/corpus/cases.yaml DEV pairs: diff + flags + assessment; does an alert fire exactly
   when a creator should be alerted? Target: every alert-yes pair alerted, none of the others.
   Also ai-terms-changes events whose commit is a DEV pair's new commit.
3. CLAUDETTE English: per-category detection F1 on the test documents of each of the 5 folds
   (the rules are hand-written, not trained: the train folds were only read), macro-F1 over
   the 9 categories; for "any tag of the category" and for "potentially/clearly unfair" (level
   2-3) tags. Target: macro-F1 >= 0.75.
Usage: `.venv/bin/python bench/flagging.py`.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.diff import diff  # noqa: E402
from monitor.document import normalize_text  # noqa: E402
from monitor.flag import assess, flag_changes  # noqa: E402
from monitor.markdown import parse  # noqa: E402
from monitor.model import Category  # noqa: E402
from monitor.rules import RuleSet, load_rules  # noqa: E402

SHARED = ROOT.parent / "shared"
AI_LABELS = {
    "P": {Category.AI_TRAINING},
    "T3": {Category.THIRD_PARTY_AI},
    "P|T3": {Category.AI_TRAINING, Category.THIRD_PARTY_AI},
    "N": {Category.PROTECTIVE},
    "O": {Category.OPT_OUT},
    "R": {Category.OTHERS_MAY_NOT_TRAIN},
    "L": {Category.CONTENT_LICENSE},
}
CLAUDETTE = {
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


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def categories(rules: RuleSet, text: str, only: frozenset[Category] | None = None) -> set[Category]:
    return {m.category for m in rules.match(normalize_text(text), only)}


def sentences(rules: RuleSet) -> None:
    rows = [
        json.loads(line) for line in (SHARED / "datasets/ai-terms-changes/sentences.jsonl").open()
    ]
    predicted = [categories(rules, row["text"]) for row in rows]
    print(f"1. ai-terms-changes sentences ({len(rows)})")
    print(f"   {'label':6} {'category':24} {'precision':>9} {'recall':>7} {'F1':>6}   tp  fp  fn")
    for label, wanted in AI_LABELS.items():
        gold_labels = set(label.split("|"))
        tp = fp = fn = 0
        for row, got in zip(rows, predicted, strict=True):
            gold = bool(gold_labels & set(row["labels"]))
            hit = bool(wanted & got)
            tp += gold and hit
            fp += hit and not gold
            fn += gold and not hit
        p, r, f = prf(tp, fp, fn)
        name = "+".join(sorted(c.value for c in wanted))
        print(f"   {label:6} {name:24} {p:9.2f} {r:7.2f} {f:6.2f}  {tp:3} {fp:3} {fn:3}")


def pairs(rules: RuleSet) -> None:
    data = yaml.safe_load((SHARED / "corpus/cases.yaml").read_text())
    corpus = SHARED / "corpus"
    outcome: Counter[str] = Counter()
    severity_agree = 0
    wrong = []
    alerted_by_commit = {}
    for case in data["cases"]:
        changeset = diff(
            parse((corpus / case["old_file"]).read_text()),
            parse((corpus / case["new_file"]).read_text()),
        )
        verdict = assess(flag_changes(changeset, rules))
        gold = case["labels"]["alert"] == "yes"
        alerted_by_commit[case["new_commit"]] = verdict
        key = ("TP" if verdict.alert else "FN") if gold else ("FP" if verdict.alert else "TN")
        outcome[key] += 1
        if (
            gold
            and verdict.alert
            and verdict.severity
            and verdict.severity.value == case["labels"]["severity"]
        ):
            severity_agree += 1
        if key in ("FP", "FN"):
            wrong.append(f"{key} {case['id']}")
    total = sum(outcome.values())
    print(f"\n2. labelled DEV pairs ({total}): alert exactly when a creator should be alerted")
    print(
        f"   alert-yes pairs alerted {outcome['TP']}/{outcome['TP'] + outcome['FN']}; "
        f"alert-no pairs quiet {outcome['TN']}/{outcome['TN'] + outcome['FP']}; "
        f"accuracy {(outcome['TP'] + outcome['TN']) / total:.2f}; "
        f"severity equal to the label on {severity_agree}/{outcome['TP']} alerted"
    )
    for line in wrong:
        print(f"   {line}")
    events = [
        json.loads(line) for line in (SHARED / "datasets/ai-terms-changes/events.jsonl").open()
    ]
    threats = {"expands_platform_rights", "expands_third_party_rights"}
    covered = [e for e in events if e["commit"] in alerted_by_commit]
    agree = sum(
        (e["direction"] in threats) == alerted_by_commit[e["commit"]].alert for e in covered
    )
    print(
        f"   ai-terms-changes events on those commits: {agree}/{len(covered)} agree (threat direction <-> alert)"
    )


def claudette_docs(fold: int, split: str) -> list[str]:
    path = SHARED / f"datasets/claudette-multilingual-en/lists/LIST_{split}_{fold}.txt"
    return [line.strip().rsplit(".", 1)[0] for line in path.open() if line.strip()]


def claudette(rules: RuleSet) -> None:
    base = SHARED / "datasets/claudette-multilingual-en"
    only = frozenset(CLAUDETTE.values())
    print("\n3. CLAUDETTE English, test documents of each fold (rules hand-written, not trained)")
    for unfair_only in (False, True):
        fold_macros = []
        pooled: dict[str, Counter[str]] = {tag: Counter() for tag in CLAUDETTE}
        for fold in range(5):
            counts: dict[str, Counter[str]] = {tag: Counter() for tag in CLAUDETTE}
            for doc in claudette_docs(fold, "TEST"):
                texts = (
                    (base / f"sentences/en/original/{doc}.txt")
                    .read_text(encoding="utf-8")
                    .split("\n")
                )
                tags = (
                    (base / f"tags/en/original/{doc}.txt").read_text(encoding="utf-8").split("\n")
                )
                for text, tag_line in zip(texts, tags, strict=False):
                    if not text.strip():
                        continue
                    gold = set()
                    for tag in tag_line.split():
                        name = tag.rstrip("123")
                        if name in CLAUDETTE and (not unfair_only or tag[-1] in "23"):
                            gold.add(name)
                    got = categories(rules, text, only)
                    for tag, category in CLAUDETTE.items():
                        hit, want = category in got, tag in gold
                        key = ("tp" if want else "fp") if hit else ("fn" if want else "tn")
                        counts[tag][key] += 1
                        pooled[tag][key] += 1
            fold_macros.append(
                sum(prf(c["tp"], c["fp"], c["fn"])[2] for c in counts.values()) / len(CLAUDETTE)
            )
        title = (
            "level 2-3 (potentially/clearly unfair) tags"
            if unfair_only
            else "any tag of the category"
        )
        print(
            f"   {title}: macro-F1 per fold {', '.join(f'{m:.2f}' for m in fold_macros)}; mean {sum(fold_macros) / 5:.2f}"
        )
        print(
            "   "
            + "  ".join(
                f"{tag}={prf(c['tp'], c['fp'], c['fn'])[2]:.2f}" for tag, c in pooled.items()
            )
        )


def main() -> None:
    rules = load_rules()
    print(f"{len(rules.rules)} rules in {len({r.pack for r in rules.rules})} packs\n")
    sentences(rules)
    pairs(rules)
    claudette(rules)


if __name__ == "__main__":
    main()
