"""flag.py: directions, severities and the alert assessment, on built documents and fixture pairs.

Every labelled pair of ../shared/corpus is checked by bench/flagging.py and bench/corpus_checks.py.
"""

from __future__ import annotations

from monitor.diff import diff
from monitor.extract.document import DocumentBuilder
from monitor.flag import QUOTE_CHARS, assess, classify_sentence, flag_changes, lead_ins, quote
from monitor.model import Category, Direction, Document, Flag, Severity
from monitor.rules.files import load_rules
from monitor.rules.policy import is_alarming, is_threat

RULES = load_rules()


def doc(*texts: str) -> Document:
    builder = DocumentBuilder()
    builder.heading(2, "5. Your Content")
    for text in texts:
        builder.text(text)
    return builder.build("Terms")


LICENCE = "You grant us a worldwide, non-exclusive, royalty-free license to host and display Your Content."
PROMISE = "We do not use your content to train our AI models."


def flags_between(old: Document, new: Document) -> list[tuple[Category, Direction]]:
    return [(f.category, f.direction) for f in flag_changes(diff(old, new), RULES)]


def test_introduced_ai_training_is_a_high_alert_with_its_evidence() -> None:
    old = doc(LICENCE)
    new = doc(
        LICENCE
        + " For example, this license includes the right to use Your Content to train AI and machine learning models."
    )
    flags = flag_changes(diff(old, new), RULES)
    verdict = assess(flags)
    assert verdict.alert and verdict.severity is Severity.HIGH
    (training,) = [f for f in flags if f.category is Category.AI_TRAINING]
    assert (
        training.direction is Direction.INTRODUCED
        and training.rule_id == "ai_training.train-on-content"
    )
    assert training.evidence.startswith(
        "For example, this license includes the right to use Your Content to train AI"
    )
    assert "train" in training.words and training.change_key == "5. Your Content #1"


def test_wider_licence_is_strengthened() -> None:
    wider = LICENCE.replace("royalty-free", "royalty-free, perpetual, irrevocable, sublicensable")
    assert flags_between(doc(LICENCE), doc(wider)) == [
        (Category.CONTENT_LICENSE, Direction.STRENGTHENED)
    ]
    assert assess(flag_changes(diff(doc(LICENCE), doc(wider)), RULES)).alert


def test_narrower_licence_is_weakened_and_not_an_alert() -> None:
    wider = LICENCE.replace("royalty-free", "royalty-free, perpetual, irrevocable, sublicensable")
    flags = flag_changes(diff(doc(wider), doc(LICENCE)), RULES)
    assert [(f.category, f.direction) for f in flags] == [
        (Category.CONTENT_LICENSE, Direction.WEAKENED)
    ]
    assert not assess(flags).alert


def test_a_new_promise_not_to_train_is_good_news_not_a_threat() -> None:
    flags = flag_changes(diff(doc(LICENCE), doc(LICENCE, PROMISE)), RULES)
    verdict = assess(flags)
    assert [(f.category, f.direction) for f in flags] == [
        (Category.PROTECTIVE, Direction.INTRODUCED)
    ]
    assert not verdict.alert and verdict.good_news == tuple(flags)


def test_a_hedged_promise_is_weakened_and_alerts_low() -> None:
    hedged = "By default, we do not use your content to train our AI models."
    flags = flag_changes(diff(doc(PROMISE), doc(hedged)), RULES)
    assert [(f.category, f.direction) for f in flags] == [(Category.PROTECTIVE, Direction.WEAKENED)]
    verdict = assess(flags)
    assert verdict.alert and verdict.severity is Severity.LOW


def test_a_promise_that_drops_a_qualifier_covers_more_and_is_not_weakened() -> None:
    narrow = "We do not use your content to train our machine learning models."
    any_model = "We do not use your content to train our models."
    flags = flag_changes(diff(doc(narrow), doc(any_model)), RULES)
    assert Direction.WEAKENED not in {f.direction for f in flags}  # (weakened before)
    assert not assess(flags).alert
    # the other way the promise gains a word it fires on: as before, strengthened
    wider = flag_changes(diff(doc(any_model), doc(narrow)), RULES)
    assert [(f.category, f.direction) for f in wider] == [
        (Category.PROTECTIVE, Direction.STRENGTHENED)
    ]


