"""The rule language: compiled rules and how they match sentences.

A rule says which sentences of terms text mean something for creators. In YAML:

    - id: ai-training.train-models          # unique, "<pack>.<name>"
      category: ai_training                  # a monitor.model.Category
      severity: high                         # high | medium | low | info
      description: The platform may train AI models on your content.   # shown in alerts
      near: {a: [train*, fine-tun*], b: [model*, AI, machine learning], within: 10}
                                             # order: a-b makes b follow a
      all: [[we, our, your content]]         # every group must be present (any term of it)
      none: [train tracks]                   # any of these vetoes the rule
      polarity: affirmative                  # affirmative | negated | either
      actor: platform                        # platform | users | third_parties | any
      implied: false                         # true: the use is read from a control over it
                                             # ("opt out of training"); no news of the use
                                             # where the old document already stated it
      examples: {fire: [...], quiet: [...]}  # run by the tests

A weighted rule is learned from labelled sentences (`clausewatch rules learn`, monitor.rules.learn)
instead of `near`/`all`: it adds a weight for each word or word pair of the sentence it knows,
and for each other rule that fired on the sentence, to a bias, and fires when the sum reaches 0.
A category that has a weighted rule is decided by it alone: the other rules of that category
become its evidence, and their words are quoted when it fires.

    - id: learned.arbitration
      category: arbitration
      severity: info
      description: Disputes go to binding arbitration instead of a court.
      weights:
        bias: -4.1
        rules: {creator_rights.arbitration: 3.2}
        terms: {arbitration: 2.4, "binding arbitration": 1.1, "small claims": -0.8}
      examples: {fire: [...], quiet: [...]}

Terms are phrases matched case-insensitively on word boundaries; `train*` is a prefix;
a term starting with `re:` is a raw regular expression. The trigger (the `near` a-term, or the
first `all` group) is judged for negation ("will not", "does not", "never", "without your
consent", "unless you opt in", "prohibited from") in its own clause, and for its actor (the
platform by default; "you may not", "users shall not" make it the users; "third parties",
"partners", "their models" make it third parties; a licence's actor is its licensee). A list
item with no subject of its own takes actor and polarity from its lead-in ("You may not:",
"We use your data to:"; split_units, read_context); one that starts by using the platform's
own Services or Output, or with scrape or decompile, is a ban (BAN_VERB_ITEM_RE). A Match
carries the actor it was read with.
monitor.rules.files reads rule files (the default packs
are monitor/rules/*.yaml) into these types, once. Must never: do I/O, or know about diffs.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from monitor.model import Category, Match, Severity

TOKEN_RE = re.compile(r"[a-z0-9]+")

SENTENCE_RE = re.compile(
    r"(?<=[.!?])(?:\s+(?=[\"'(\[A-Z0-9])"
    # two sentences glued by a capture that lost the space ("...and information.For questions
    # ..."): a word of two lower-case letters or more, a full stop, then a capitalised word
    # (behind the full stop's own look-behind, so that it costs nothing elsewhere)
    r"|(?<=[a-z][a-z][.!?])(?=[A-Z][a-z]))"
    r"|(?<=;)\s+(?:(?:and|or)\s+)?(?=\(?[a-z0-9ivx]{1,4}[.)]\s)"
)
WORD_START_RE = re.compile(r"\S+")
CLAUSE_BREAK_RE = re.compile(
    r"[.;:!?]|\b(?:but|however|except|although|whereas|while)\b"
    # ", and you authorize ...": a new subject (the window may end right before it)
    r"|,\s+and\s+(?=(?:we|you|they|it|our|your)\b|$)",
    re.IGNORECASE,
)
SUBORDINATE_RE = re.compile(r"\b(?:if|unless|whether|when|where|even\s+if)\b[^,]*$", re.IGNORECASE)
NEGATION_BEFORE_RE = re.compile(
    r"\b(?:not|never|no|nor|neither|none|cannot|can't|won't|don't|doesn't|didn't|isn't|aren't|wasn't"
    r"|shan't|mustn't|prohibit(?:s|ed|ion)?(?:\s+(?:on|from))?|restrict(?:s|ed)?|forbid(?:s|den)?"
    r"|refrain(?:s)?\s+from|excluding|exclude[sd]?|we\s+have\s+(?:disabled|switched\s+off|turned\s+off))\b"
    r"|n['\u2019]t\b",
    re.IGNORECASE,
)
NEGATION_AFTER_RE = re.compile(
    r"\bwithout\s+(?:\w+\s+){0,4}?(?:consent|permission|authori[sz]ation|agreement|opt[- ]in)"
    r"|\bunless\s+(?:you|the\s+customer|customer|users?)\s+(?:\w+\s+){0,2}?(?:opt(?![- ]?out)|choose|consent|agree|give|enable|turn(?!\s+(?:\w+\s+)?off))"
    r"|\bonly\s+(?:with|after|if)\s+(?:\w+\s+){0,3}?(?:consent|permission|opt)",
    re.IGNORECASE,
)
USERS_ACTOR_RE = re.compile(
    r"(?:^|[;:]\s*|^\(?[a-z0-9ivx]{1,4}[.)]\s+)not\s+to\b"
    # (not the object of a preposition: "information about you may be shared")
    r"|\b(?<!about\s)(?<!from\s)(?<!with\s)(?<!for\s)(?<!\bto\s)(?<!\bby\s)(?<!\bof\s)"
    r"(?:you|users?|developers?|licensees?|members?|customers?|visitors?|anyone|any\s+(?:person|user|one)|no\s+one|nobody)"
    # the users' own verb: not one of a clause they only agree to ("you agree that we may"),
    # nor one of a thing named after them ("customer service may be recorded")
    r"\b(?!\s+(?:service|support|care|success|experience|data|content|information|accounts?)\b)"
    r"(?:\s+(?!that\b|which\b|whether\b)\w+){0,3}?\s+(?:shall|will|may|must|are|is|can|cannot|can't|should"
    r"|won't|may\s+not|agrees?\s+(?:not|to(?!\s+(?:grant|give|licen[cs]e|allow|let|permit|authori[sz]e))))\b",
    re.IGNORECASE,
)
PLATFORM_ACTOR_RE = re.compile(r"\b(?:we|us|our)\b", re.IGNORECASE)
# The platform's own things: "our" before them ("our API", "our Services and Data", "our
# permission") names what is used, not who uses it nor whose models they are
OUR_THING = (
    r"(?!\s+(?:[\w-]+\s+)?(?:services?|site|websites?|platform|apis?|apps?|content|materials?"
    r"|data|permission|consent|terms|brand|trademarks?)\b)"
)
# ... and the platform as the actor of a verb in the sentence
PLATFORM_SUBJECT_RE = re.compile(r"\b(?:we|us)\b|\bour\b" + OUR_THING, re.IGNORECASE)
THIRD_ACTOR_RE = re.compile(
    r"\b(?:third[- ]part(?:y|ies)|partners?|affiliates?|recipients?|parent\s+compan(?:y|ies)"
    r"|(?:service\s+)?providers?|vendors?|other\s+companies|others|their)\b",
    re.IGNORECASE,
)
NEGATION_WINDOW = 30  # words before the trigger in which a negation counts (same clause)
AFTER_WINDOW = 20  # words after it for "without your consent"
MAX_QUOTED = 12  # words of one term group quoted as evidence
# A "sentence" longer than this is not one (a list inlined, or hostile input): it is matched in
# pieces cut at list markers, semicolons, commas or, failing those, spaces
MAX_SENTENCE_CHARS = 2_000
MAX_LEAD_IN_CHARS = 300
SEEN_LIMIT = 50_000  # sentences whose Matches a RuleSet remembers
INLINE_ITEM_RE = re.compile(r"(?:^|\s)[*\u2022\u00b7]\s+")
ITEM_START_RE = re.compile(r"^(?:[*\u2022\u00b7-]\s|\(?(?:[a-z]|[ivx]{1,5}|\d{1,2})[.)]\s)")
# Lead-ins and headings under which list items are prohibitions, or the platform's own uses
BAN_LEAD_RE = re.compile(
    r"\b(?:you|users?|developers?|customers?|members?|visitors?|licensees?|anyone|no\s+one)\b"
    r"(?:\s+\w+){0,4}?\s+(?:may|must|shall|will|can|should|are|is)(?:\s+\w+)?\s+not\b"
    r"|\b(?:cannot|can't|won't|mustn't|shan't|aren't|agrees?\s+not|not\s+to)\b"
    r"|\bprohibit|\bforbid|\brestrictions?\b|\bnot\s+(?:allowed|permitted)\b"
    r"|\bwithout\s+(?:\w+['\u2019]?s?\s+){0,3}(?:consent|permission|authori[sz]ation)"
    # "When you need permission", "you'll need to get our permission": a use reserved
    # (the platform's need of users' permission is no ban: "we need your permission")
    r"|(?<!\bwe\s)\b(?:need|needs|require|requires|must\s+(?:get|obtain|ask\s+for))\s+"
    r"(?:to\s+(?:get|obtain|ask\s+for|request)\s+)?(?:(?!your\b|users?\b)\w+\s+){0,2}?permission\b"
    r"|\b(?:acceptable|prohibited|unauthori[sz]ed)\s+(?:use|uses|conduct|activit|access)",
    re.IGNORECASE,
)
PLATFORM_LEAD_RE = re.compile(
    r"\b(?:we|us|our)\b(?:\s+\w+){0,4}?\s+(?:use|process|collect|analy[sz]e|may|purposes?)\b"
    r"|\bpurposes?\b|\bto\s+(?:provide|operate|improve|develop)\b"
    r"|\b(?:consent|consents|agree|agrees)\s+to\s+us\b|\b(?:authori[sz]e|allow|permit|let)\s+us\b",
    re.IGNORECASE,
)
# Who a licence is granted to: the first grantee named after a granting verb decides the actor
# of a licence sentence ("you grant us" the platform, "you grant other users" the users)
LICENSEE_RE = re.compile(
    r"\b(?:grant(?:s|ing)?|give[sn]?|authori[sz]e[sd]?)\s+(?:(?:back\s+)?to\s+)?(?:"
    r"(?P<users>each\s+user|other\s+users|all\s+users|any\s+user|(?:your|their)\s+(?:fans|followers|subscribers|audience|viewers)"
    r"|the\s+(?:community|public))\b"
    r"|(?P<third>third[- ]part(?:y|ies)|(?:our\s+)?(?:business\s+)?partners)\b"
    r"|(?P<platform>us|we)\b|(?-i:(?!You\b|Your\b)(?P<named>[A-Z][\w&.-]*)))",
    re.IGNORECASE,
)
# A negation that only describes a noun ("content that is not personal data") negates no verb
RELATIVE_COPULA_RE = re.compile(r"\b(?:that|which|who)\s+(?:is|are|was|were)\s+$", re.IGNORECASE)
# ... and one inside a clause that describes the data ("data that, by itself, cannot identify you")
RELATIVE_RE = re.compile(
    r"\b(?:data|information|content|materials?|inputs?)\s+(?:that|which)\b(?:\W+\w+){0,4}?\W*$",
    re.IGNORECASE,
)
# A negation of the reader's wish, not of the use: "If you do not want us to use your content
# to train ..., you can opt out" states the use as the default, and promises nothing
WISH_RE = re.compile(r"^\s+(?:want|wish|like|prefer)\b", re.IGNORECASE)
READER_RE = re.compile(r"\b(?:you|users?|members?|customers?)\s+(?:\w+\s+)?$", re.IGNORECASE)
PARTICIPLE_RE = re.compile(
    r"^\s*(?:\w+ed|used|sold|shared|made|given|kept|shown|taken)\b", re.IGNORECASE
)
OWNER_RE = re.compile(
    r"\b(our\b"
    + OUR_THING
    + r"|their|its|(?<!\bor\s)(?<!\bany\s)third[- ]part(?:y|ies)(?:['\u2019]s?)?)"
    r"\s+(?:own\s+)?(?:[\w-]+\s+){0,3}$",
    re.IGNORECASE,
)

# Users' own models ("your fine-tuned, customized or otherwise modified models", "your own AI
# model") and users as the ones who train ("helps you train", "lets customers fine-tune"):
# what a tool lets its users do with their models, not the platform training on their data.
# No data noun between "your" and the model ("your data to train models" is the platform's).
YOUR_MODEL_RE = re.compile(
    r"\byour\s+(?:own\s+)?(?:(?!(?:data|content|information|inputs?|outputs?|prompts?|posts?"
    r"|messages|conversations|interactions|recordings|to|for|with)\b)[\w-]+,?\s+(?:(?:or|and)\s+)?){0,6}$",
    re.IGNORECASE,
)
MODEL_AHEAD_RE = re.compile(r"(?:[\w-]+\s+){0,2}?models?\b", re.IGNORECASE)
USERS_TRAIN_RE = re.compile(
    r"\b(?:help|helps|helping|allow|allows|allowing|enable|enables|enabling|let|lets|permit"
    r"|permits)\s+(?:you|users|customers)\s+(?:to\s+)?$",
    re.IGNORECASE,
)


class Polarity(StrEnum):
    AFFIRMATIVE = "affirmative"  # fires unless the trigger is negated
    NEGATED = "negated"  # fires only when the trigger is negated (promises, prohibitions)
    EITHER = "either"


class Actor(StrEnum):
    PLATFORM = "platform"
    USERS = "users"
    THIRD_PARTIES = "third_parties"
    NOT_USERS = "not_users"  # the platform or third parties: whoever it is, not the users
    ANY = "any"


def _term(term: str) -> str:
    """A plain term's pattern, without the word-start guard compile_terms puts before all."""
    prefix = term.endswith("*")
    words = [re.escape(w) for w in term.rstrip("*").split()]
    return r"[\s-]+".join(words) + (r"\w*" if prefix else r"\b")


