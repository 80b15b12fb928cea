"""Benchmark: flagging quality and speed (issues 5, 17 and 18).

Reads ../shared/corpus (or --corpus DIR) and the datasets beside it; says so and stops when
it is absent. Sections:

1. Labelled pairs, DEV (cases.yaml) + DEV-2 (cases-2.yaml): diff + flags + assessment. Alert
   recall and precision, severity equal to the label on alerted pairs, and protective or
   ban-on-others pairs alerted as threats; per family. Leave-one-family-out: the creator
   categories are decided by hand-written rules only (no weight is learned for them; the
   learned pack holds CLAUDETTE categories), so every figure here is already "without the
   family scored" for learned weights; the per-family table is the check on hand-written rules.
   Rule terms and licence-scope terms that occur in the text of only one family are listed (an
   overfit by construction).
2. sentences.yaml (332 labelled sentences, lead-ins as context): category macro-F1 over the six
   labels and actor accuracy, and protective sentences classed as a threat category.
3. ai-terms-changes sentences.jsonl (issue 5): per-label precision, recall, F1.
4. Speed: flag_changes against the clause diff on the longest corpus pair and on a 200 KB
   synthetic rewrite (ms per 1,000 changed sentences, flag/diff ratio), and rule matching on
   issue 18's shape ("We " + "train " x N + ... + "models " x N) at 100 KB and 5 MB.
5. CLAUDETTE English, 5 folds (learned pack; slow: --claudette to run it).

Usage: `.venv/bin/python bench/flagging.py [--corpus DIR] [--claudette] [--verbose]`.
Targets (issue 17): alert recall >= 0.95, precision >= 0.90, severity = label on >= 80 % of
alerted pairs; sentences macro-F1 >= 0.90, actor accuracy >= 0.95; 0 protective threats;
flag/diff ratio <= 1.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import corpus_dir  # noqa: E402
from monitor.diff import diff  # noqa: E402
from monitor.extract.document import normalize_text  # noqa: E402
from monitor.extract.markdown import parse  # noqa: E402
from monitor.flag import assess, classify_sentence, flag_changes  # noqa: E402
from monitor.model import Category, Clause, Document  # noqa: E402
from monitor.rules.files import load_rules  # noqa: E402
from monitor.rules.language import (  # noqa: E402
    TOKEN_RE,
    Actor,
    RuleSet,
    Screen,
    split_sentences,
)
from monitor.rules.learn import CLAUDETTE_TAGS, Sample, featurize, learn, read_claudette  # noqa: E402
from monitor.rules.policy import CREATOR_CATEGORIES  # noqa: E402

AI_LABELS = {
    "P": {Category.AI_TRAINING},
    "T3": {Category.THIRD_PARTY_AI},
    "P|T3": {Category.AI_TRAINING, Category.THIRD_PARTY_AI},
    "N": {Category.PROTECTIVE},
    "O": {Category.OPT_OUT},
    "R": {Category.OTHERS_MAY_NOT_TRAIN},
    "L": {Category.CONTENT_LICENSE},
}
SENTENCE_LABELS = (
    "ai_training",
    "content_license",
    "data_sharing",
    "opt_out",
    "protective",
    "none",
)
THREAT_LABELS = {"ai_training", "content_license", "data_sharing"}


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def categories(rules: RuleSet, text: str, only: frozenset[Category] | None = None) -> set[Category]:
    return {m.category for m in rules.match(normalize_text(text), only)}


# 1. pairs ---------------------------------------------------------------------------------


def load_cases(shared: Path) -> list[dict[str, Any]]:
    cases = []
    for name, split in (("cases.yaml", "DEV"), ("cases-2.yaml", "DEV-2")):
        for case in yaml.safe_load((shared / "corpus" / name).read_text())["cases"]:
            cases.append({**case, "split": split})
    return cases


def pairs(rules: RuleSet, shared: Path, verbose: bool) -> None:
    corpus = shared / "corpus"
    by_family: dict[str, Counter[str]] = defaultdict(Counter)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    wrong = []
    whole_changed = []  # pairs whose verdict the whole-document checks changed
    for case in load_cases(shared):
        old = parse((corpus / case["old_file"]).read_text())
        new = parse((corpus / case["new_file"]).read_text())
        changeset = diff(old, new)
        flags = flag_changes(changeset, rules, documents=(old, new))
        verdict = assess(flags)
        labels = case["labels"]
        gold = labels["alert"] == "yes"
        clauses_only = assess(flag_changes(changeset, rules, (old, new), whole_documents=False))
        if (clauses_only.alert, clauses_only.severity) != (verdict.alert, verdict.severity):
            was, now, label = (
                f"{v} alert" if v else "quiet"
                for v in (clauses_only.severity, verdict.severity, labels["severity"])
            )
            mark = "right" if now == label else ("wrong, was right" if was == label else "wrong")
            whole_changed.append(f"{case['id']}: {was} -> {now} (label {label}: {mark})")
        key = ("TP" if verdict.alert else "FN") if gold else ("FP" if verdict.alert else "TN")
        for bucket in (totals[case["split"]], totals["all"], by_family[case["family"]]):
            bucket[key] += 1
            if key == "TP" and verdict.severity and verdict.severity.value == labels["severity"]:
                bucket["severity"] += 1
            if not gold and verdict.alert and "protective" in labels["categories"]:
                bucket["protective_threat"] += 1
        if key in ("FP", "FN") or (verbose and key == "TP"):
            got = verdict.severity.value if verdict.severity else "-"
            why = "; ".join(
                f"{f.category.value} {f.direction.value} {f.rule_id}: {f.evidence[:110]!r}"
                for f in (verdict.threats or flags)[:3]
            )
            wrong.append(f"{key} {case['id']} (label {labels['severity']}, got {got}) {why}")
    print("1. labelled pairs: alert exactly when a creator should be alerted")
    for split, c in totals.items():
        p, r, _ = prf(c["TP"], c["FP"], c["FN"])
        print(
            f"   {split:5}: {sum(c[k] for k in ('TP', 'FP', 'FN', 'TN'))} pairs;"
            f" recall {r:.2f} ({c['TP']}/{c['TP'] + c['FN']}), precision {p:.2f}"
            f" ({c['TP']}/{c['TP'] + c['FP']}); severity = label on {c['severity']}/{c['TP']}"
            f" alerted ({c['severity'] / max(1, c['TP']):.0%});"
            f" protective pairs alerted as threats {c['protective_threat']}"
        )
    bad = {f: c for f, c in by_family.items() if c["FP"] or c["FN"]}
    print(
        f"   per family (hand-written rules): {len(by_family) - len(bad)}/{len(by_family)}"
        " families with every pair right; the others:"
    )
    for family, c in sorted(bad.items()):
        print(f"     {family}: TP {c['TP']} FN {c['FN']} FP {c['FP']} TN {c['TN']}")
    print(
        f"   whole-document checks (licence scope, concepts per document; issue 17 classes 4-5)"
        f" changed the verdict of {len(whole_changed)} pairs:"
    )
    for line in whole_changed:
        print(f"     {line}")
    for line in wrong:
        print(f"   {line}")


def single_family_terms(rules: RuleSet, shared: Path) -> None:
    """Terms of the creator rules found in the text of exactly one family."""
    corpus = shared / "corpus"
    texts: dict[str, list[str]] = defaultdict(list)
    for case in load_cases(shared):
        for side in ("old_file", "new_file"):
            texts[case["family"]].append((corpus / case[side]).read_text())
    sentences = yaml.safe_load((corpus / "sentences.yaml").read_text())["sentences"]
    for row in sentences:
        texts[row["family"]].append(row["text"] + "\n" + row.get("lead_in", ""))
    joined = {f: "\n".join(t) for f, t in texts.items()}
    vocabulary = {}
    for family, text in joined.items():
        tokens = frozenset(TOKEN_RE.findall(text.lower()))
        vocabulary[family] = (tokens, " " + " ".join(tokens))
    from monitor.rules.files import rule_terms
    from monitor.rules.language import compile_terms
    from monitor.rules.scope import LEXICON

    single: list[str] = []
    inflections: list[str] = []
    general: list[str] = []
    datasets = dataset_services(shared)
    terms: dict[str, list[tuple[str, re.Pattern[str]]]] = defaultdict(list)
    for rule in rules.rules:
        if rule.category in CREATOR_CATEGORIES:
            terms[rule.id] += rule_terms(rule)
    for concept, words in LEXICON.items():
        terms[f"scope {concept.name}"] += [(term, compile_terms([term])) for term in words]
    for where, pairs_ in terms.items():
        pattern_of = dict(pairs_)
        families = {
            term: [
                f
                for f, text in joined.items()
                # the term's screen first: a family without the words it needs is not searched
                if Screen.of([term]).may_match(*vocabulary[f]) and pattern.search(text)
            ]
            for term, pattern in pairs_
        }
        for term, found in families.items():
            if len(found) != 1:
                continue
            # a plain inflection ("develops") of a term of the same rule found in several
            # families ("develop") is the same general word, kept for completeness
            base = next(
                (
                    other
                    for other, seen in families.items()
                    if other != term and len(seen) > 1 and _stem(other) == _stem(term)
                ),
                None,
            )
            # ... and so is a US/UK spelling variant of one ("monetis*" of "monetiz*")
            variant = next(
                (
                    other
                    for other, seen in families.items()
                    if other != term and len(seen) > 1 and _spelling(other) == _spelling(term)
                ),
                None,
            )
            if base or variant:
                kind = f"inflection of {base!r}" if base else f"spelling of {variant!r}"
                inflections.append(f"{where}: {term!r} (only {found[0]}; {kind})")
                continue
            # a legal term of art that the clause corpora of other services use too
            elsewhere = sorted(
                service
                for service, text in datasets.items()
                if not _same_name(service, found[0]) and pattern_of[term].search(text)
            )
            if elsewhere:
                shown = ", ".join(elsewhere[:4]) + (" ..." if len(elsewhere) > 4 else "")
                general.append(
                    f"{where}: {term!r} (only {found[0]} here; {len(elsewhere)} other"
                    f" services in the datasets: {shown})"
                )
            else:
                single.append(f"{where}: {term!r} (only {found[0]})")
    print(f"\n   rule terms found in the text of only one family ({len(single)}):")
    for line in single:
        print(f"     {line}")
    print(
        f"   plain inflections or spellings of a general word found in one family, kept ({len(inflections)}):"
    )
    for line in inflections:
        print(f"     {line}")
    print(
        f"   found in one family here but in other services' terms in ../shared/datasets"
        f" (CLAUDETTE's 50 terms, ToS;DR quotes): terms of art, kept ({len(general)}):"
    )
    for line in general:
        print(f"     {line}")


def dataset_services(shared: Path) -> dict[str, str]:
    """The terms text of each service in the datasets' clause corpora: CLAUDETTE's English
    terms of service (one file per service) and the quotes of ToS;DR points."""
    texts: dict[str, list[str]] = defaultdict(list)
    claudette_dir = shared / "datasets/claudette-multilingual-en/sentences/en/original"
    for path in sorted(claudette_dir.glob("*.txt")):
        texts[path.stem.lower()].append(path.read_text(errors="replace"))
    points = shared / "datasets/tosdr-points-2021/points.jsonl"
    if points.exists():
        for line in points.open():
            row = json.loads(line)
            for service in row.get("services") or []:
                texts[str(service).lower()].append(row.get("quote_text") or "")
    return {service: "\n".join(parts) for service, parts in texts.items()}


def _same_name(service: str, family: str) -> bool:
    """Whether a dataset's service is the corpus family (by name, either way round)."""
    a, b = (re.sub(r"[^a-z0-9]", "", n.lower()) for n in (service, family))
    return bool(a and b) and (a in b or b in a)