def test_a_removed_promise_alerts_and_a_permission_turned_into_a_promise_does_not() -> None:
    removed = assess(flag_changes(diff(doc(LICENCE, PROMISE), doc(LICENCE)), RULES))
    assert removed.alert
    permission = "We may use your content to train our AI models."
    turned = flag_changes(diff(doc(permission), doc(PROMISE)), RULES)
    assert {(f.category, f.direction) for f in turned} == {
        (Category.AI_TRAINING, Direction.REMOVED),
        (Category.PROTECTIVE, Direction.INTRODUCED),
    }
    assert not assess(turned).alert


def test_cosmetic_and_moved_changes_raise_nothing() -> None:
    old = doc(LICENCE, "We may use your content to train our AI models.")
    assert (
        flag_changes(
            diff(old, doc(LICENCE.lower(), "We may use your content to train our AI models")), RULES
        )
        == ()
    )
    assert (
        flag_changes(
            diff(old, doc("We may use your content to train our AI models.", LICENCE)), RULES
        )
        == ()
    )


def test_a_flag_quotes_a_window_around_the_words_that_fired_not_a_whole_huge_sentence() -> None:
    padding = "and other services " * 3_000
    huge = f"We may use {padding}your content to train our AI models {padding}forever."
    flags = flag_changes(diff(doc(LICENCE), doc(LICENCE, huge)), RULES)
    (training,) = [f for f in flags if f.category is Category.AI_TRAINING]
    assert len(training.evidence) <= QUOTE_CHARS + 2
    assert "train" in training.evidence and training.evidence.startswith("…")


def test_quote_keeps_short_sentences_whole() -> None:
    assert quote(PROMISE, ("train",)) == PROMISE


def test_us_and_uk_spelling_variants_are_cosmetic_and_raise_nothing() -> None:
    uk = "We use personalised recommendations and organise your content to train our AI models."
    us = "We use personalized recommendations and organize your content to train our AI models."
    changeset = diff(doc(LICENCE, uk), doc(LICENCE, us))
    assert changeset.is_cosmetic and flag_changes(changeset, RULES) == ()


def test_a_training_sentence_that_only_lost_words_is_not_restated_news() -> None:
    old = "We may use your messages, and answers, to train our machine learning models."
    new = "We may use your messages to train our machine learning models."
    flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
    assert not assess(flags).alert


def test_a_training_sentence_that_only_gains_function_words_is_not_news() -> None:
    # a typo fixed and "such as" said "like": the same words fire, nothing is added
    for old, new in (
        (
            "For your rights over data we use train out models, see the FAQ.",
            "For your rights over data we use to train our models, see the FAQ.",
        ),
        (
            "We may use your posts, such as photos, to train our AI models.",
            "We may use your posts, like photos, to train our AI models.",
        ),
        (
            "This licence allows us to use public posts to train our AI models.",
            "This licence also allows us to use any public posts to train our AI models.",
        ),
    ):
        flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
        assert not assess(flags).alert, new
    # a content word gained is still news, and so is a negation
    old = "We may use your posts to train our AI models."
    for new in (
        "We may use your posts and your voice to train our AI models.",
        "We may not use your posts to train our AI models.",
    ):
        assert flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES), new


def test_a_training_sentence_reworded_without_a_concept_word_is_not_news() -> None:
    # words that say nothing of what is used, for what, by whom, or how surely
    for old, new in (
        (
            "Unless you have switched off the toggle, we use your chats to train our AI models.",
            "Unless you have turned off the setting, we use your chats to train our AI models.",
        ),
        (
            "We may use any of the above information to improve our AI models.",
            "We may use most of the above information to improve our AI models.",
        ),
        (
            "We use such data for machine learning, reporting and billing.",
            "We use such data for machine learning, reporting, billing and analytics.",
        ),
    ):
        flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
        assert not assess(flags).alert, new
    # what is used, who receives it, how surely: news
    old = "We may use any of the above information to improve our AI models."
    for new in (
        "We may use any of the above information and your recordings to improve our AI models.",
        "We may use any of the above information to improve our and our partners' AI models.",
        "We will use any of the above information to improve our AI models.",
        "We may use any of the above information to improve our Contoso AI models.",
    ):
        flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
        assert assess(flags).alert, new