def compile_terms(terms: Iterable[str]) -> re.Pattern[str]:
    """One pattern for a term list. The plain terms share one word-start guard, so that the
    engine tries them only where a word starts (and not after "non-": "non-transferable" is not
    "transferable"); `re:` terms are tried as written."""
    terms = list(terms)
    plain = [_term(t) for t in terms if not t.startswith("re:")]
    raw = [t[3:] for t in terms if t.startswith("re:")]
    parts = [f"(?:{r})" for r in raw]
    if plain:
        # nor inside a domain or address ("perplexity.ai", "x@ai")
        parts.insert(0, r"\b(?<!non-)(?<!non )(?<![.@/])(?:" + "|".join(plain) + ")")
    return re.compile("|".join(parts), re.IGNORECASE)


# A plain term of words only (what compile_terms joins with spaces or hyphens)
PLAIN_TERM_RE = re.compile(r"[a-z0-9]+(?:[\s-]+[a-z0-9]+)*\*?")
# Letters (or a group of alternative letters) that a raw term needs at the start of a word
RAW_ANCHOR_RE = re.compile(r"(?:\(\?:([a-z]+(?:\|[a-z]+)*)\)|([a-z]+))(?![a-z])(.?)", re.IGNORECASE)


def raw_anchors(regex: str) -> list[str] | None:
    """The word starts one of which a sentence needs for `regex` (a `re:` term) to match it,
    or None when that cannot be read from the pattern: letters (or a group of alternative
    letters) that every match holds at the start of a word (after a word boundary or
    whitespace, outside any group), in a pattern with no alternative at its top level; of
    several, the longest."""
    starts = _top_level_word_starts(regex)
    if starts is None:
        return None
    found: list[list[str]] = []
    for start in starts:
        anchor = RAW_ANCHOR_RE.match(regex, start)
        if anchor is None:
            continue
        group, word, after = anchor.groups()
        if word is not None:
            if after in ("?", "*", "{"):
                word = word[:-1]  # the last letter is optional ("\\bcolou?r")
            if word:
                found.append([word.lower()])
        elif after not in ("?", "*", "{"):  # a group that is not optional
            found.append([w.lower() for w in group.split("|")])
    # the longest words screen best ("n't be liable": "liable" or "responsible", not "be")
    return max(found, key=lambda words: min(map(len, words)), default=None)


