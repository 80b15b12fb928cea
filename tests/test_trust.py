"""monitor/trust.py: which stored changes are told now, held for a later capture, or never told;
and the alert-id collision that once left a change undecided at every pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer

from monitor import trust
from monitor.archive import Archive
from monitor.config import Settings
from monitor.model import (
    Category,
    ChangeKind,
    ChangeSet,
    Clause,
    ClauseChange,
    Direction,
    Flag,
    Severity,
    Version,
)
from monitor.trust import Verdict, decide
from tests.conftest import TRAINING, track_versions

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FILLER = " ".join(f"clause{n} says the service works as described here." for n in range(40))
# a partial capture: the first third of the page (a section that failed to load)
PART = " ".join(f"clause{n} says the service works as described here." for n in range(13))
TRAIN = "we may use your content to train our ai models."
PROMISE = "we will never train ai on your content."


def _history(
    texts: list[str],
    days: list[float],
    confirmed: set[int] = frozenset(),  # type: ignore[assignment]
    alerted: dict[str, datetime] | None = None,
    technical: set[int] = frozenset(),  # type: ignore[assignment]
    cancelled: set[int] | None = None,
) -> trust.History:
    versions = [
        Version(n + 1, "s", T0 + timedelta(days=d), None, f"sha-{t}", f"v{n}.md", n in technical)
        for n, (t, d) in enumerate(zip(texts, days, strict=True))
    ]
    return trust.History(
        versions,
        lambda i: trust.normal(texts[i]),
        lambda i: versions[i].id in confirmed,
        alerted if alerted is not None else {},
        cancelled if cancelled is not None else set(),
    )


def _flag(category: Category, direction: Direction, evidence: str) -> Flag:
    return Flag(category, Severity.HIGH, direction, "r", "", evidence, ("train",), 0, "k")


def _changeset(kind: ChangeKind = ChangeKind.ADDED) -> ChangeSet:
    clause = Clause("k", (), None, TRAIN)
    return ChangeSet(1, 2, (ClauseChange(kind, None, clause),))


ADDED = _flag(Category.AI_TRAINING, Direction.INTRODUCED, TRAIN)
REMOVED = _flag(Category.AI_TRAINING, Direction.REMOVED, TRAIN)
GOOD = _flag(Category.PROTECTIVE, Direction.INTRODUCED, PROMISE)


def test_a_new_threat_is_told_at_once() -> None:
    history = _history([FILLER, FILLER + " " + TRAIN], [0, 10])
    decision = decide("s", _changeset(), [ADDED], False, history, 1)
    assert decision.verdict is Verdict.ALERT and decision.flags == (ADDED,)


def test_a_removal_or_good_news_is_held_until_a_check_or_a_capture_confirms_it() -> None:
    history = _history([FILLER + " " + TRAIN, FILLER], [0, 10])
    held = decide("s", _changeset(), [REMOVED], False, history, 1)
    assert held.verdict is Verdict.HOLD and held.reason.startswith("held:")
    confirmed = _history([FILLER + " " + TRAIN, FILLER], [0, 10], confirmed={2})
    assert decide("s", _changeset(), [REMOVED], False, confirmed, 1).verdict is Verdict.ALERT
    good = _history([FILLER, FILLER + " " + PROMISE], [0, 10])
    assert decide("s", _changeset(), [GOOD], False, good, 1).verdict is Verdict.HOLD
    # a next capture that keeps the change confirms it
    later = _history(
        [FILLER, FILLER + " " + PROMISE, FILLER + " " + PROMISE + " more"], [0, 10, 11]
    )
    assert decide("s", _changeset(), [GOOD], False, later, 1).verdict is Verdict.ALERT


def test_a_suspect_capture_is_held_even_with_a_new_threat() -> None:
    history = _history([FILLER, PART + " " + TRAIN], [0, 10])
    decision = decide("s", _changeset(), [ADDED], False, history, 1)
    assert decision.verdict is Verdict.HOLD and "suspect" in decision.reason
    assert trust.suspect(trust.normal(FILLER), trust.normal("clause1 says")) is not None
    assert trust.suspect(trust.normal(FILLER), trust.normal(FILLER + " more")) is None


def test_a_suspect_capture_is_confirmed_only_by_a_capture_like_it() -> None:
    stub = PART + " " + TRAIN
    other_stub = "please enable javascript to continue."
    # another stub next: held while the window is open, cancelled once a capture after it
    # shows no capture like it came
    waiting = _history([FILLER, stub, other_stub], [0, 10, 11])
    held = decide("s", _changeset(), [ADDED], False, waiting, 1)
    assert held.verdict is Verdict.HOLD and "did not confirm" in held.reason
    late = trust.WINDOW.days + 15
    over = _history([FILLER, stub, other_stub, other_stub + " still"], [0, 10, 11, late])
    cancelled = decide("s", _changeset(), [ADDED], False, over, 1)
    assert cancelled.verdict is Verdict.CANCEL and "no capture within" in cancelled.reason
    # a capture like it within the window, even after an error page, confirms it
    later = _history([FILLER, stub, other_stub, stub + " again"], [0, 10, 11, 12])
    assert decide("s", _changeset(), [ADDED], False, later, 1).verdict is Verdict.ALERT
    # the page grown back around it (the threat still there) confirms it too
    grown = _history([FILLER, stub, stub + " " + FILLER], [0, 10, 11])
    assert decide("s", _changeset(), [ADDED], False, grown, 1).verdict is Verdict.ALERT


def test_a_change_the_next_capture_undoes_cancels_with_its_return_leg() -> None:
    texts = [FILLER + " " + TRAIN, FILLER, FILLER + " " + TRAIN]
    history = _history(texts, [0, 10, 11])
    first = decide("s", _changeset(), [REMOVED], False, history, 1)
    back = decide("s", _changeset(), [ADDED], False, history, 2)
    assert first.verdict is back.verdict is Verdict.CANCEL
    assert first.reason.startswith("not alerted: the next capture (2024-01-12")
    assert back.reason.startswith("not alerted: it restores the text of 2024-01-01")
    # undone after more than WINDOW: both are news
    slow = _history(texts, [0, 10, 10 + trust.WINDOW.days + 5])
    assert decide("s", _changeset(), [REMOVED], False, slow, 1).verdict is Verdict.ALERT


def test_a_removed_clause_back_word_for_word_in_the_next_capture_is_undone() -> None:
    # the promise and a section fail to load; the next capture has the promise back but still
    # lacks the section (nearer the capture without the promise, counted in words)
    section = " ".join(f"part{n} of the help section explains settings." for n in range(6))
    promise_removed = _flag(Category.PROTECTIVE, Direction.REMOVED, PROMISE)
    texts = [FILLER + " " + section + " " + PROMISE, FILLER, FILLER + " " + PROMISE]
    history = _history(texts, [0, 10, 11])
    decision = decide("s", _changeset(ChangeKind.REMOVED), [promise_removed], False, history, 1)
    assert decision.verdict is Verdict.CANCEL and "undid it" in decision.reason
    # the promise still gone from the next capture: the removal stands
    gone = _history([texts[0], FILLER, FILLER + " more"], [0, 10, 11])
    kept = decide("s", _changeset(ChangeKind.REMOVED), [promise_removed], False, gone, 1)
    assert kept.verdict is Verdict.ALERT


def test_clause_text_seen_before_within_the_window_is_not_news() -> None:
    texts = [FILLER + " " + TRAIN, FILLER, FILLER + " x", FILLER + " x " + TRAIN]
    history = _history(texts, [0, 10, 20, 25])  # the clause left 15 days before it is back
    decision = decide("s", _changeset(), [ADDED], False, history, 3)
    assert decision.verdict is Verdict.CANCEL
    assert (
        decision.reason == "not alerted: seen before: the document had this text until 2024-01-11"
    )
    old = _history(texts, [0, 10, 20 + trust.WINDOW.days, 25 + trust.WINDOW.days])
    assert decide("s", _changeset(), [ADDED], False, old, 3).verdict is Verdict.ALERT
    # the same concept and quote alerted within the window: not twice
    key = trust.flag_key("s", ADDED)
    again = _history([FILLER, FILLER + " " + TRAIN], [0, 10], alerted={key: T0 + timedelta(days=2)})
    assert decide("s", _changeset(), [ADDED], False, again, 1).reason.startswith(
        "not alerted: the same clause was alerted on 2024-01-03"
    )


def test_the_alert_id_is_keyed_to_the_evidence() -> None:
    other = _flag(Category.AI_TRAINING, Direction.INTRODUCED, "We may use YOUR content  to train")
    assert trust.evidence_key("s", [ADDED]) == trust.evidence_key("s", [ADDED, ADDED])
    assert trust.evidence_key("s", [ADDED]) != trust.evidence_key("s", [other])
    assert trust.evidence_key("s", [ADDED]) != trust.evidence_key("t", [ADDED])
    assert trust.flag_key("s", other) == trust.flag_key(
        "s", _flag(Category.AI_TRAINING, Direction.INTRODUCED, "we may use your content to train")
    )


def test_two_same_day_changes_back_to_an_alerted_state_are_decided_once(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    """A -> B (alerted) -> A -> B on one day: the last B once made the first B's alert id, the
    row was dropped (INSERT OR IGNORE) and the change was derived again at every pass."""
    track_versions(httpserver, settings, tmp_path, TRAINING, "", TRAINING)
    with Archive(settings.archive_dir) as archive:
        assert archive.changes_without_alerts() == []
        alerts = archive.alerts()
        assert [a.title for a in alerts] == [
            "Example Terms of Service: AI-training permission added"
        ]
        changes = archive.changes("example-terms")
        reasons = archive.alert_reasons("example-terms")
        assert reasons[changes[1].id].startswith("not alerted: ")
        assert reasons[changes[2].id].startswith("not alerted: ")
        # the ledger keeps a second change with the same alert id, with the reason
        with archive.lock():
            archive.catalog._db.execute("DELETE FROM alerts WHERE change_id = ?", (changes[2].id,))
            archive.record_alert(changes[2], alerts[0])
        assert archive.changes_without_alerts() == []
        assert archive.alert_reasons("example-terms")[changes[2].id] == (
            f"not alerted: the same alert as change {changes[0].id}"
        )


# The fixture: a partial capture, a heading-only capture, a flip-back, two spellings
# alternating, and one real change between them. Exactly one alert, for the real change.
SECTIONS = "".join(
    f"\n## {n}. Section {n}\n\nThe service may change its features from time to time and"
    f" will tell you about changes that matter to your account under section {n}.\n"
    for n in range(3, 11)
)
HEAD = (
    "# Example Terms\n\n## 1. The Service\n\nThese terms govern your use of the Example"
    " service and every feature, app and website we offer under it.\n"
)


def _terms(training: str | None, extra: str = "") -> str:
    clause = f"\n## 2. Your Content\n\n{training}\n" if training else ""
    return HEAD + clause + SECTIONS + extra


SPELLING_1 = "We may use your content to train our AI models."
SPELLING_2 = "We may use your content to train our A.I. models."
REAL = (
    "\n## 11. Partners\n\nWe may share your content with third parties so that they can"
    " train their artificial intelligence models.\n"
)
FULL = _terms(SPELLING_1)
SEQUENCE = [
    FULL,
    HEAD + SECTIONS[: len(SECTIONS) // 4],  # a partial capture
    FULL,
    "# Example Terms\n\n## Terms\n",  # heading only (29 bytes)
    FULL,
    _terms(None),  # a flip: the training clause gone for one capture...
    FULL,  # ...and back
    _terms(SPELLING_2),  # two spellings alternating
    FULL,
    _terms(SPELLING_1, REAL),  # the real change
    _terms(SPELLING_2, REAL),
    _terms(SPELLING_1, REAL),
]
REAL_TITLE = "Example Terms of Service: sharing with others for AI added (and 1 more)"


def test_the_fixture_history_gives_one_alert_through_import_history(tmp_path: Path) -> None:
    from tests.conftest import run_cli
    from tests.test_ota import make_repo

    record = "Record new changes of Example Terms of Service"
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            (text, f"2024-03-{n + 1:02d}T10:00:00+00:00", record if n else "Start tracking")
            for n, text in enumerate(SEQUENCE)
        ],
    )
    code, out, err = run_cli(tmp_path, "import-history", str(repo))
    assert code == 0, out + err
    assert "1 captures left out as too short to be terms" in " ".join(out.split())
    with Archive(tmp_path / "archive") as archive:
        alerts = archive.alerts()
        assert [(a.title, a.recorded_at.date().isoformat()) for a in alerts] == [
            (REAL_TITLE, "2024-03-10")
        ]
        assert archive.changes_without_alerts() == []  # nothing held: each was decided


def test_the_fixture_history_gives_one_alert_through_track(
    httpserver: HTTPServer, settings: Settings, tmp_path: Path
) -> None:
    from monitor.fetch import fetchers_for
    from monitor.model import Source
    from monitor.track import run_pass

    source = Source(
        "example-terms-of-service",
        "Example",
        "Terms of Service",
        httpserver.url_for("/terms.md"),
        ignore_robots=True,
    )
    made: list[list[str]] = []
    for text in [*SEQUENCE, SEQUENCE[-1]]:  # the last one seen twice: a check confirms it
        httpserver.clear()
        httpserver.expect_request("/terms.md").respond_with_data(
            text.encode(), content_type="text/markdown; charset=utf-8"
        )
        with (
            fetchers_for(settings.fetch) as fetchers,
            Archive(settings.archive_dir) as archive,
            archive.lock(),
        ):
            run_pass([source], archive, fetchers, settings)
            made.append([a.title for a in archive.alerts()])
    # the real change is told in the pass that saw it, and nothing else ever is
    assert made[9] == [REAL_TITLE] and made[8] == []
    assert made[-1] == [REAL_TITLE]
    with Archive(settings.archive_dir) as archive:
        assert archive.changes_without_alerts() == []
        assert archive.checks(source.id)[-4].reason is not None  # the heading-only capture


def test_an_imported_removal_is_confirmed_by_a_later_commit_of_the_repository(
    tmp_path: Path,
) -> None:
    """OTA commits a document only when it changes: a later commit (of another document) means
    the last version still stood, the later check that confirms a held removal."""
    from tests.conftest import run_cli
    from tests.test_ota import git, make_repo

    record = "Record new changes"
    repo = make_repo(
        tmp_path,
        "Example/Terms of Service.md",
        [
            (FULL, "2024-03-01T10:00:00+00:00", "Start tracking"),
            (_terms(None), "2024-03-05T10:00:00+00:00", record),  # the training clause removed
        ],
    )
    code, out, _ = run_cli(tmp_path, "import-history", str(repo))
    assert code == 0 and "1 held" in " ".join(out.split())
    (repo / "Other").mkdir()
    (repo / "Other" / "Privacy Policy.md").write_text(FULL)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start tracking Other", when="2024-04-20T10:00:00+00:00")
    code, out, _ = run_cli(tmp_path, "import-history", str(repo))
    assert code == 0 and "held" not in out
    with Archive(tmp_path / "archive") as archive:
        assert [(a.title, a.recorded_at.date().isoformat()) for a in archive.alerts()] == [
            ("Example Terms of Service: AI-training permission removed", "2024-03-05")
        ]


def test_a_rewording_the_next_capture_rewords_again_is_not_undone() -> None:
    reworded = _flag(Category.AI_TRAINING, Direction.RESTATED, "we may use your posts to train ai.")
    old = Clause("k", (), None, "We may use your content to train AI.")
    new = Clause("k", (), None, "We may use your posts to train AI.")
    changeset = ChangeSet(1, 2, (ClauseChange(ChangeKind.MODIFIED, old, new),))
    again = FILLER + " we may use your posts and data to train ai."
    texts = [FILLER + " we may use your content to train ai.", FILLER + " " + new.text, again]
    history = _history(texts, [0, 10, 12])
    assert decide("s", changeset, [reworded], False, history, 1).verdict is Verdict.ALERT
    back = [*texts[:2], texts[0]]  # the old wording is back: undone (here the whole text too)
    assert decide("s", changeset, [reworded], False, _history(back, [0, 10, 12]), 1).verdict is (
        Verdict.CANCEL
    )


def test_a_hedged_promise_that_stays_is_told_and_is_not_read_as_still_said() -> None:
    # a weakened flag quotes the clause as it now reads: that the new text holds it says
    # nothing about the promise being kept elsewhere (it was dropped as "still says it")
    hedged = "by default, we will not train ai on your content."
    history = _history([FILLER + " " + PROMISE, FILLER + " " + hedged], [0, 10], confirmed={2})
    flag = _flag(Category.PROTECTIVE, Direction.WEAKENED, hedged)
    decision = decide("s", _changeset(ChangeKind.MODIFIED), [flag], False, history, 1)
    assert decision.verdict is Verdict.ALERT and decision.flags == (flag,)


def test_a_state_reached_again_after_its_flip_was_cancelled_is_news() -> None:
    # A -> B -> A -> B: the first B was undone by the next capture (a flip, cancelled), the
    # second B stays. What the cancelled B said was never accepted: the last change is news
    texts = [FILLER, FILLER + " " + TRAIN, FILLER, FILLER + " " + TRAIN]
    history = _history(texts, [0, 10, 12, 20])
    verdicts = []
    for i in (1, 2, 3):
        decision = decide("s", _changeset(), [ADDED], False, history, i)
        if decision.verdict is Verdict.CANCEL:  # as record_alerts does
            history.cancelled.add(history.versions[i].id)
        verdicts.append(decision.verdict)
    assert verdicts == [Verdict.CANCEL, Verdict.CANCEL, Verdict.ALERT]


def _decide_in_turn(history: trust.History, last: int) -> list[Verdict]:
    """Decide changes 1..last as record_alerts does; odd ones add TRAIN, even ones remove it."""
    verdicts = []
    for i in range(1, last + 1):
        decision = decide("s", _changeset(), [ADDED if i % 2 else REMOVED], False, history, i)
        if decision.verdict is Verdict.CANCEL:  # as record_alerts does
            history.cancelled.add(history.versions[i].id)
        verdicts.append(decision.verdict)
    return verdicts


def test_a_page_that_serves_two_texts_in_turn_is_not_news_when_it_stops_on_one() -> None:
    # A, B, A, B ... every day for a fortnight, each leg cancelled as a flip; then B stays
    texts = [FILLER if n % 2 == 0 else FILLER + " " + TRAIN for n in range(12)]
    history = _history(texts, [float(n) for n in range(12)])
    verdicts = _decide_in_turn(history, 11)
    assert Verdict.ALERT not in verdicts
    decision = decide("s", _changeset(), [ADDED], False, history, 11)
    assert "the page alternates between two texts" in decision.reason


def test_text_back_after_a_capture_that_lost_a_section_is_not_news_however_late() -> None:
    # the section with the clause failed to load for five months (a third of the page lost)
    part = " ".join(f"clause{n} says the service works as described here." for n in range(27))
    texts = [FILLER + " " + TRAIN, part, part + " y", FILLER + " z " + TRAIN]
    history = _history(texts, [0, 1, 90, 150])
    decision = decide("s", _changeset(), [ADDED], False, history, 3)
    assert decision.verdict is Verdict.CANCEL
    assert decision.reason.endswith(
        "had this text until 2024-01-02, when a capture lacking 35% of its words began"
    )
    # a clause removed in an ordinary edit and put back months later is news
    edited = [FILLER + " " + TRAIN, FILLER, FILLER + " y", FILLER + " z " + TRAIN]
    late = _history(edited, [0, 1, 90, 150])
    assert decide("s", _changeset(), [ADDED], False, late, 3).verdict is Verdict.ALERT


def test_a_hedge_is_not_a_return_after_a_lost_section() -> None:
    # the hedged promise's quote stood before the section was lost: a weakened flag is read
    # across the clause, so where its quote stood says nothing (told, not "seen before")
    hedged = "by default, we will never train ai on your content."
    part = " ".join(f"clause{n} says the service works as described here." for n in range(27))
    texts = [FILLER + " " + hedged, part, part + " y", FILLER + " z " + hedged]
    history = _history(texts, [0, 1, 90, 150], confirmed={4})
    weakened = _flag(Category.PROTECTIVE, Direction.WEAKENED, hedged)
    assert decide("s", _changeset(), [weakened], False, history, 3).verdict is Verdict.ALERT


def test_an_added_promise_reworded_by_the_next_capture_is_not_undone() -> None:
    # the quote is gone from the next capture, but that capture is nearer the changed text
    # than the text before it: a further rewording, not an undo (a flip back would be nearer
    # the text before)
    reworded = "we do not use any of your content to train ai models, ours or others'."
    texts = [FILLER, FILLER + " " + PROMISE, FILLER + " " + reworded]
    decision = decide("s", _changeset(), [GOOD], False, _history(texts, [0, 10, 14]), 1)
    assert decision.verdict is Verdict.ALERT and decision.flags == (GOOD,)
    flipped = [FILLER, FILLER + " " + PROMISE, FILLER + " other words"]
    decision = decide("s", _changeset(), [GOOD], False, _history(flipped, [0, 10, 14]), 1)
    assert decision.verdict is Verdict.CANCEL


def test_a_promise_added_to_a_clause_the_next_capture_rewrites_is_not_undone() -> None:
    # a promise sentence joins a licence clause; days later the clause is rewritten with a
    # firmer promise and other text goes: the quote is gone, but the clause never went back
    licence = "you grant us a licence to use your content to improve the service."
    before, after = FILLER + " " + licence, FILLER + " " + licence + " " + PROMISE
    following = FILLER[: len(FILLER) // 2] + " we do not use your content to train any ai model."
    history = _history([before, after, following], [0, 10, 14])
    change = ClauseChange(
        ChangeKind.MODIFIED, Clause("k", (), None, licence), Clause("k", (), None, after)
    )
    decision = decide("s", ChangeSet(1, 2, (change,)), [GOOD], False, history, 1)
    assert decision.verdict is Verdict.ALERT
    # the clause's old text back is an undo
    flipped = _history([before, after, before], [0, 10, 14])
    undone = decide("s", ChangeSet(1, 2, (change,)), [GOOD], False, flipped, 1)
    assert undone.verdict is Verdict.CANCEL


def test_a_promise_added_whole_then_said_again_in_other_words_is_not_undone() -> None:
    promise = "notwithstanding the above, we will not use your posts to train our ai models."
    firmer = (
        "the company does not process your posts, photos, recordings, chats or comments to train any"
        " models of artificial intelligence."
    )
    before = FILLER + " the licence clause as it stood."
    after = before + " " + promise
    # the next capture rewrites the page (the licence clause goes) and says the promise again
    following = FILLER + " " + firmer
    history = _history([before, after, following], [0, 10, 14])
    added = _flag(Category.PROTECTIVE, Direction.INTRODUCED, promise)
    decision = decide("s", _changeset(), [added], False, history, 1)
    assert decision.verdict is Verdict.ALERT
    # the same page without any such sentence: the promise was undone
    gone = _history([before, after, FILLER + " another clause."], [0, 10, 14])
    assert decide("s", _changeset(), [added], False, gone, 1).verdict is Verdict.CANCEL
    # a new sentence that shares only two words of a short quote ("your content") says
    # nothing again
    two = _history(
        [FILLER, FILLER + " " + TRAIN, FILLER + " you keep ownership of your content."],
        [0, 10, 14],
    )
    assert decide("s", _changeset(), [ADDED], False, two, 1).verdict is Verdict.CANCEL


HOME_PAGE = "welcome! the best recipes, news and videos of the day. sign in or subscribe."


def test_a_capture_of_another_page_is_never_alerted_even_when_it_stays() -> None:
    # a home page (or a stub, or the page in another language) captured in place of the
    # terms, and captured so again: not a version of the terms, so no "promise removed"
    promise_removed = _flag(Category.PROTECTIVE, Direction.REMOVED, PROMISE)
    texts = [FILLER + " " + PROMISE, HOME_PAGE, HOME_PAGE]
    history = _history(texts, [0, 10, 40], confirmed={2, 3})
    decision = decide("s", _changeset(ChangeKind.REMOVED), [promise_removed], False, history, 1)
    assert decision.verdict is Verdict.CANCEL
    assert "another page" in decision.reason and "lacks 9" in decision.reason
    # a real rewrite that keeps a fifth of the words is still a version: held, then told
    rewrite = " ".join(FILLER.split()[: len(FILLER.split()) // 5])
    kept = _history([FILLER + " " + PROMISE, rewrite, rewrite], [0, 10, 40], confirmed={2, 3})
    verdict = decide("s", _changeset(ChangeKind.REMOVED), [promise_removed], False, kept, 1)
    assert verdict.verdict is Verdict.ALERT


def test_the_terms_back_after_another_page_are_compared_with_the_terms_before_it() -> None:
    # the home page stood for two months; when the terms come back, the clause they still
    # hold is not news: the home page was never a state of the document
    texts = [FILLER + " " + TRAIN, HOME_PAGE, FILLER + " " + TRAIN]
    history = _history(texts, [0, 10, 10 + 2 * trust.WINDOW.days], confirmed={2})
    stub = decide("s", _changeset(ChangeKind.REMOVED), [REMOVED], False, history, 1)
    assert stub.verdict is Verdict.CANCEL
    history.cancelled.add(history.versions[1].id)  # as record_alerts does
    back = decide("s", _changeset(), [ADDED], False, history, 2)
    assert back.verdict is Verdict.CANCEL and "seen before" in back.reason


def test_the_suspect_note_needs_no_whole_text_count_and_agrees_with_one() -> None:
    from monitor.diff import diff
    from monitor.extract.document import DocumentBuilder

    def page(sentences: list[str]) -> object:
        builder = DocumentBuilder()
        builder.heading(2, "Terms")
        for sentence in sentences:
            builder.text(sentence)
        return builder.build("Terms")

    clauses = [f"Clause {n} says the service works as described in part {n}." for n in range(30)]
    variants = [
        clauses,
        clauses[:10],  # a partial capture: two thirds gone
        clauses[:20],  # a third gone
        [c.replace("service", "platform") for c in clauses],  # every clause reworded a little
        clauses[:5] + [c.upper() for c in clauses[5:]],  # case only
        ["Welcome to our home page."],  # another page
        clauses + clauses,  # captured twice over
    ]
    for old in variants:
        for new in variants:
            a, b = page(old), page(new)
            noted = trust.with_suspicion(diff(a, b), a, b).notes  # type: ignore[arg-type]
            counted = trust.suspect(trust.normal(a.text), trust.normal(b.text))  # type: ignore[attr-defined]
            assert any(n.startswith(trust.SUSPECT_NOTE) for n in noted) == (counted is not None)


def test_a_re_extraction_is_a_state_the_document_had() -> None:
    # version 1 is a re-extraction (new selectors) that holds the clause; version 2, a stub
    # in place of the terms, was cancelled; version 3 brings the clause back: not news
    stub = "clause1 says the service works as described here."
    texts = [FILLER, FILLER + " " + TRAIN, stub, FILLER + " " + TRAIN]
    history = _history(texts, [0, 10, 20, 25], technical={1}, cancelled={3})
    decision = decide("s", _changeset(), [ADDED], False, history, 3)
    assert decision.verdict is Verdict.CANCEL
    assert decision.reason.startswith("not alerted: seen before: the document had this text")
    # with no version holding it before, the same arrival is news
    fresh = _history(
        [FILLER, FILLER, stub, FILLER + " " + TRAIN], [0, 10, 20, 25], technical={1}, cancelled={3}
    )
    assert decide("s", _changeset(), [ADDED], False, fresh, 3).verdict is Verdict.ALERT


def test_a_change_a_re_extraction_gives_back_is_not_news() -> None:
    # the page read twice over for one capture, then read again with mended selectors: the
    # re-extraction is the earlier text, so the change came from how the page was read
    texts = [FILLER, FILLER + " " + TRAIN + " " + FILLER, FILLER]
    history = _history(texts, [0, 10, 10.3], technical={2})
    decision = decide("s", _changeset(), [ADDED], False, history, 1)
    assert decision.verdict is Verdict.CANCEL
    assert "a re-extraction (2024-01-11, less than a day later) gave the earlier text back" in (
        decision.reason
    )
    # a re-extraction that keeps the change leaves it news
    kept = _history(
        [FILLER, FILLER + " " + TRAIN, FILLER + " " + TRAIN + "."], [0, 10, 10.3], technical={2}
    )
    assert decide("s", _changeset(), [ADDED], False, kept, 1).verdict is Verdict.ALERT