def test_a_product_renamed_inside_a_training_sentence_is_not_news() -> None:
    # the label definitions: renamed products or companies are cosmetic
    old = "We use public posts to help train our models and build features like Quill Writer and Lens."
    new = "We use public posts to help train our models and build features like Nova Studio, and Lens."
    flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
    assert [f for f in flags if f.category is Category.AI_TRAINING] == []
    assert not assess(flags).alert
    # an acronym inside the new name is part of it
    old = "A core part of QuillGO is the use of machine learning for the purpose of improving them."
    new = (
        "A core part of Quill's Generative AI is the use of machine learning for the purpose of"
        " improving them."
    )
    flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
    assert not assess(flags).alert, flags


def test_a_widened_model_or_a_new_qualifier_in_a_training_sentence_still_alerts() -> None:
    old = "We use public posts to help train our language models and build features like Lens."
    widened = "We use public posts to help train our AI models and build features like Lens."
    qualified = (
        "We use public posts, where they include Personal Information, to help train our"
        " language models and build features like Lens."
    )
    old_recipient = "We may share your public posts with Contoso to train AI models."
    new_recipient = "We may share your public posts with Contoso and Fabrikam to train AI models."
    flags = flag_changes(diff(doc(LICENCE, old_recipient), doc(LICENCE, new_recipient)), RULES)
    assert assess(flags).alert  # a name added beside the old one is a new recipient
    for new in (widened, qualified):
        flags = flag_changes(diff(doc(LICENCE, old), doc(LICENCE, new)), RULES)
        assert assess(flags).alert, new


def test_list_items_take_their_lead_in_from_the_document() -> None:
    def listing(*items: str) -> Document:
        builder = DocumentBuilder()
        builder.heading(2, "4. Your obligations")
        builder.text("When using the service, you agree not to:")
        for item in items:
            builder.text(item)
        return builder.build("Terms")

    old = listing("post spam;")
    new = listing("post spam;", "copy its content to train machine learning models;")
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert {f.category for f in flags} == {Category.OTHERS_MAY_NOT_TRAIN}
    assert not assess(flags).alert
    without_context = flag_changes(diff(old, new), RULES)
    assert all(f.category is not Category.OTHERS_MAY_NOT_TRAIN for f in without_context)


def test_a_long_paragraph_ending_in_a_lead_in_leads_its_list_with_its_last_sentence() -> None:
    def listing(*items: str) -> Document:
        builder = DocumentBuilder()
        builder.heading(2, "2. Using the site")
        builder.text(
            "2.2. Without limiting clause 2.1 above and unless expressly authorised by us in"
            " writing, you must not (whether directly or indirectly) access or use (or permit,"
            " authorise or facilitate the access or use of) the Site or any portion of the Site"
            " or any data, content, information or services accessed via the Site in any of the"
            " following ways (without limitation):"
        )
        for item in items:
            builder.text(item)
        return builder.build("Terms")

    old = listing("i. to republish all or any part of the content of the Site; or")
    new = listing(
        "i. to republish all or any part of the content of the Site; or",
        "ii. to use any content or data from the Site to develop or train any software program"
        " (including any machine learning or artificial intelligence systems).",
    )
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert {f.category for f in flags} == {Category.OTHERS_MAY_NOT_TRAIN}
    assert not assess(flags).alert


def test_an_unnumbered_paragraph_of_several_sentences_ends_a_list() -> None:
    # a lead-in far above (only short paragraphs between) once negated a paragraph about AI
    # features; numbered items of several sentences stay under their lead-in
    builder = DocumentBuilder()
    builder.heading(2, "Other information")
    builder.text(
        "We do not use or disclose your sensitive data for purposes other than the following:"
    )
    builder.text("Perform the services you reasonably expect")
    builder.text(
        "De-identified data. In some situations, we may process de-identified data. Data is in"
        " this state when it cannot be linked to you."
    )
    builder.text(
        "Our development and use of AI is subject to our principles, and our use of personal data"
        " in developing AI features is consistent with this statement."
    )
    builder.text("By sharing content, you grant us permission to:")
    builder.text(
        "Use it to improve the service. For example, we store it. This lets us show it.", "1."
    )
    builder.text("Modify it in any media.", "2.")
    document = builder.build("Privacy")
    leads = lead_ins(document)
    clauses = document.clauses
    assert leads[clauses[1].key].startswith("We do not use or disclose")
    assert leads[clauses[2].key].startswith("We do not use or disclose")  # the list's last item
    assert leads[clauses[3].key] == "Other information"
    assert leads[clauses[6].key] == "By sharing content, you grant us permission to:"
    reading = classify_sentence(RULES, clauses[3].text, leads[clauses[3].key])
    assert reading.category is Category.AI_TRAINING