def _spelling(term: str) -> str:
    """A term with US/UK spelling made the same (a stem is read with an "e": monetis-e)."""
    from monitor.diff import spelling

    word = term.rstrip("*").lower()
    return spelling(word + "e" if term.endswith("*") else word)


def _stem(term: str) -> str:
    """A term without the ending of an inflection ("develops", "refining" -> "develop", "refin")."""
    word = term.rstrip("*").lower()
    for ending in ("ing", "ed", "es", "s", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


# 2. sentences.yaml --------------------------------------------------------------------------


CATEGORY_LABELS = {
    None: "none",
    Category.AI_TRAINING: "ai_training",
    Category.THIRD_PARTY_AI: "data_sharing",
    Category.DATA_SHARING: "data_sharing",
    Category.CONTENT_LICENSE: "content_license",
    Category.OPT_OUT: "opt_out",
    Category.PROTECTIVE: "protective",
}
ACTOR_LABELS = {
    None: "none",
    Actor.PLATFORM: "platform",
    Actor.THIRD_PARTIES: "third_party",
    Actor.USERS: "users_or_others",
    Actor.NOT_USERS: "platform",
    Actor.ANY: "none",
}


def reading_labels(reading: Any) -> tuple[str, str]:
    """sentences.yaml's labels for a Reading: a ban on others training protects users' content
    (protective) unless it protects only the platform's own content (none)."""
    if reading.category is Category.OTHERS_MAY_NOT_TRAIN:
        own = reading.match.rule_id.endswith("platform-content")
        return ("none" if own else "protective"), "users_or_others"
    return CATEGORY_LABELS[reading.category], ACTOR_LABELS[reading.actor]


def sentence_set(rules: RuleSet, shared: Path, verbose: bool) -> None:
    rows = yaml.safe_load((shared / "corpus/sentences.yaml").read_text())["sentences"]
    gold_c, got_c, actor_ok, protective_threat = [], [], 0, 0
    misses = []
    for row in rows:
        category, actor = reading_labels(
            classify_sentence(rules, row["text"], row.get("lead_in", ""))
        )
        gold_c.append(row["category"])
        got_c.append(category)
        actor_ok += actor == row["actor"]
        if row["category"] == "protective" and category in THREAT_LABELS:
            protective_threat += 1
        if category != row["category"] or actor != row["actor"]:
            misses.append(
                f"{row['id']} {row['category']}/{row['actor']} -> {category}/{actor}:"
                f" {row['text'][:120]!r}"
            )
    scores = []
    print(f"\n2. sentences.yaml ({len(rows)}): category and actor, lead-ins as context")
    for label in SENTENCE_LABELS:
        tp = sum(g == label == p for g, p in zip(gold_c, got_c, strict=True))
        fp = sum(g != label == p for g, p in zip(gold_c, got_c, strict=True))
        fn = sum(p != label == g for g, p in zip(gold_c, got_c, strict=True))
        precision, recall, f1 = prf(tp, fp, fn)
        scores.append(f1)
        print(
            f"   {label:16} P {precision:.2f} R {recall:.2f} F1 {f1:.2f}  tp {tp} fp {fp} fn {fn}"
        )
    print(
        f"   category macro-F1 {sum(scores) / len(scores):.3f}; actor accuracy"
        f" {actor_ok / len(rows):.3f}; protective sentences classed as a threat {protective_threat}"
    )
    if verbose:
        for line in misses:
            print(f"   {line}")


# 3. ai-terms-changes sentences ---------------------------------------------------------------


def events_sentences(rules: RuleSet, shared: Path) -> None:
    path = shared / "datasets/ai-terms-changes/sentences.jsonl"
    rows = [json.loads(line) for line in path.open()]
    predicted = [categories(rules, row["text"]) for row in rows]
    print(f"\n3. ai-terms-changes sentences ({len(rows)})")
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
        print(f"   {label:6} {name:24} P {p:.2f} R {r:.2f} F1 {f:.2f}  tp {tp} fp {fp} fn {fn}")


# 4. speed -----------------------------------------------------------------------------------

WORDS = [
    "we",
    "may",
    "use",
    "your",
    "content",
    "data",
    "information",
    "to",
    "train",
    "develop",
    "improve",
    "our",
    "models",
    "services",
    "partners",
    "share",
    "license",
    "worldwide",
    "royalty",
    "free",
    "the",
    "a",
    "of",
    "and",
    "for",
    "with",
    "in",
    "on",
    "by",
    "users",
    "account",
    "settings",
    "opt",
    "out",
    "machine",
    "learning",
    "artificial",
    "intelligence",
    "features",
    "products",
]


def synthetic(size: int, seed: int, clauses: list[str] | None = None) -> tuple[Document, Document]:
    """A policy of about `size` characters and a rewrite of every clause of it (a sixth of the
    words replaced). Its clauses are `clauses` (real terms text) or, without them, random
    sentences of rule words: the worst case, where every sentence wakes every rule."""
    rng = random.Random(seed)
    old, new, total, n = [], [], 0, 0
    while total < size:
        if clauses:
            text = clauses[n % len(clauses)]
        else:
            text = " ".join(
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 30))).capitalize() + "."
                for _ in range(rng.randint(2, 5))
            )
        words = text.split()
        for _ in range(max(1, len(words) // 6)):
            words[rng.randrange(len(words))] = rng.choice(words)
        heading = (f"Section {n // 10}",)
        old.append(Clause(f"Section {n // 10} #{n % 10}", heading, None, text))
        new.append(Clause(f"Section {n // 10} #{n % 10}", heading, None, " ".join(words)))
        total += len(text)
        n += 1
    return Document("synthetic", tuple(old)), Document("synthetic", tuple(new))


def _best_of(runs: int, call: Any) -> tuple[float, Any]:
    """The least CPU time of `runs` calls (both sides of a ratio are single-threaded Python:
    CPU time is their work, where wall time also counts whoever else shares the machine)."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.process_time()
        result = call()
        best = min(best, time.process_time() - start)
    return best, result


def speed(rules: RuleSet, shared: Path) -> None:
    corpus = shared / "corpus"
    longest = max(
        load_cases(shared),
        key=lambda c: c["diff_size"]["old_chars"] + c["diff_size"]["new_chars"],
    )
    shapes = {
        f"longest pair {longest['id']}": (
            parse((corpus / longest["old_file"]).read_text()),
            parse((corpus / longest["new_file"]).read_text()),
        ),
        "200 KB rewrite of real terms text (every clause reworded)": synthetic(
            200_000, 17, [c.text for c in parse((corpus / longest["new_file"]).read_text()).clauses]
        ),
        "200 KB rewrite of random rule words (worst case)": synthetic(200_000, 17),
    }
    print("\n4. speed (best of 3, CPU time)")
    for name, (old, new) in shapes.items():
        diff_s, changeset = _best_of(3, lambda o=old, n=new: diff(o, n))

        def flag(c: Any = changeset, o: Document = old, n: Document = new) -> Any:
            rules.forget()  # cold: no sentence remembered from the run before
            return flag_changes(c, rules, (o, n))

        flag_s, _ = _best_of(3, flag)
        changed = sum(
            len(split_sentences(side.text))
            for change in changeset.changes
            if not change.cosmetic
            for side in (change.old, change.new)
            if side is not None
        )
        print(
            f"   {name}: diff {diff_s * 1000:.0f} ms, flag_changes {flag_s * 1000:.0f} ms"
            f" (flag/diff {flag_s / diff_s:.2f}); {changed} changed sentences,"
            f" {flag_s * 1000 / max(1, changed) * 1000:.0f} ms per 1,000"
        )
    for size in (100_000, 5_000_000):
        n = size // 13
        text = "We " + "train " * n + "on your content to build " + "models " * n + "."
        rules.forget()
        seconds, found = _best_of(1, lambda t=text: rules.match(t))
        print(
            f"   issue 18 shape, {len(text) / 1000:.0f} KB one sentence: rules.match"
            f" {seconds * 1000:.0f} ms, {len(found)} matches"
        )


# 5. CLAUDETTE -------------------------------------------------------------------------------


def claudette_docs(directory: Path, fold: int, split: str) -> list[str]:
    path = directory / f"lists/LIST_{split}_{fold}.txt"
    return [Path(line.strip()).stem for line in path.open() if line.strip()]


def macro_f1(
    gold: list[frozenset[Category]], got: list[set[Category]]
) -> tuple[float, dict[Category, float]]:
    scores = {}
    for category in CLAUDETTE_TAGS.values():
        tp = sum(category in g and category in p for g, p in zip(gold, got, strict=True))
        fp = sum(category not in g and category in p for g, p in zip(gold, got, strict=True))
        fn = sum(category in g and category not in p for g, p in zip(gold, got, strict=True))
        scores[category] = prf(tp, fp, fn)[2]
    return sum(scores.values()) / len(scores), scores


def svm_reference(train: list[Sample], test: list[Sample]) -> list[set[Category]]:
    """TF-IDF (words and pairs) + linear SVM per category, balanced classes: the reference."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    a = vectorizer.fit_transform([s.text for s in train])
    b = vectorizer.transform([s.text for s in test])
    got: list[set[Category]] = [set() for _ in test]
    for category in CLAUDETTE_TAGS.values():
        model = LinearSVC(C=0.3, class_weight="balanced").fit(
            a, [category in s.labels for s in train]
        )
        for row, hit in enumerate(model.predict(b)):
            if hit:
                got[row].add(category)
    return got


def claudette(rules: RuleSet, shared: Path) -> None:
    """Learn the weighted rules on the train documents of each fold, score its test documents."""
    directory = shared / "datasets/claudette-multilingual-en"
    only = frozenset(CLAUDETTE_TAGS.values())
    evidence = [r for r in rules.rules if r.weights is None]
    print("\n5. CLAUDETTE English, 5 folds: learned on 40 train documents, scored on 10")
    samples = [featurize(*row, evidence) for row in read_claudette(directory)]
    by_document: dict[str, list[Sample]] = {}
    for sample in samples:
        by_document.setdefault(sample.document, []).append(sample)
    results: dict[str, list[float]] = {"learned": [], "svm": []}
    for fold in range(5):
        train = [s for d in claudette_docs(directory, fold, "TRAIN") for s in by_document[d]]
        test = [s for d in claudette_docs(directory, fold, "TEST") for s in by_document[d]]
        learned = learn(train, evidence)
        fold_rules = RuleSet((*evidence, *learned), {r.id: r for r in (*evidence, *learned)})
        gold = [s.labels for s in test]
        results["learned"].append(
            macro_f1(gold, [categories(fold_rules, s.text, only) for s in test])[0]
        )
        results["svm"].append(macro_f1(gold, svm_reference(train, test))[0])
    for kind, folds in results.items():
        print(
            f"   {kind}: macro-F1 per fold {', '.join(f'{m:.2f}' for m in folds)};"
            f" mean {sum(folds) / 5:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claudette", action="store_true", help="also run the 5 CLAUDETTE folds")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    shared = corpus_dir().parent  # the corpus and datasets/ beside it; exits when absent
    args = parser.parse_args()
    rules = load_rules()
    print(f"{len(rules.rules)} rules in {len({r.pack for r in rules.rules})} packs\n")
    pairs(rules, shared, args.verbose)
    single_family_terms(rules, shared)
    sentence_set(rules, shared, args.verbose)
    events_sentences(rules, shared)
    speed(rules, shared)
    if args.claudette:
        claudette(rules, shared)


if __name__ == "__main__":
    main()