def _top_level_word_starts(regex: str) -> list[int] | None:
    """Where a word starts outside any group of `regex` (after \\b or \\s+), or None when
    the pattern is an alternative at its top level."""
    starts, depth, index, in_class = [], 0, 0, False
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            following = regex[index + 1 : index + 3]
            if depth == 0 and not in_class:
                if following[:1] == "b":
                    starts.append(index + 2)
                elif following == "s+":
                    starts.append(index + 3)
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return None
        index += 1
    return starts


class Screen(NamedTuple):
    """A cheap test that a term list may match a sentence, from the words it starts with: a
    rule whose required lists cannot match is not run (most sentences fire no rule)."""

    words: frozenset[str]  # first words of the plain terms
    prefixes: tuple[str, ...]  # first words of one-word prefix terms ("train*")
    raw: bool  # a `re:` term: cannot be screened
    # the prefixes as one pattern over a sentence's words joined by spaces (one C-level search
    # instead of a Python loop over the words)
    prefix_re: re.Pattern[str] | None = None

    @classmethod
    def of(cls, terms: Iterable[str]) -> Screen:
        words, prefixes, raw = set(), [], False
        for term in terms:
            if term.startswith("re:"):
                anchors = raw_anchors(term[3:])
                prefixes += anchors or []
                raw = raw or not anchors
                continue
            tokens = TOKEN_RE.findall(term.lower().rstrip("*"))
            if not tokens:
                raw = True
            elif term.endswith("*") and len(tokens) == 1:
                prefixes.append(tokens[0])
            elif PLAIN_TERM_RE.fullmatch(term.lower()):
                # every word of a plain term stands as a word of the sentence: the longest
                # (the rarest, as a rule) screens best ("in no event": "event")
                whole = tokens[:-1] if term.endswith("*") else tokens
                words.add(max(whole, key=len))
            else:
                words.add(tokens[0])
        prefix_re = (
            re.compile(" (?:" + "|".join(map(re.escape, prefixes)) + ")") if prefixes else None
        )
        return cls(frozenset(words), tuple(prefixes), raw, prefix_re)

    def may_match(self, tokens: frozenset[str], joined: str | None = None) -> bool:
        """`joined`: the words of the sentence, each after a space (" we may train ...")."""
        if self.raw or not self.words.isdisjoint(tokens):
            return True
        if self.prefix_re is None:
            return False
        if joined is None:
            joined = " " + " ".join(tokens)
        return self.prefix_re.search(joined) is not None


def ngrams(text: str) -> set[str]:
    """The lower-cased words and word pairs of `text`: what a weighted rule weighs."""
    words = TOKEN_RE.findall(text.lower())
    return {*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))}