def test_a_training_sentence_that_drops_a_limit_is_news_and_one_that_drops_words_is_not() -> None:
    limited = (
        "We may use your voice recordings to train our filter technology, except that we will"
        " not do so with recordings of EEA users."
    )
    unlimited = "We may use your voice recordings to train our filter technology."
    flags = flag_changes(diff(doc(limited), doc(unlimited)), RULES)
    assert assess(flags).alert and {f.category for f in flags} == {Category.AI_TRAINING}
    # the sentence moved to a new section beside a new one and shortened (no limit dropped):
    # the old document said it all; the same sentence about another product is news
    said = (
        "You agree that we may use your Content, including Inputs and Outputs, to train our AI"
        " models."
    )
    shorter = "You agree that we may use your Content to train our AI models."
    old = doc(LICENCE, said)
    builder = DocumentBuilder()
    builder.heading(2, "5. Your Content")
    builder.text(LICENCE)
    builder.heading(2, "9. Artificial intelligence")
    builder.text("We may also use your feedback to train our AI models.")
    builder.text(
        "Our assistant answers questions about the service and helps you write replies, in"
        " the app and on the web, in every language we support. " + shorter
    )
    new = builder.build("Terms")
    moved = flag_changes(diff(old, new), RULES, (old, new))
    assert moved and not [f for f in moved if shorter in f.evidence], moved
    # the page read twice over (the old copy stays, a shorter copy comes): nothing new; the
    # same sentence about another product beside it is news
    product = "You agree that we may use your Studio Content to train our AI models."
    for heading, added, news in (
        ("Terms (new version)", shorter, False),
        ("Studio", product, True),
    ):
        builder = DocumentBuilder()
        builder.heading(2, "5. Your Content")
        builder.text(LICENCE)
        builder.text(said)
        builder.heading(2, heading)
        builder.text(added)
        beside = builder.build("Terms")
        assert assess(flag_changes(diff(old, beside), RULES, (old, beside))).alert is news, added


def test_the_one_policy_decides_threats() -> None:
    def flag(category: Category, direction: Direction) -> Flag:
        return Flag(category, Severity.LOW, direction, "x.y", "", "", (), 0, "k")

    assert is_threat(flag(Category.DATA_SHARING, Direction.INTRODUCED))
    assert not is_threat(flag(Category.CONTENT_LICENSE, Direction.WEAKENED))
    assert not is_threat(flag(Category.PROTECTIVE, Direction.INTRODUCED))
    assert is_threat(flag(Category.PROTECTIVE, Direction.WEAKENED))
    assert not is_threat(flag(Category.OTHERS_MAY_NOT_TRAIN, Direction.INTRODUCED))
    assert is_alarming(Category.DATA_SHARING, Severity.LOW)
    assert not is_alarming(Category.OPT_OUT, Severity.HIGH)
    # a narrow licence (to host and show posts) is on nearly every page; a broad one alarms
    assert not is_alarming(Category.CONTENT_LICENSE, Severity.LOW)
    assert is_alarming(Category.CONTENT_LICENSE, Severity.MEDIUM)


# Issue 17 class 4: a licence rewritten or moved into a reorganised section is compared with
# its predecessor by scope (monitor.rules.scope), whatever the clause diff paired it with.


def sections(*parts: tuple[str, list[str]]) -> Document:
    builder = DocumentBuilder()
    for heading, texts in parts:
        builder.heading(2, heading)
        for text in texts:
            builder.text(text)
    return builder.build("Terms")


PAYMENTS = ("9. Payments", ["Fees are billed monthly in advance and are not refundable."])


def licence_flags(old: Document, new: Document) -> list[Flag]:
    flags = flag_changes(diff(old, new), RULES, (old, new))
    return [f for f in flags if f.category is Category.CONTENT_LICENSE]


def test_a_licence_moved_into_a_new_section_that_gains_sublicensing_and_perpetuity_alerts() -> None:
    old = sections(
        (
            "4. Your Content",
            [
                "You keep ownership of what you post.",
                "You grant us a worldwide, non-exclusive, royalty-free license to host, reproduce"
                " and display your Content in order to run the service.",
            ],
        ),
        PAYMENTS,
    )
    new = sections(
        (
            "2. What you allow us to do",
            [
                "When you upload material, you grant us a license to:",
                "store, copy and publicly display your Content;",
                "sublicense these rights to our partners.",
                "This license is perpetual, worldwide and royalty-free.",
            ],
        ),
        ("4. Your Content", ["You keep ownership of what you post."]),
        PAYMENTS,
    )
    verdict = assess(flag_changes(diff(old, new), RULES, (old, new)))
    assert verdict.alert and verdict.severity is Severity.MEDIUM
    (licence,) = licence_flags(old, new)
    assert licence.direction is Direction.STRENGTHENED
    assert "perpetual" in licence.description and "sublicense" in licence.description


