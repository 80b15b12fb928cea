"""Clause-level diff: two Documents in, a ChangeSet of ClauseChanges out.

Owns: aligning the clauses of two versions (identical text first, then the same number label
under the same headings, then splits and merges, then fuzzy similarity over an inverted word
index), telling moved and renumbered clauses from real rewording, the word-level diff inside
each reworded clause (diff-match-patch with semantic cleanup and no timeout: its default 1 s
timeout silently degrades to delete-all/insert-all), and deciding which changes are cosmetic.
Must never: do I/O or read a clock, or render (monitor.publish.render shows ChangeSets).

Bounds, counted in work and never in time, so that the same two versions always give the same
ChangeSet: diff-match-patch's time grows with the product of the two runs it aligns (a clause
of 50 KB whose sentences were reshuffled took a minute), so a run longer than DIFF_RUN_LIMIT
pieces, or beyond the ChangeSet's DIFF_BUDGET, is shown deleted and inserted whole; and a
clause whose words are shared by many clauses reads at most CANDIDATE_POSTINGS entries of the
word index, its rarest words first, and is also compared with the clauses at its position
(8,000 reworded clauses over common words took two minutes). Each coarser path taken is said in
the ChangeSet's notes.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, deque
from collections.abc import Iterable

from diff_match_patch import diff_match_patch

from monitor.model import ChangeKind, ChangeSet, Clause, ClauseChange, Document, Span, SpanOp

WORD_RE = re.compile(r"\w+", re.UNICODE)
TOKEN_RE = re.compile(r"\w+\s*|[^\w\s]\s*|\s+", re.UNICODE)  # a word with its trailing space
SECTION_REF_RE = re.compile(
    r"\b(sections?|articles?|clauses?|paragraphs?|§)\s*\d+(?:\.\d+)*(?:\s*\([a-z0-9]+\))*",
    re.IGNORECASE,
)
MULTILEVEL_NUMBER_RE = re.compile(r"\b\d+(?:\.\d+)+\b")
PUNCTUATION_RE = re.compile(r"[^\w\s]", re.UNICODE)
LETTER_GAP_RE = re.compile(r"(?<=[^\W\d_])\s+(?=[^\W\d_])", re.UNICODE)

FUZZY_THRESHOLD = 0.5  # Dice similarity of word multisets for a reworded clause
SAME_LABEL_THRESHOLD = 0.25  # the same "7.2" under the same headings needs less
SPLIT_CONTAINMENT = 0.8  # share of a part's words found in the whole
SPLIT_SIMILARITY = 0.7  # the joined parts against the whole
MAX_SPLIT_PARTS = 6
COMMON_WORD_SHARE = 0.25  # words in more than this share of clauses don't index (the, and, of)
MAX_CANDIDATES = 12
# diff-match-patch aligns two runs of pieces (words, or sentences) in time that grows with
# their product when they have little in common: 1,000 reshuffled words against 1,000 take
# 0.7 s. Beyond these bounds the run is shown deleted and inserted whole, with a note.
DIFF_RUN_LIMIT = 2_000  # pieces in the two differing runs of one alignment, together
DIFF_BUDGET = 10_000_000  # products of the runs aligned for one ChangeSet, summed
CANDIDATE_POSTINGS = 300  # word-index entries read to find one clause's candidates


def words(text: str) -> list[str]:
    return WORD_RE.findall(text.lower())


# US and UK spellings of a word compare equal (personalised, organisation, colour, licence,
# centre, catalogue, programme, travelled): both sides are rewritten the same way, so a
# rewrite only has to be consistent, not a real word
SPELLING = (
    (re.compile(r"(?<=\w{3})is(e|es|ed|ing|ation|ations|er|ers)\b"), r"iz\1"),
    (re.compile(r"(?<=\w{2})ys(e|es|ed|ing)\b"), r"yz\1"),
    (re.compile(r"(?<=\w{3})our(s|ed|ing|able|ite|ites)?\b"), r"or\1"),
    (re.compile(r"\blicenc(e|es|ed|ing)\b"), r"licens\1"),
    (re.compile(r"(?<=\w{3})tre(s)?\b"), r"ter\1"),
    (re.compile(r"(?<=\w{2})ogue(s)?\b"), r"og\1"),
    (re.compile(r"(?<=\w{3})mme(s)?\b"), r"m\1"),
    # (bounded: "\w*" twice over a 20,000-letter run backtracked for seconds)
    (re.compile(r"\b(\w{0,40}?[aeiou]\w{0,40}?[aeiou]l)l(ed|ing|er|ers)\b"), r"\1\2"),
)


def spelling(text: str) -> str:
    """Lower-case `text` with US and UK spelling variants made the same."""
    text = text.lower()
    for pattern, replacement in SPELLING:
        text = pattern.sub(replacement, text)
    return text


def canonical(text: str) -> str:
    """Text with case, punctuation, quotes, spacing, section numbering and US/UK spelling
    variants taken out."""
    text = SECTION_REF_RE.sub(lambda m: f"{m.group(1).lower().rstrip('s')} #", text)
    text = MULTILEVEL_NUMBER_RE.sub("#", text)
    return " ".join(spelling(PUNCTUATION_RE.sub(" ", text.lower())).split())


def _shared(a: Counter[str], b: Counter[str]) -> int:
    if len(a) > len(b):
        a, b = b, a
    return sum(min(count, b[word]) for word, count in a.items() if word in b)


def similarity(a: Counter[str], b: Counter[str]) -> float:
    """Dice coefficient of two word multisets."""
    total = a.total() + b.total()
    return 2 * _shared(a, b) / total if total else 1.0


def containment(part: Counter[str], whole: Counter[str]) -> float:
    size = part.total()
    return _shared(part, whole) / size if size else 0.0


SENTENCE_RE = re.compile(r"[^.!?;:]*(?:[.!?;:]+\s*|$)")
LARGE_PRODUCT = 40_000  # token count product above which sentences are aligned first


def _encode(pieces: list[str], codes: dict[str, str], table: list[str]) -> str:
    out = []
    for piece in pieces:
        code = codes.get(piece)
        if code is None:
            code = chr(0xF0000 + len(table))  # supplementary private use area
            codes[piece] = code
            table.append(piece)
        out.append(code)
    return "".join(out)


class _Budget:
    """What is left of one ChangeSet's diff-match-patch work, and the clauses that went
    coarse for want of it."""

    def __init__(self) -> None:
        self.left = DIFF_BUDGET
        self.coarse = 0

    def allows(self, old: int, new: int) -> bool:
        """Whether two differing runs of `old` and `new` pieces may be aligned piece by piece;
        if so, their cost is taken."""
        if old + new > DIFF_RUN_LIMIT or old * new > self.left:
            return False
        self.left -= old * new
        return True


def _common_ends(old: list[str], new: list[str]) -> tuple[int, int]:
    """The number of pieces the two lists share at their start, and then at their end."""
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[-1 - end] == new[-1 - end]:
        end += 1
    return start, end


def _diff_pieces(
    old: list[str], new: list[str], budget: _Budget
) -> tuple[list[tuple[SpanOp, str]], bool]:
    """diff-match-patch over sequences of pieces (words or sentences), semantic cleanup; and
    whether the budget made it coarse (the differing middle deleted and inserted whole)."""
    start, end = _common_ends(old, new)
    middle_old, middle_new = old[start : len(old) - end], new[start : len(new) - end]
    if middle_old and middle_new and not budget.allows(len(middle_old), len(middle_new)):
        coarse = [
            (SpanOp.EQUAL, "".join(old[:start])),
            (SpanOp.DELETE, "".join(middle_old)),
            (SpanOp.INSERT, "".join(middle_new)),
            (SpanOp.EQUAL, "".join(old[len(old) - end :])),
        ]
        return [(op, text) for op, text in coarse if text], True
    engine = diff_match_patch()
    engine.Diff_Timeout = 0  # never trade correctness for time (the default is 1 s)
    codes: dict[str, str] = {}
    table: list[str] = []
    diffs = engine.diff_main(_encode(old, codes, table), _encode(new, codes, table), False)
    engine.diff_cleanupSemantic(diffs)
    ops = {0: SpanOp.EQUAL, 1: SpanOp.INSERT, -1: SpanOp.DELETE}
    return [
        (ops[op], "".join(table[ord(c) - 0xF0000] for c in chars)) for op, chars in diffs
    ], False


def word_spans(old: str, new: str) -> tuple[Span, ...]:
    """A word-level diff of two clause texts, as runs of kept, inserted and deleted words."""
    return _word_spans(old, new, _Budget())[0]


def _word_spans(old: str, new: str, budget: _Budget) -> tuple[tuple[Span, ...], bool]:
    """A word-level diff of two clause texts, and whether a bound made part of it coarse.

    Long, much-rewritten clauses are first aligned sentence by sentence (as diff-match-patch's
    own line mode does), and only the changed runs are diffed word by word.
    """
    old_words, new_words = TOKEN_RE.findall(old), TOKEN_RE.findall(new)
    if len(old_words) * len(new_words) <= LARGE_PRODUCT:
        pieces, coarse = _diff_pieces(old_words, new_words, budget)
    else:
        pieces = []
        pending = {SpanOp.DELETE: "", SpanOp.INSERT: ""}
        by_sentence, coarse = _diff_pieces(
            [s for s in SENTENCE_RE.findall(old) if s],
            [s for s in SENTENCE_RE.findall(new) if s],
            budget,
        )
        for op, text in [*by_sentence, (SpanOp.EQUAL, "")]:
            if op is not SpanOp.EQUAL:
                pending[op] += text
                continue
            if pending[SpanOp.DELETE] and pending[SpanOp.INSERT]:
                by_word, coarse_run = _diff_pieces(
                    TOKEN_RE.findall(pending[SpanOp.DELETE]),
                    TOKEN_RE.findall(pending[SpanOp.INSERT]),
                    budget,
                )
                pieces += by_word
                coarse = coarse or coarse_run
            else:
                pieces += [(o, t) for o, t in pending.items() if t]
            pending = {SpanOp.DELETE: "", SpanOp.INSERT: ""}
            pieces.append((op, text))
    spans: list[Span] = []
    for op, text in pieces:
        if not text:
            continue
        if spans and spans[-1].op is op:
            spans[-1] = Span(op, spans[-1].text + text)
        else:
            spans.append(Span(op, text))
    return tuple(spans), coarse


def _increasing(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The longest run of pairs whose new positions rise with their old positions."""
    pairs = sorted(pairs)
    tails: list[int] = []
    tail_index: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        at = bisect.bisect_left(tails, j)
        if at == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[at] = j
            tail_index[at] = index
        previous[index] = tail_index[at - 1] if at else -1
    keep: set[tuple[int, int]] = set()
    index = tail_index[-1] if tail_index else -1
    while index >= 0:
        keep.add(pairs[index])
        index = previous[index]
    return keep