@dataclass(frozen=True, slots=True)
class Weights:
    """A weighted rule's linear score: bias + the weights of its terms and rules present."""

    bias: float
    terms: Mapping[str, float]
    rules: Mapping[str, float] = field(default_factory=dict)

    def score(self, grams: Iterable[str], fired: Iterable[str]) -> float:
        terms, rules = self.terms, self.rules
        return (
            self.bias
            + sum(terms.get(g, 0.0) for g in grams)
            + sum(rules.get(r, 0.0) for r in fired)
        )


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: Category
    severity: Severity
    description: str
    groups: tuple[re.Pattern[str], ...] = ()
    near: tuple[re.Pattern[str], re.Pattern[str], int] | None = None
    ordered: bool = False  # near: the b term must follow the a term ("develop ... models")
    cue: tuple[re.Pattern[str], int] | None = (
        None  # terms that must stand within N words of the trigger
    )
    none: re.Pattern[str] | None = None
    polarity: Polarity = Polarity.AFFIRMATIVE
    actor: Actor = Actor.PLATFORM
    weights: Weights | None = None
    # the use is read from a control over it ("you can opt out of training" tells that
    # training is on): where a document already states the use, the control is no news of it
    implied: bool = False
    fire: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()
    origin: str = ""
    terms: tuple[str, ...] = ()  # the near, all and cue terms as written (for reports)
    screens: tuple[Screen, ...] = ()  # one per term list the rule needs (near a, b, all groups)

    @property
    def pack(self) -> str:
        return self.id.split(".", 1)[0]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_RE.split(text) if s.strip()]


class Unit(NamedTuple):
    """What rules are matched on: a sentence or a list item, and the lead-in that introduces it
    ("You agree not to:", "We use your information to:"), or a heading, or ""."""

    text: str
    lead_in: str = ""


def _cut(text: str) -> list[str]:
    """`text` in pieces of at most MAX_SENTENCE_CHARS, cut at ; or , or a space."""
    pieces = []
    while len(text) > MAX_SENTENCE_CHARS:
        window = text[:MAX_SENTENCE_CHARS]
        cut = max(window.rfind(";"), window.rfind(","))
        if cut < MAX_SENTENCE_CHARS // 2:
            cut = window.rfind(" ")
        if cut < MAX_SENTENCE_CHARS // 2:
            cut = MAX_SENTENCE_CHARS - 1
        pieces.append(text[: cut + 1].strip())
        text = text[cut + 1 :]
    return [p for p in (*pieces, text.strip()) if p]


def split_units(text: str, lead_in: str = "") -> list[Unit]:
    """The sentences and list items of `text`, each with its lead-in.

    A list inlined in one line ("We collect: * search queries * prompts in AI features") is
    split into its items; the words before the first item, or before a colon that opens the
    sentence ("You may not: use the Content to train..."), become the lead-in of the items
    that follow, until a sentence that is not an item. Over-long sentences are cut.
    """
    return [unit for _, units in _split(text, lead_in) for unit in units]


def split_sentence_units(text: str, lead_in: str = "") -> list[tuple[str, list[Unit]]]:
    """Each sentence of `text` with its units (split_units): the hand-written rules read the
    units, the learned ones the whole sentence they were learned on."""
    return [(sentence, list(units)) for sentence, units in _split(text, lead_in)]


@functools.lru_cache(maxsize=256)
def _split(text: str, lead_in: str) -> tuple[tuple[str, tuple[Unit, ...]], ...]:
    """split_sentence_units, remembered: a changed clause is split for its rule matches and
    again for its licence sentences (monitor.rules.scope)."""
    return tuple((s, tuple(units)) for s, units in _split_sentence_units(text, lead_in))


def _split_sentence_units(text: str, lead_in: str) -> list[tuple[str, list[Unit]]]:
    groups: list[tuple[str, list[Unit]]] = []
    units: list[Unit] = []
    lead = lead_in
    for sentence in split_sentences(text):
        start = len(units)
        items = INLINE_ITEM_RE.split(sentence)
        head, rest = items[0].strip(), [i.strip() for i in items[1:] if i.strip()]
        if not rest and not ITEM_START_RE.match(sentence):
            colon = sentence.find(":")
            if 0 < colon <= MAX_LEAD_IN_CHARS and sentence[colon + 1 :].strip():
                head, rest = sentence[: colon + 1], [sentence[colon + 1 :].strip()]
        if rest:
            if head and not ITEM_START_RE.match(head):
                units += [Unit(piece, lead) for piece in _cut(head)]
                if len(head) <= MAX_LEAD_IN_CHARS:
                    lead = f"{lead} {head}" if lead else head
            elif head:
                rest.insert(0, head)
            units += [Unit(piece, lead) for item in rest for piece in _cut(item)]
        elif ITEM_START_RE.match(sentence):
            units += [Unit(piece, lead) for piece in _cut(sentence)]
        else:
            units += [Unit(piece, lead_in) for piece in _cut(sentence)]
            # the items that may follow ("...: (a) ...; (b) ...") are led by this sentence, and
            # by what leads it (it may itself be the first item of a list)
            if len(sentence) <= 2 * MAX_LEAD_IN_CHARS:
                lead = f"{lead_in} {sentence}" if lead_in else sentence
            else:
                lead = lead_in
        groups.append((sentence, units[start:]))
    return groups


IMPERATIVE_BAN_RE = re.compile(
    r"^\W*(?:\(?[a-z0-9]{1,4}[.)]\s*)?(?:do\s+not|don['\u2019]t|never|no\s+one\s+may)\b",
    re.IGNORECASE,
)