def test_a_licence_rewritten_narrower_is_weakened_and_quiet() -> None:
    old = sections(
        (
            "4. Your Content",
            [
                "By posting Content, you grant us permission to:",
                "use, reproduce, modify, adapt and publicly display your Content in any media;",
                "create derivative works from your Content;",
                "grant others the right to do any of the above.",
                "This license is worldwide and royalty-free.",
            ],
        ),
        PAYMENTS,
    )
    new = sections(
        (
            "3. License to your Content",
            [
                "By posting Content, you grant us a limited, worldwide, royalty-free license to:",
                "reproduce, modify, adapt and publicly display your Content;",
                "let service providers that moderate content use it as necessary to operate the service.",
            ],
        ),
        PAYMENTS,
    )
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert not assess(flags).alert
    assert [f.direction for f in licence_flags(old, new)] == [Direction.WEAKENED]


def test_a_licence_reworded_with_the_same_scope_is_quiet() -> None:
    old = sections(
        (
            "4. Your Content",
            [
                "You grant us a worldwide, non-exclusive, royalty-free license to host, reproduce"
                " and display your Content.",
            ],
        ),
        PAYMENTS,
    )
    new = sections(
        (
            "5. Rights you give us",
            [
                "Subject to these Terms, you grant us a worldwide, non-exclusive, royalty-free and"
                " fully paid license to host, copy and display the Content you post.",
            ],
        ),
        PAYMENTS,
    )
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert not assess(flags).alert
    assert all(f.direction is not Direction.STRENGTHENED for f in licence_flags(old, new))


# Issue 17 class 5: clause verdicts checked against the whole documents.

OLD_POLICY = [
    ("1. About this policy", ["This policy explains how we handle information about you."]),
    (
        "2. How we use information",
        [
            "We use your email address to send you receipts and service notices.",
            "We may use your content to train our AI models. Aggregated statistics help us plan"
            " capacity, fix bugs in the apps and decide which regions need new servers.",
        ],
    ),
    (
        "3. Restrictions",
        [
            "You may not:",
            "resell access to the service;",
            "train machine learning models on your posts;",
        ],
    ),
    PAYMENTS,
]


def test_a_prepended_policy_whose_list_makes_old_items_platform_uses_is_introduced() -> None:
    old = sections(*OLD_POLICY[:1], *OLD_POLICY[2:])
    upcoming = (
        "0. Upcoming terms, effective next month",
        [
            "When you post, we may use the content you post to:",
            "train machine learning models on your posts;",
        ],
    )
    new = sections(upcoming, *OLD_POLICY[:1], *OLD_POLICY[2:])
    flags = flag_changes(diff(old, new), RULES, (old, new))
    training = [f for f in flags if f.category is Category.AI_TRAINING]
    assert [f.direction for f in training] == [Direction.INTRODUCED]
    assert "train machine learning models on your posts" in training[0].evidence
    assert assess(flags).alert


def test_a_prepended_copy_of_the_policy_with_the_same_ai_clause_raises_no_alert() -> None:
    old = sections(*OLD_POLICY)
    upcoming = [(f"New {heading}", texts) for heading, texts in OLD_POLICY]
    upcoming[0] = ("New 1. About this policy", ["This updated policy takes effect next month."])
    new = sections(*upcoming, *OLD_POLICY)
    assert not assess(flag_changes(diff(old, new), RULES, (old, new))).alert


def test_a_whole_rewrite_that_keeps_the_same_concepts_raises_no_alert() -> None:
    old = sections(*OLD_POLICY)
    new = sections(
        ("Privacy at a glance", ["Here is a short summary of what happens to your information."]),
        (
            "Model improvement",
            [
                "Our products learn from how people use them, and from the feedback forms that"
                " reach the support desk each week. We may use your content to train our AI models."
            ],
        ),
        ("Receipts", ["Receipts and notices about the service go to your email address."]),
        (
            "Things you must not do",
            [
                "You may not:",
                "resell access to the service;",
                "train machine learning models on your posts;",
            ],
        ),
        PAYMENTS,
    )
    assert not assess(flag_changes(diff(old, new), RULES, (old, new))).alert