class _Bags:
    """Word multisets of clauses, computed on first use."""

    def __init__(self, clauses: tuple[Clause, ...]) -> None:
        self._clauses = clauses
        self._bags: dict[int, Counter[str]] = {}

    def __getitem__(self, index: int) -> Counter[str]:
        bag = self._bags.get(index)
        if bag is None:
            bag = self._bags[index] = Counter(words(self._clauses[index].text))
        return bag


class _Index:
    """An inverted word index of the free clauses of one side, and their positions."""

    def __init__(self, postings: dict[str, list[int]], members: list[int], side: int) -> None:
        self.postings = postings
        self.members = members  # ascending
        self.side = side  # clauses on that side, free or not

    def near(self, position: float) -> list[int]:
        """The free clauses at about `position` (0..1) of their document."""
        at = bisect.bisect_left(self.members, round(position * self.side))
        half = MAX_CANDIDATES // 2
        return self.members[max(0, at - half) : at + half]


class _Aligner:
    """Pairs old clauses with new ones, stage by stage, each stage on what is left."""

    def __init__(self, old: tuple[Clause, ...], new: tuple[Clause, ...]) -> None:
        self.old, self.new = old, new
        self.old_to_new: dict[int, int] = {}
        self.new_to_old: dict[int, int] = {}
        self.taken_old: set[int] = set()
        self.taken_new: set[int] = set()
        self.splits: list[tuple[int, list[int]]] = []  # old index -> new indices
        self.merges: list[tuple[list[int], int]] = []  # old indices -> new index
        self.limited: set[tuple[str, int]] = set()  # clauses whose candidate search was cut
        # Word bags are made only for clauses that the exact-text stage leaves unpaired.
        self._bags_old = _Bags(old)
        self._bags_new = _Bags(new)

    def pair(self, i: int, j: int) -> None:
        self.old_to_new[i] = j
        self.new_to_old[j] = i
        self.taken_old.add(i)
        self.taken_new.add(j)

    def free_old(self) -> list[int]:
        return [i for i in range(len(self.old)) if i not in self.taken_old]

    def free_new(self) -> list[int]:
        return [j for j in range(len(self.new)) if j not in self.taken_new]

    def by_text(self) -> None:
        waiting: dict[str, deque[int]] = {}
        for j, clause in enumerate(self.new):
            waiting.setdefault(clause.text, deque()).append(j)
        for i, clause in enumerate(self.old):
            queue = waiting.get(clause.text)
            if queue:
                self.pair(i, queue.popleft())

    def by_label(self) -> None:
        slots: dict[tuple[tuple[str, ...], str], int] = {}
        for j in self.free_new():
            label = self.new[j].label
            if label:
                slots.setdefault((self.new[j].heading_path, label), j)
        for i in self.free_old():
            clause = self.old[i]
            j_found = slots.pop((clause.heading_path, clause.label), None) if clause.label else None
            if (
                j_found is not None
                and similarity(self._bags_old[i], self._bags_new[j_found]) >= SAME_LABEL_THRESHOLD
            ):
                self.pair(i, j_found)

    def _index(self, indices: list[int], bags: _Bags) -> _Index:
        index: dict[str, list[int]] = {}
        for k in indices:
            for word in bags[k]:
                index.setdefault(word, []).append(k)
        limit = max(3, int(COMMON_WORD_SHARE * len(indices)))
        postings = {w: ks for w, ks in index.items() if len(ks) <= limit}
        side = len(self.old) if bags is self._bags_old else len(self.new)
        return _Index(postings, indices, side)

    def _candidates(self, who: tuple[str, int], bag: Counter[str], index: _Index) -> list[int]:
        """The clauses of the other side that share most words with `bag`. Reading the index
        costs the sum of the posting lists of its words: past CANDIDATE_POSTINGS, the rarest
        words' lists are read and the clauses at the same position added (noted)."""
        lists = [ks for word in bag if (ks := index.postings.get(word))]
        if sum(len(ks) for ks in lists) > CANDIDATE_POSTINGS + len(lists):
            self.limited.add(who)
            lists.sort(key=len)
            kept: list[list[int]] = []
            read = 0
            for ks in lists:
                if read + len(ks) > CANDIDATE_POSTINGS:
                    break  # a word in more clauses than that tells none of them apart
                kept.append(ks)
                read += len(ks)
            lists = kept
            near = index.near(who[1] / max(1, len(self.old if who[0] == "old" else self.new)))
        else:
            near = []
        shared: Counter[int] = Counter()
        for ks in lists:
            for k in ks:
                shared[k] += 1
        found = [k for k, _ in shared.most_common(MAX_CANDIDATES)]
        return found + [k for k in near if k not in found]

    def _groups(
        self,
        parts: list[int],
        part_bags: _Bags,
        whole_bags: _Bags,
        index: _Index,
    ) -> list[tuple[int, list[int]]]:
        """Runs of consecutive free parts that each sit inside the same whole clause."""
        home: dict[int, int] = {}
        side = "new" if part_bags is self._bags_new else "old"
        for p in parts:
            best, best_score = -1, 0.0
            for w in self._candidates((side, p), part_bags[p], index):
                score = containment(part_bags[p], whole_bags[w])
                if score > best_score:
                    best, best_score = w, score
            if best_score >= SPLIT_CONTAINMENT:
                home[p] = best
        groups: list[tuple[int, list[int]]] = []
        run: list[int] = []
        for p in [*parts, -1]:
            if run and (
                p != run[-1] + 1 or home.get(p) != home[run[0]] or len(run) == MAX_SPLIT_PARTS
            ):
                if len(run) >= 2:
                    groups.append((home[run[0]], list(run)))
                run = []
            if p in home:
                run.append(p)
        return groups

    def _accept(self, whole: Counter[str], parts: list[Counter[str]]) -> bool:
        joined: Counter[str] = Counter()
        for bag in parts:
            joined += bag
        together = similarity(whole, joined)
        best_single = max(similarity(whole, bag) for bag in parts)
        return together >= SPLIT_SIMILARITY and together > best_single + 0.1

    def splits_and_merges(self) -> None:
        free_old, free_new = self.free_old(), self.free_new()
        if not free_old or not free_new:
            return
        old_index = self._index(free_old, self._bags_old)
        for whole, parts in self._groups(free_new, self._bags_new, self._bags_old, old_index):
            if whole not in self.taken_old and self._accept(
                self._bags_old[whole], [self._bags_new[p] for p in parts]
            ):
                self.splits.append((whole, parts))
                self.taken_old.add(whole)
                self.taken_new.update(parts)
        free_old, free_new = self.free_old(), self.free_new()
        new_index = self._index(free_new, self._bags_new)
        for whole, parts in self._groups(free_old, self._bags_old, self._bags_new, new_index):
            if whole not in self.taken_new and self._accept(
                self._bags_new[whole], [self._bags_old[p] for p in parts]
            ):
                self.merges.append((parts, whole))
                self.taken_new.add(whole)
                self.taken_old.update(parts)

    def fuzzy(self) -> None:
        free_old, free_new = self.free_old(), self.free_new()
        if not free_old or not free_new:
            return
        index = self._index(free_old, self._bags_old)
        scored = []
        for j in free_new:
            for i in self._candidates(("new", j), self._bags_new[j], index):
                score = similarity(self._bags_old[i], self._bags_new[j])
                if score >= FUZZY_THRESHOLD:
                    distance = abs(i / max(1, len(self.old)) - j / max(1, len(self.new)))
                    scored.append((-score, distance, i, j))
        for _, _, i, j in sorted(scored):
            if i not in self.taken_old and j not in self.taken_new:
                self.pair(i, j)