# What a ban bars others from when it is about content or data: access, copying, mining,
# training (a ban on assigning one's account, or on charging a scooter, bars nobody from it)
ACCESS_RE = re.compile(
    r"\b(?:scrap\w*|crawl\w*|spider\w*|harvest\w*|mine|mines|mined|mining|data[- ]min\w*|extract\w*"
    r"|collect\w*|aggregat\w*|copy|copies|copying|download\w*|reproduc\w*|index\w*|reverse[- ]engineer\w*"
    r"|decompil\w*|recompil\w*|disassembl\w*|robots?|bots?|automated\s+(?:means|systems?|tools?)"
    r"|artificial\s+intelligence|machine\s+learning|AI)\b",
    re.IGNORECASE,
)
# A subjectless list item that starts with one of these verbs is a ban: nobody lists them as
# their own practice
BAN_VERB_ITEM_RE = re.compile(
    # (a list of verbs may come first: "collect, aggregate, mine, scrape, or otherwise use")
    r"^\W*(?:\(?[a-z0-9]{1,4}[.)]\s*)?(?:\w+,?\s+(?:or\s+)?){0,4}?(?:scrape|crawl|harvest|mine|data[- ]mine"
    r"|recompile|decompile|disassemble|reverse[- ]engineer"
    # using the platform's own service, site, API or output: a rule for its users
    r"|(?:access|use|utili[sz]e|share)(?:\s+(?:or|and/or|and)\s+(?:access|use|share))?\s+(?:(?:the|our|any)\s+)?"
    r"(?:[\w-]+\s+)?(?:Services?|Site|Platform|APIs?|Outputs?)\b)\b",
    re.IGNORECASE,
)
# A ban worded by who may allow it ("without our prior written consent", "except as expressly
# permitted by the Company"): the item is a prohibition on whoever is reading it
PERMISSION_BAN_RE = re.compile(
    r"\bwithout\s+(?:the\s+)?(?:our|its|(?!(?:you|your|users?|customers?|members?|creators?|subscribers?|owners?)['\u2019])"
    r"(?-i:[A-Z][\w&.-]*)['\u2019]s)\s+(?:[\w-]+\s+){0,3}?(?:consent|permission|authori[sz]ation|approval)"
    r"|\bexcept\s+as\s+(?:expressly\s+|otherwise\s+|specifically\s+)?(?:permitted|authori[sz]ed|allowed)\b(?!\s+by\s+(?:applicable\s+)?law)",
    re.IGNORECASE,
)
# A sentence that opens by barring its reader ("You are not allowed to ...", "Users must not
# ...", "You agree not to ..."): what it goes on to list, however far, is what they may not do
OPENING_BAN_RE = re.compile(
    r"^\W*(?:\(?[a-z0-9ivx]{1,4}[.)]\s*)?(?:you|users?|developers?|customers?|licensees?|members?)\s+"
    r"(?:(?:are|is)\s+not\s+(?:allowed|permitted|authori[sz]ed)\s+to|(?:may|must|shall|will|should|can)"
    r"\s+not|cannot|can['\u2019]t|won['\u2019]t|mustn['\u2019]t|shan['\u2019]t|agrees?\s+not\s+to)\b"
    r"(?!\s+be\b)",  # "You will not be paid; ..." bars nothing
    re.IGNORECASE,
)
# a clause of its own after the opening ban: the platform as subject, or a new clause after ";"
OWN_CLAUSE_RE = re.compile(r"\b(?:we|us)\b|;", re.IGNORECASE)
# The platform prohibiting a use ("X prohibits any use of ... to train") bans others from it
PROHIBITS_RE = re.compile(
    r"\b(?:prohibits?|forbids?|(?:does|do)\s+not\s+(?:allow|permit))\s+(?:any|all|the|you|users|others|anyone|third)\b",
    re.IGNORECASE,
)
RESERVATION_RE = re.compile(
    r"\breservation\s+of\s+(?:our|its|all)?\s*rights\b|\brights\s+(?:are\s+)?(?:hereby\s+)?(?:expressly\s+|explicitly\s+)?reserved\b",
    re.IGNORECASE,
)


def prohibits_others(text: str, lead_in: str = "") -> bool:
    """Whether `text`, read with its lead-in, bars users or others from content or data (a
    scraping, mining or training ban: it takes nothing from the users it protects)."""
    context = read_context(lead_in)
    banned = (
        (context.negated and context.actor is Actor.USERS)
        or bool(BAN_LEAD_RE.search(text))
        or bool(IMPERATIVE_BAN_RE.match(text))
        or bool(RESERVATION_RE.search(text))
    )
    return bool(BAN_VERB_ITEM_RE.match(text)) or (banned and bool(ACCESS_RE.search(text)))


class Context(NamedTuple):
    """What a lead-in or heading says about the items under it."""

    actor: Actor | None = None
    # "You may not:", "Prohibited uses" (a ban on users), "We will not use your content:" (a
    # promise): the items under it are negated
    negated: bool = False