def test_a_training_clause_added_beside_the_same_concept_is_restated_or_strengthened_by_its_words() -> (
    None
):
    def added(sentence: str) -> list[tuple[Direction, Severity]]:
        base = ("2. How we use content", ["We may use your content to train our AI models."])
        old, new = sections(base, PAYMENTS), sections(base, ("3. More", [sentence]), PAYMENTS)
        flags = flag_changes(diff(old, new), RULES, (old, new))
        return [(f.direction, f.severity) for f in flags if f.category is Category.AI_TRAINING]

    assert added("For example, your content helps us train our AI models.") == [
        (Direction.RESTATED, Severity.LOW)
    ]
    assert added("We may also use your photos to train our generative models.") == [
        (Direction.STRENGTHENED, Severity.MEDIUM)
    ]


def test_an_opt_out_of_a_use_already_stated_is_the_opt_out_not_more_of_the_use() -> None:
    rights = "You have the right to opt out of our use of your data for training our models."

    def flags(stated: str) -> list[tuple[Category, Direction]]:
        base = ("2. How we use data", [stated])
        old, new = sections(base, PAYMENTS), sections(base, ("3. Your rights", [rights]), PAYMENTS)
        return [(f.category, f.direction) for f in flag_changes(diff(old, new), RULES, (old, new))]

    # the policy already says it trains on data: the new right is an opt-out, not a threat
    stated = flags("We may use your data to train our AI models.")
    assert (Category.OPT_OUT, Direction.INTRODUCED) in stated
    assert not [c for c, _ in stated if c is Category.AI_TRAINING]
    # where nothing said so before, the opt-out is how the policy first tells that it trains
    silent = flags("We keep your data for as long as your account is open.")
    assert (Category.AI_TRAINING, Direction.INTRODUCED) in silent


def test_a_promise_removed_while_another_promise_stays_still_alerts() -> None:
    kept = ("2. Promises", ["We do not use your messages to train our AI models."])
    gone = "We do not use your photos to train generative AI."
    old = sections(kept, ("3. Uploads", ["Uploads are stored in the EU. " + gone]), PAYMENTS)
    new = sections(kept, ("3. Uploads", ["Uploads are stored in the EU."]), PAYMENTS)
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert [(f.category, f.direction) for f in flags] == [(Category.PROTECTIVE, Direction.REMOVED)]
    assert assess(flags).alert


def test_a_narrow_promise_removed_beside_a_promise_over_all_your_data_is_no_withdrawal() -> None:
    general = ("2. Promises", ["We do not use your data to train any AI model."])
    gone = "We do not use your photos to train generative AI."
    old = sections(general, ("3. Uploads", ["Uploads are stored in the EU. " + gone]), PAYMENTS)
    new = sections(general, ("3. Uploads", ["Uploads are stored in the EU."]), PAYMENTS)
    assert not assess(flag_changes(diff(old, new), RULES, (old, new))).alert
    # a general promise that is hedged covers nothing
    hedged = ("2. Promises", ["By default, we do not use your data to train any AI model."])
    old = sections(hedged, ("3. Uploads", ["Uploads are stored in the EU. " + gone]), PAYMENTS)
    new = sections(hedged, ("3. Uploads", ["Uploads are stored in the EU."]), PAYMENTS)
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert (Category.PROTECTIVE, Direction.REMOVED) in [(f.category, f.direction) for f in flags]


def test_a_text_repeated_under_two_lead_ins_has_not_changed_context_when_nothing_moved() -> None:
    # the same item under a platform lead-in and under a ban; an unrelated clause changes
    def policy(fee: str) -> Document:
        return sections(
            (
                "2. How we use information",
                ["We may use what you post to:", "improve machine learning models on your posts;"],
            ),
            (
                "3. Restrictions",
                ["You may not:", "improve machine learning models on your posts;"],
            ),
            ("9. Payments", [fee]),
        )

    old = policy("Fees are billed monthly in advance.")
    new = policy("Fees are billed yearly in advance.")
    flags = flag_changes(diff(old, new), RULES, (old, new))
    assert [f for f in flags if f.category is Category.AI_TRAINING] == []
    assert not assess(flags).alert