def _same_letters(old: str, new: str) -> bool:
    """Whether two texts differ only in case, punctuation, quotes, numbering, US/UK spelling or
    where words are split: table cells glued by one capture ("ActivityJob Applications") and
    parted by another ("Activity, Job Applications") read the same."""
    a, b = canonical(old), canonical(new)
    return a == b or _glued(a) == _glued(b)


def _glued(text: str) -> str:
    """A canonical text with the gaps between letters taken out (and Markdown's _ marks): a
    gap beside a digit stays, so "1,5 %" and "15 %" or "3-5 days" and "35 days" differ."""
    return LETTER_GAP_RE.sub("", " ".join(text.replace("_", " ").split()))


def _joined(parts: list[Clause]) -> Clause:
    first = parts[0]
    return Clause(first.key, first.heading_path, first.label, " ".join(p.text for p in parts))


def _change(
    kind: ChangeKind,
    old: Clause | None,
    new: Clause | None,
    budget: _Budget,
    parts: Iterable[Clause] = (),
) -> ClauseChange:
    spans: tuple[Span, ...] = ()
    cosmetic = kind is ChangeKind.RENUMBERED
    if (
        old is not None
        and new is not None
        and kind not in (ChangeKind.MOVED, ChangeKind.RENUMBERED)
    ):
        spans, coarse = _word_spans(old.text, new.text, budget)
        budget.coarse += coarse
        cosmetic = _same_letters(old.text, new.text)
    elif old is not None and new is None:
        spans = (Span(SpanOp.DELETE, old.text),)
    elif new is not None and old is None:
        spans = (Span(SpanOp.INSERT, new.text),)
    return ClauseChange(kind, old, new, spans, cosmetic, tuple(parts))