NO_CONTEXT = Context()
SUBJECT_RE = re.compile(r"\b(?:we|you|they)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def read_context(lead_in: str) -> Context:
    """Who the items under `lead_in` are about, and whether they are prohibitions: its last
    sentence (the one that introduces the list) decides, else the whole of it."""
    if not lead_in:
        return NO_CONTEXT
    last = split_sentences(lead_in)[-1]
    if last != lead_in:
        context = _read_context(last)
        # one with a subject of its own ("you must be aware that:") decides alone; "Examples
        # of such use include:" or an item of an outer list reads with what came before
        if context is not NO_CONTEXT or (SUBJECT_RE.search(last) and not ITEM_START_RE.match(last)):
            return context
    return _read_context(lead_in)


def _read_context(lead_in: str) -> Context:
    if BAN_LEAD_RE.search(lead_in):
        return Context(Actor.USERS, negated=True)
    platform = PLATFORM_ACTOR_RE.search(lead_in)
    if platform and NEGATION_BEFORE_RE.search(lead_in, platform.end()):
        return Context(Actor.PLATFORM, negated=True)
    if PLATFORM_LEAD_RE.search(lead_in):
        return Context(Actor.PLATFORM)
    return NO_CONTEXT


class _Sentence:
    """A sentence with word offsets, so that distances are counted in words."""

    def __init__(self, text: str, context: Context = NO_CONTEXT) -> None:
        self.text = text
        self.context = context
        self.starts = [m.start() for m in WORD_START_RE.finditer(text)]
        self.tokens = frozenset(TOKEN_RE.findall(text.lower()))
        self.joined = " " + " ".join(self.tokens)

    @functools.cached_property
    def has_control(self) -> bool:
        """Whether the sentence names a control anywhere (CONTROL_RE): read once per sentence,
        so that rules skip the per-trigger look back where it names none."""
        return CONTROL_RE.search(self.text) is not None

    def word_at(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def clause_before(self, offset: int) -> str:
        """The words before `offset` in the same clause, at most NEGATION_WINDOW of them."""
        start_word = max(0, self.word_at(offset) - NEGATION_WINDOW)
        window = self.text[self.starts[start_word] if self.starts else 0 : offset]
        breaks = list(CLAUSE_BREAK_RE.finditer(window))
        return window[breaks[-1].end() :] if breaks else window

    def clause_after(self, offset: int) -> str:
        end_word = self.word_at(offset) + AFTER_WINDOW
        end = self.starts[end_word] if end_word < len(self.starts) else len(self.text)
        window = self.text[offset:end]
        stop = re.search(r"[.;!?]", window)
        return window[: stop.start()] if stop else window


def _negated(sentence: _Sentence, start: int, end: int) -> bool:
    """Whether the trigger is negated in its own clause ("does not use ... to train").

    A negation inside a preceding conditional ("If you do not opt out, ... may train") does not
    count; "without your consent" or "unless you opt in" after the trigger does.
    """
    before = sentence.clause_before(start)
    for cue in reversed(list(NEGATION_BEFORE_RE.finditer(before))):
        if "," in before[cue.end() :] and SUBORDINATE_RE.search(before[: cue.start()]):
            continue
        if RELATIVE_COPULA_RE.search(before[: cue.start()]) and not PARTICIPLE_RE.match(
            before[cue.end() :]
        ):
            continue  # "User Content that is not personal data to develop ..."
        if "," in before[cue.end() :] and RELATIVE_RE.search(before[: cue.start()]):
            continue  # "data that, by itself, cannot identify you, ... to develop ..."
        if WISH_RE.match(before[cue.end() :]) and READER_RE.search(before[: cue.start()]):
            continue  # "If you do not want us to use ..."
        return True
    return bool(NEGATION_AFTER_RE.search(sentence.clause_after(end)))


def _actor(sentence: _Sentence, start: int, owner: Actor | None = None) -> Actor | None:
    """Who the trigger is about: whose models ("our models", "their models"), else the nearest
    actor cue before it, else None (the context or the platform)."""
    if owner is not None:
        return owner
    before = sentence.text[:start]
    found = []
    for actor, pattern in (
        (Actor.USERS, USERS_ACTOR_RE),
        (Actor.PLATFORM, PLATFORM_SUBJECT_RE),
        (Actor.THIRD_PARTIES, THIRD_ACTOR_RE),
    ):
        hits = list(pattern.finditer(before))
        if hits:
            found.append((hits[-1].end(), actor))
    return max(found)[1] if found else None


# Words that carry no meaning of their own: a rule may need "we" or "our" near a verb to know
# who acts, but such a word is never quoted as a word that fired (a reader told the rule
# "fired on We" learns nothing). Negations (not, never, no) stay: they decide a promise.
_FUNCTION_WORDS = """a an the this that these those such any all each every some other
    we us our ours you your yours they them their theirs it its i me my he him his she her
    may might can could will would shall should must do does did done is are was were be been
    being am have has had having
    and or but nor if then than so as also only just which who whom whose what when where how
    of to in on at by for with from into onto upon about over under via per within without
    through between among out up"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())


def fired_words(words: Iterable[str]) -> tuple[str, ...]:
    """The words of `words` worth quoting as what fired a rule: once each, in order, without
    those made only of function words ("We", "the", "our", "may", "may be")."""
    kept = (w.strip() for w in words)
    return tuple(
        dict.fromkeys(
            w for w in kept if w and not set(TOKEN_RE.findall(w.lower())) <= FUNCTION_WORDS
        )
    )


def _licensee(sentence: _Sentence) -> Actor | None:
    """Who a licence in `sentence` is granted to, from the first grantee named."""
    found = LICENSEE_RE.search(sentence.text)
    if found is None:
        return None
    if found.group("users"):
        return Actor.USERS
    if found.group("third"):
        return Actor.THIRD_PARTIES
    return Actor.PLATFORM


def match_rule(rule: Rule, sentence: str | _Sentence) -> Match | None:
    """The Match of `rule` on one sentence, or None."""
    if rule.weights is not None:
        raise ValueError(f"{rule.id} is weighted: match it with RuleSet.match or match_weighted")
    s = sentence if isinstance(sentence, _Sentence) else _Sentence(sentence)
    if not all(screen.may_match(s.tokens, s.joined) for screen in rule.screens):
        return None
    return _match_screened(rule, s)


# A use named as what a control is over ("the right to opt out of using your data for
# training", "you decide whether we may use your content to train") is the control, not a
# grant of the use: the opt-out rules read it; the use rules skip such a trigger (a use
# stated beside the control, "Unless you opt out, we will train on ...", still fires)
CONTROL_RE = re.compile(
    r"\b(?:opt(?:s|ed|ing)?[- ]?out\s+of|object(?:s|ing)?\s+to|(?:decide|choose|control|determine)"
    r"\s+whether|in\s+control\s+of\s+whether|withdraw(?:s|ing)?\s+(?:your\s+)?consent\s+(?:to|for))\b",
    re.IGNORECASE,
)
CONTROLLED_CATEGORIES = frozenset(
    {Category.AI_TRAINING, Category.THIRD_PARTY_AI, Category.DATA_SHARING}
)


def _controlled(s: _Sentence, offset: int) -> bool:
    """Whether the words at `offset` are what a control in their own clause is over."""
    before = s.clause_before(offset)
    return bool(CONTROL_RE.search(before.rsplit(",", 1)[-1]))


def _your_model(text: str, model: re.Match[str]) -> bool:
    """Whether a model term names users' own model ("your fine-tuned models")."""
    return bool(
        MODEL_AHEAD_RE.match(text, model.start())
        and YOUR_MODEL_RE.search(text[max(0, model.start() - 80) : model.start()])
    )


NAME_BEFORE_RE = re.compile(r"[A-Z][\w-]*\s+$")
NAME_AFTER_RE = re.compile(r"\s+[A-Z][\w-]*")


def _in_name(text: str, start: int, end: int) -> bool:
    """Whether a capitalised trigger stands between two capitalised words in a sentence mostly
    in lower case: part of a name ("on SageMaker Training Jobs"), not the verb."""
    if not text[start : start + 1].isupper():
        return False
    if not (
        NAME_BEFORE_RE.search(text, max(0, start - 40), start) and NAME_AFTER_RE.match(text, end)
    ):
        return False
    words = text.split()
    return 2 * sum(1 for w in words if w[:1].islower()) >= len(words)


def _match_screened(rule: Rule, s: _Sentence) -> Match | None:
    """match_rule on a sentence its screens let through."""
    words: list[str] = []
    trigger: tuple[int, int] | None = None
    owner: Actor | None = None
    if rule.near:
        a, b, within = rule.near
        b_hits = list(b.finditer(s.text))
        if not b_hits:
            return None
        b_words = [s.word_at(m.start()) for m in b_hits]  # ascending, like the hits
        cue_words: list[int] | None = None  # where the cue terms stand, found once
        tries = 0
        controllable = rule.category in CONTROLLED_CATEGORIES and s.has_control
        for hit in a.finditer(s.text):
            if controllable and _controlled(s, hit.start()):
                continue
            if _in_name(s.text, hit.start(), hit.end()):
                continue  # "SageMaker Training Jobs": a name
            position = s.word_at(hit.start())
            # the b hits within `within` words, found by bisection: linear in the hits
            first = bisect.bisect_left(b_words, position - within)
            last = bisect.bisect_right(b_words, position + within)
            close = [
                m
                for m in itertools.islice(b_hits, first, min(last, first + MAX_QUOTED))
                if m.start() >= hit.end() or (m.end() <= hit.start() and not rule.ordered)
            ]
            if close and rule.cue and tries < MAX_QUOTED:
                # the trigger is the first a-term with both a b-term and the cue near it
                tries += 1
                if cue_words is None:
                    cue_words = [s.word_at(m.start()) for m in rule.cue[0].finditer(s.text)]
                lo = bisect.bisect_left(cue_words, position - rule.cue[1])
                if lo >= len(cue_words) or cue_words[lo] > position + rule.cue[1]:
                    continue
            if close and USERS_TRAIN_RE.search(s.text[max(0, hit.start() - 40) : hit.start()]):
                continue  # users who train ("helps you train"): not the platform's AI
            close = [m for m in close if not _your_model(s.text, m)]
            if close:
                trigger = (hit.start(), hit.end())
                words += [hit.group(0), *(m.group(0) for m in close)]
                possessive = OWNER_RE.search(
                    s.text[max(0, close[0].start() - 40) : close[0].start()]
                )
                if possessive and possessive.group(1).lower() == "our":
                    owner = Actor.PLATFORM
                elif possessive and possessive.group(1).lower().startswith(("their", "third")):
                    owner = Actor.THIRD_PARTIES
                break
        if trigger is None:
            return None
    for group in rule.groups:
        found = list(itertools.islice(group.finditer(s.text), MAX_QUOTED))
        if not found:
            return None
        words += [m.group(0) for m in found]
        if trigger is None:
            trigger = (found[0].start(), found[0].end())
    if trigger is None or (rule.none and rule.none.search(s.text)):
        return None
    if rule.cue:
        pattern, within = rule.cue
        position = s.word_at(trigger[0])
        cue = next(
            (m for m in pattern.finditer(s.text) if abs(s.word_at(m.start()) - position) <= within),
            None,
        )
        if cue is None:
            return None
        words.append(cue.group(0))
    own_actor = _actor(s, trigger[0], owner)
    # an item with no subject of its own under "You may not:" is a prohibition on users, one
    # under "We will not use your content:" a promise
    negated = _negated(s, *trigger) or (s.context.negated and own_actor is None)
    if (
        own_actor in (None, Actor.PLATFORM) and PROHIBITS_RE.search(s.clause_before(trigger[0]))
    ) or (own_actor is None and s.context.actor is None and PERMISSION_BAN_RE.search(s.text)):
        negated, own_actor = True, Actor.USERS  # "X prohibits any use of ... to train"
    elif own_actor is not Actor.PLATFORM:
        opening = OPENING_BAN_RE.match(s.text)
        if opening and not OWN_CLAUSE_RE.search(s.text, opening.end(), trigger[0]):
            negated, own_actor = True, Actor.USERS  # "You are not allowed to ... (iv) train"
    if rule.polarity is Polarity.AFFIRMATIVE and negated:
        return None
    if rule.polarity is Polarity.NEGATED and not negated:
        return None
    actor = own_actor or s.context.actor or Actor.PLATFORM
    if rule.category is Category.CONTENT_LICENSE and not negated:
        actor = _licensee(s) or actor  # a licence's actor is its licensee
    if rule.actor is Actor.NOT_USERS:
        if actor is Actor.USERS:
            return None
    elif rule.actor is not Actor.ANY and actor is not rule.actor:
        return None
    return Match(rule.id, rule.category, rule.severity, s.text, fired_words(words), actor.value)


def fired_rules(
    rules: Iterable[Rule], sentence: str, context: Context = NO_CONTEXT
) -> dict[str, Match]:
    """The rules without weights that fire on one sentence, by id, in the order given."""
    s = _Sentence(sentence, context)
    return {rule.id: found for rule in rules if (found := match_rule(rule, s))}


def _quote(gram: str, text: str) -> str:
    """`gram` ("not liable") as it is written in `text` ("NOT Liable")."""
    pattern = r"(?<![a-z0-9])" + r"[^a-z0-9]+".join(gram.split()) + r"(?![a-z0-9])"
    found = re.search(pattern, text, re.IGNORECASE)
    return found.group(0) if found else gram


def match_weighted(
    rule: Rule, sentence: str, fired: Mapping[str, Match], grams: set[str] | None = None
) -> Match | None:
    """The Match of a weighted rule on one sentence, given the other rules that fired on it.

    The quoted words are those of the positively weighted rules that fired, then the words and
    word pairs that weigh most for it.
    """
    weights = rule.weights
    assert weights is not None
    grams = ngrams(sentence) if grams is None else grams
    if weights.score(grams, fired) < 0:
        return None
    words = [w for r, m in fired.items() if weights.rules.get(r, 0.0) > 0 for w in m.words]
    best = sorted(
        (g for g in grams if weights.terms.get(g, 0.0) > 0), key=weights.terms.__getitem__
    )
    words += [_quote(g, sentence) for g in reversed(best[-4:])]
    unique = fired_words(words)[:6]
    return Match(rule.id, rule.category, rule.severity, sentence, unique)


class _Plan(NamedTuple):
    plain: tuple[Rule, ...]  # rules without weights to run: wanted, or evidence of a wanted one
    weighted: tuple[Rule, ...]
    decided: frozenset[Category]  # categories a weighted rule decides
    # word or word pair -> (index in `weighted`, weight): a sentence's grams are looked up
    # once for all weighted rules
    table: dict[str, list[tuple[int, float]]]
    screens: _Screens


class _Screens:
    """The screens of a plan's rules as one index: which rules may match a sentence is found
    from its words in one set intersection and one search, not rule by rule."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        ids: dict[Screen, int] = {}
        self.words: dict[str, list[int]] = {}
        self.prefixes: dict[str, list[int]] = {}
        always = []
        needs = []
        for rule in rules:
            needed = []
            for screen in rule.screens:
                if screen not in ids:
                    index = ids[screen] = len(ids)
                    if screen.raw:
                        always.append(index)
                    for word in screen.words:
                        self.words.setdefault(word, []).append(index)
                    for prefix in screen.prefixes:
                        self.prefixes.setdefault(prefix, []).append(index)
                needed.append(ids[screen])
            needs.append((rule, frozenset(needed)))
        self.rules = tuple(needs)
        self.always = frozenset(always)
        self.known = frozenset(self.words)
        self.lengths = sorted({len(p) for p in self.prefixes})
        self.by_token: dict[str, tuple[int, ...]] = {}  # the prefix screens a word passes
        self.prefix_re = (
            re.compile(" ((?:" + "|".join(map(re.escape, self.prefixes)) + ")[a-z0-9]*)")
            if self.prefixes
            else None
        )

    def candidates(self, s: _Sentence) -> list[Rule]:
        """The rules whose every screen may match `s`, in plan order."""
        passed = set(self.always)
        for word in s.tokens & self.known:
            passed.update(self.words[word])
        if self.prefix_re is not None:
            for token in self.prefix_re.findall(s.joined):
                found = self.by_token.get(token)
                if found is None:
                    if len(self.by_token) >= SEEN_LIMIT:
                        self.by_token.clear()
                    found = self.by_token[token] = tuple(
                        index
                        for length in self.lengths
                        if length <= len(token)
                        for index in self.prefixes.get(token[:length], ())
                    )
                passed.update(found)
        return [rule for rule, needed in self.rules if needed <= passed]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Compiled rules, applied to text sentence by sentence."""

    rules: tuple[Rule, ...]
    by_id: dict[str, Rule] = field(default_factory=dict)
    # which rules to run for a set of categories, worked out on its first match
    _plans: dict[frozenset[Category] | None, _Plan] = field(
        default_factory=dict, compare=False, repr=False
    )
    # the Matches of sentences already seen: the old and new text of a changed clause share
    # most of their sentences, and a pass sees the same boilerplate on many pages
    _seen: dict[tuple[Unit, frozenset[Category] | None], tuple[list[Match], dict[str, Match]]] = (
        field(default_factory=dict, compare=False, repr=False)
    )

    def _plan(self, categories: frozenset[Category] | None) -> _Plan:
        plan = self._plans.get(categories)
        if plan is None:
            weighted = [r for r in self.rules if r.weights is not None]
            decided = frozenset(r.category for r in weighted)
            if categories is not None:
                weighted = [r for r in weighted if r.category in categories]
            evidence = {i for r in weighted if r.weights for i in r.weights.rules}
            plain = [
                r
                for r in self.rules
                if r.weights is None
                and (categories is None or r.category in categories or r.id in evidence)
            ]
            table: dict[str, list[tuple[int, float]]] = {}
            for index, rule in enumerate(weighted):
                assert rule.weights is not None
                for gram, weight in rule.weights.terms.items():
                    table.setdefault(gram, []).append((index, weight))
            plan = _Plan(tuple(plain), tuple(weighted), decided, table, _Screens(plain))
            self._plans[categories] = plan
        return plan

    def match(
        self, text: str, categories: frozenset[Category] | None = None, lead_in: str = ""
    ) -> list[Match]:
        """The Matches on the sentences and list items of `text`; `lead_in` is the sentence or
        heading that introduces it, which decides actor and polarity of subjectless items."""
        matches: list[Match] = []
        weighted = bool(self._plan(categories).weighted)
        for sentence, units in _split(text, lead_in):
            evidence: dict[str, Match] = {}
            for unit in units:
                key = (unit, categories)
                found = self._seen.get(key)
                if found is None:
                    if len(self._seen) >= SEEN_LIMIT:
                        self._seen.clear()
                    found = self._seen[key] = self._match_unit(unit, categories)
                matches += found[0]
                evidence.update(found[1])
            if weighted:
                # the learned rules weigh the whole sentence, with every hand-written rule
                # that fired on one of its items as evidence
                wkey = (Unit(sentence, "\x00" + " ".join(sorted(evidence))), categories)
                scored = self._seen.get(wkey)
                if scored is None:
                    if len(self._seen) >= SEEN_LIMIT:
                        self._seen.clear()
                    scored = self._seen[wkey] = (self._weigh(sentence, evidence, categories), {})
                matches += scored[0]
        return matches

    def forget(self) -> None:
        """Drop the remembered Matches and screened words (for benchmarks that time cold
        matching)."""
        self._seen.clear()
        for plan in self._plans.values():
            plan.screens.by_token.clear()

    def _match_unit(
        self, unit: Unit, categories: frozenset[Category] | None
    ) -> tuple[list[Match], dict[str, Match]]:
        """The hand-written rules' Matches on one unit, and every rule that fired (evidence)."""
        _, _, decided, _, screens = self._plan(categories)
        context = read_context(unit.lead_in)
        if context is NO_CONTEXT and BAN_VERB_ITEM_RE.match(unit.text):
            context = Context(Actor.USERS, negated=True)  # "(9) scrape or mine content to train AI"
        s = _Sentence(unit.text, context)
        fired = {
            rule.id: found
            for rule in screens.candidates(s)
            if (found := _match_screened(rule, s)) is not None
        }
        matches = [
            m
            for m in fired.values()
            if m.category not in decided and (categories is None or m.category in categories)
        ]
        return matches, fired

    def _weigh(
        self, sentence: str, fired: Mapping[str, Match], categories: frozenset[Category] | None
    ) -> list[Match]:
        """The learned rules' Matches on one whole sentence."""
        _, weighted, _, table, _ = self._plan(categories)
        grams = ngrams(sentence)
        scores = [
            r.weights.bias + sum(r.weights.rules.get(f, 0.0) for f in fired)
            for r in weighted
            if r.weights is not None
        ]
        for gram in table.keys() & grams:  # most words weigh for no rule
            for index, weight in table[gram]:
                scores[index] += weight
        return [
            found
            for rule, score in zip(weighted, scores, strict=True)
            if score >= 0 and (found := match_weighted(rule, sentence, fired, grams))
        ]