def diff(
    old: Document, new: Document, old_id: int | None = None, new_id: int | None = None
) -> ChangeSet:
    """The ChangeSet that turns `old` into `new`, in the reading order of `new`."""
    aligner = _Aligner(old.clauses, new.clauses)
    aligner.by_text()
    aligner.by_label()
    aligner.splits_and_merges()
    aligner.fuzzy()
    budget = _Budget()
    in_order = _increasing(list(aligner.old_to_new.items()))
    placed: list[tuple[float, int, ClauseChange]] = []  # (position in new, tie-break, change)
    for i, j in aligner.old_to_new.items():
        o, n = old.clauses[i], new.clauses[j]
        if o.text == n.text:
            if (i, j) not in in_order:
                placed.append((j, 0, _change(ChangeKind.MOVED, o, n, budget)))
            elif o.label != n.label:
                placed.append((j, 0, _change(ChangeKind.RENUMBERED, o, n, budget)))
        else:
            placed.append((j, 0, _change(ChangeKind.MODIFIED, o, n, budget)))
    for i, js in aligner.splits:
        parts = [new.clauses[j] for j in js]
        whole = old.clauses[i]
        placed.append((js[0], 0, _change(ChangeKind.SPLIT, whole, _joined(parts), budget, parts)))
    for is_, j in aligner.merges:
        parts = [old.clauses[i] for i in is_]
        whole = new.clauses[j]
        placed.append((j, 0, _change(ChangeKind.MERGED, _joined(parts), whole, budget, parts)))
    for j in aligner.free_new():
        placed.append((j, 0, _change(ChangeKind.ADDED, None, new.clauses[j], budget)))
    anchors = sorted(aligner.old_to_new.items())
    old_positions = [i for i, _ in anchors]
    for i in aligner.free_old():
        at = bisect.bisect_left(old_positions, i)
        position = anchors[at - 1][1] + 0.5 if at else -0.5
        placed.append((position, 1, _change(ChangeKind.REMOVED, old.clauses[i], None, budget)))
    placed.sort(key=lambda item: (item[0], item[1]))
    notes = []
    if aligner.limited:
        notes.append(
            f"{len(aligner.limited):,} clauses (of both versions) share their words with many others: their"
            f" matches were looked for among the clauses with their rarest words (at most"
            f" {CANDIDATE_POSTINGS} index entries each) and at their position, not among all"
        )
    if budget.coarse:
        notes.append(
            f"{budget.coarse:,} clauses changed too much to be diffed word by word within the"
            f" bounds ({DIFF_RUN_LIMIT:,} words or sentences a run): their changed part is"
            " shown as the old text deleted and the new inserted, whole"
        )
    return ChangeSet(old_id, new_id, tuple(change for _, _, change in placed), tuple(notes))
