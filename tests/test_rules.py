"""rules.py: the rule language, its errors, and every shipped rule's own examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.extract.document import normalize_text
from monitor.flag import classify_sentence
from monitor.model import Category, Severity
from monitor.rules.files import load_pack, load_rules
from monitor.rules.language import (
    MAX_QUOTED,
    MAX_SENTENCE_CHARS,
    Screen,
    _Sentence,
    compile_terms,
    fired_words,
    match_rule,
    read_context,
    split_sentences,
    split_units,
)

RULES = load_rules()


def test_the_default_packs_cover_every_category() -> None:
    assert {r.category for r in RULES.rules} == set(Category)
    assert len({r.id for r in RULES.rules}) == len(RULES.rules)


@pytest.mark.parametrize("rule", RULES.rules, ids=lambda r: r.id)
def test_every_rule_fires_on_its_examples_and_not_on_its_counter_examples(rule) -> None:  # type: ignore[no-untyped-def]
    assert rule.fire, "every rule ships firing examples"

    def fires(text: str) -> bool:
        if rule.weights is None:
            return match_rule(rule, text) is not None
        # a weighted rule weighs the other rules that fire, so it is tried in its rule set
        return any(m.rule_id == rule.id for m in RULES.match(normalize_text(text)))

    for text in rule.fire:
        assert fires(text), f"{rule.id} should fire on: {text}"
    for text in rule.quiet:
        assert not fires(text), f"{rule.id} should stay quiet on: {text}"


def categories(text: str) -> set[str]:
    return {m.category.value for m in RULES.match(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We may use your posts to train our AI models.", "ai_training"),
        ("We will not use your posts to train our AI models.", "protective"),
        (
            "We do not use any of your audio, video, chat, screen sharing or other content to train AI models.",
            "protective",
        ),
        (
            "Your posts will be used to train our AI models unless you opt out in settings.",
            "ai_training",
        ),
        ("We will never train AI on your songs without your explicit consent.", "protective"),
        (
            "If you do not opt out, our partners may use your data to train their AI models.",
            "third_party_ai",
        ),
        (
            "You may not use the Services to train any machine learning model.",
            "others_may_not_train",
        ),
    ],
)
def test_negation_and_actor(text: str, expected: str) -> None:
    assert expected in categories(text)


def test_threat_words_inside_a_promise_do_not_fire_the_threat() -> None:
    found = categories("We will never train AI on your songs without your explicit consent.")
    assert "ai_training" not in found


@pytest.mark.parametrize(
    "text",
    [
        "Videos of train tracks and animal training with model trains are allowed.",
        "Non-transferable and non-sublicensable: this license is limited to your own use.",
        "You can change your notification settings at any time.",
    ],
)
def test_keyword_traps_stay_quiet(text: str) -> None:
    found = categories(text)
    assert not found & {"ai_training", "third_party_ai", "content_license", "opt_out"}


def test_matches_quote_the_words_that_fired() -> None:
    found = {
        m.rule_id: m
        for m in RULES.match(
            "For example, this license includes the right to use Your Content to train AI."
        )
        if m.category is Category.AI_TRAINING
    }
    match = found["ai_training.train-on-content"]  # users' own content: the high-severity rule
    assert match.severity is Severity.HIGH
    assert {"train", "AI", "Your Content"} <= set(match.words)
    assert match.sentence.startswith("For example, this license")


def test_function_words_never_count_as_words_that_fired() -> None:
    # "We" and "our" help a rule know who acts; they are never quoted as what fired it
    matches = RULES.match("We may use the content you post to train our AI models.")
    training = [m for m in matches if m.category is Category.AI_TRAINING]
    assert training
    for match in training:
        lowered = {w.lower() for w in match.words}
        assert lowered and not lowered & {"we", "our", "the", "may", "you", "your"}, match.words
        assert "train" in lowered
    assert fired_words(["We", "train", "the", "our AI", "may be", "train"]) == ("train", "our AI")


def test_sentences_are_split_on_full_stops_and_list_items() -> None:
    assert split_sentences("One. Two? (a) three; (b) four") == [
        "One.",
        "Two?",
        "(a) three;",
        "(b) four",
    ]
    # a capture that lost the space between two sentences; abbreviations and names stay whole
    assert split_sentences("Feedback and information.For questions email us.") == [
        "Feedback and information.",
        "For questions email us.",
    ]
    assert len(split_sentences("See e.g.The list, U.S.A. rules and example.com here.")) == 1


BAD_RULES = {
    "unknown key": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  al: [a]\n",
        "unknown key 'al'; did you mean 'all'?",
    ),
    "bad category": (
        "- id: x.y\n  category: robots\n  severity: high\n  description: d\n  all: [[a]]\n  examples: {fire: [a]}\n",
        "category 'robots' is not one of",
    ),
    "bad regex": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  all: [['re:(unclosed']]\n",
        "regex",
    ),
    "no description": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  all: [[a]]\n",
        "description is required",
    ),
    "no examples": (
        "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  all: [[a]]\n",
        "firing example",
    ),
    "bad id": (
        "- id: Nope\n  category: ai_training\n  severity: high\n  description: d\n  all: [[a]]\n",
        "must look like",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RULES))
def test_bad_rule_files_say_file_line_and_rule(tmp_path: Path, case: str) -> None:
    text, words = BAD_RULES[case]
    path = tmp_path / "pack.yaml"
    path.write_text("# a pack\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_pack(path)
    assert str(caught.value).startswith(f"{path}:2: ")
    assert words in str(caught.value)


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    rule = "- id: x.y\n  category: ai_training\n  severity: high\n  description: d\n  all: [[train]]\n  examples: {fire: [train]}\n"
    (tmp_path / "a.yaml").write_text(rule)
    (tmp_path / "b.yaml").write_text(rule)
    with pytest.raises(ConfigError, match=r"duplicate rule id 'x\.y'"):
        load_rules([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_a_list_item_under_a_ban_is_a_ban_on_users_not_a_platform_right() -> None:
    item = "use your posts to train machine learning models;"
    under_ban = {m.category for m in RULES.match(item, None, "Members agree not to:")}
    assert Category.OTHERS_MAY_NOT_TRAIN in under_ban and Category.AI_TRAINING not in under_ban
    under_uses = {m.category for m in RULES.match(item, None, "We process your data to:")}
    assert Category.AI_TRAINING in under_uses


def test_a_colon_lead_in_inside_the_sentence_decides_its_items() -> None:
    found = {m.category for m in RULES.match("Visitors must not: train AI models on the Content.")}
    assert Category.OTHERS_MAY_NOT_TRAIN in found and Category.AI_TRAINING not in found


def test_an_inline_list_of_data_types_is_split_into_items() -> None:
    text = "We collect: * search history * voice recordings * prompts you type in AI features"
    units = split_units(text)
    assert [u.text for u in units] == [
        "We collect:",
        "search history",
        "voice recordings",
        "prompts you type in AI features",
    ]
    assert all(u.lead_in == "We collect:" for u in units[1:])
    assert not {m.category for m in RULES.match(text)} & {Category.AI_TRAINING, Category.OPT_OUT}


def test_model_building_without_the_word_train_is_ai_training() -> None:
    for text in (
        "Your personal data may be used for the development and enhancement of our machine"
        " learning models.",
        "We may use information you provide to build and evaluate our AI systems.",
    ):
        assert Category.AI_TRAINING in {m.category for m in RULES.match(text)}, text
    assert Category.AI_TRAINING not in {
        m.category for m in RULES.match("We use artificial intelligence to improve our services.")
    }


def test_a_huge_sentence_is_matched_in_pieces_and_still_found() -> None:
    n = 20_000
    text = "We " + "train " * n + "on your content to build " + "models " * n + "."
    assert len(text) > 200_000
    units = split_units(text)
    assert len(units) > 1 and all(len(u.text) <= MAX_SENTENCE_CHARS for u in units)
    found = RULES.match(text)
    assert found and all(len(m.words) <= 2 * MAX_QUOTED for m in found)


def test_near_terms_with_order_need_the_object_after_the_verb() -> None:
    rule = RULES.by_id["ai_training.build-models"]
    assert match_rule(rule, "We may use your data to develop machine learning models.")
    assert not match_rule(rule, "We use machine learning to develop your data exports.")


def reading(text: str, lead_in: str = "") -> tuple[str | None, str | None]:
    found = classify_sentence(RULES, text, lead_in)
    return (
        found.category.value if found.category else None,
        found.actor.value if found.actor else None,
    )


def test_a_negation_that_only_describes_a_noun_negates_no_verb() -> None:
    assert reading(
        "We may use uploads that are not personal data to develop and improve our machine"
        " learning models."
    ) == ("ai_training", "platform")
    assert reading("We will not use your uploads to develop machine learning models.")[0] is None


def test_agreeing_that_the_company_may_use_content_is_the_companys_right() -> None:
    text = "You agree that the Company may use your feedback to improve its AI models."
    assert reading(text) == ("ai_training", "platform")
    assert reading("You agree not to use the Content to train AI models.")[1] == "users"


def test_a_licence_is_read_with_its_licensee_as_the_actor() -> None:
    assert reading("By posting, you grant us a licence to host and display your photos.") == (
        "content_license",
        "platform",
    )
    assert reading("If a gallery is public, you grant other users a licence to view it.") == (
        "content_license",
        "users",
    )
    assert reading("This license lets us show your videos on partner sites.")[0] == (
        "content_license"
    )
    assert reading("We grant you a limited license to use the app.") == (None, None)
    assert reading("You warrant that you have the right to grant this license.") == (None, None)


def test_a_ban_has_an_actor_only_when_it_bars_access_to_content_or_data() -> None:
    assert reading("You may not transfer your subscription to anyone.") == (None, None)
    assert reading("Smoking is strictly prohibited on board.") == (None, None)
    assert reading("You may not scrape member profiles.") == (None, "users")
    assert reading("(c) decompile or reverse engineer the app;") == (None, "users")


def test_an_item_that_uses_the_platforms_own_service_to_train_is_a_ban() -> None:
    text = "(f) use the Services or any Output to train a competing AI model;"
    assert Category.AI_TRAINING not in {m.category for m in RULES.match(text)}
    assert reading(text)[1] == "users"


def test_sending_content_to_ai_recipients_is_data_sharing() -> None:
    assert reading("We may send your chat messages to our AI vendor to answer you.") == (
        "data_sharing",
        "third_parties",
    )
    assert reading("We do not send your chat messages to AI vendors.")[0] != "data_sharing"


def test_sharing_is_the_platform_s_unless_users_are_its_subject() -> None:
    # users told to disclose their own sharing (a store's rules for app developers)
    assert "data_sharing" not in categories(
        "You must clearly disclose where personal data will be shared with third parties,"
        " including with third-party AI, and obtain explicit permission before doing so."
    )
    # "about you" is no subject: the platform makes the information available
    assert "data_sharing" in categories(
        "Information we collect from and about you may be made available to certain service"
        " providers, such as contractors, chatbot providers and analytics companies."
    )


def test_users_training_their_own_models_is_not_the_platform_training() -> None:
    for text in (
        "Vehicle data collected through your use of the service is intended for informational"
        " purposes only (including to help you train cloud-based artificial intelligence and"
        " machine learning models).",
        "(v) your fine-tuned, refined, customized, or otherwise modified models where the claim"
        " would not have arisen but for this fine-tuning;",
    ):
        assert "ai_training" not in categories(text), text
    # a data noun after "your" is what the platform trains on; another model in the sentence
    # that is the platform's still counts
    assert "ai_training" in categories("We use your data to train models.")
    assert "ai_training" in categories(
        "We use your posts to train your personalised model and to train our AI models."
    )


def test_a_control_over_training_reads_as_the_opt_out() -> None:
    assert reading("You can switch off model training in your settings.")[0] == "opt_out"
    assert (
        reading("Once you turn this off, your drafts will not be used to train our models.")[0]
        == "opt_out"
    )
    assert reading("We have disabled model training with our AI vendors.")[0] == "protective"


def test_an_address_is_not_an_ai_word() -> None:
    text = "To opt out of arbitration, write to legal@example.ai within 30 days."
    assert not {m.category for m in RULES.match(text)}


def test_the_introducing_sentence_of_a_lead_in_decides_its_items() -> None:
    lead = "We will not sell your photos. By uploading, you must accept that:"
    assert read_context(lead) == read_context("By uploading, you must accept that:")
    item = "you grant each user a licence to view your uploads;"
    assert reading(item, lead) == ("content_license", "users")
    assert read_context("You may not: (a) use the service in these ways:").negated


def test_a_use_that_needs_permission_is_reserved_and_its_items_bar_others() -> None:
    assert read_context("When you need permission") == read_context("You may not:")
    assert read_context("For these uses you will need to get our permission").negated
    item = "Anything taken from our services to develop or train artificial intelligence"
    assert reading(item, "When you need permission") == ("others_may_not_train", "users")
    assert reading(item)[0] == "ai_training"  # without its heading, a use
    assert not read_context("We need your permission to use your location").negated


def test_model_building_named_as_a_purpose_is_ai_training() -> None:
    for text in (
        "Product research, including fostering AI development.",
        "We may use recordings of support calls to train artificial intelligence technologies.",
        "Training and evaluating AI models",
        "We may use such content to evaluate machine learning models that support the service.",
    ):
        assert reading(text)[0] == "ai_training", text
    for text in (
        '"Corpus" refers to a collection of data used to train machine learning models.',
        "We offer safety training and knowledge and training in information technology.",
    ):
        assert reading(text)[0] is None, text


def test_a_near_trigger_is_any_verb_that_has_both_its_object_and_its_cue_near() -> None:
    text = (
        "Model training for delivery, pricing, bidding, forecasting, reporting, measurement,"
        " auditing and optimisation across every campaign type, format, channel and region |"
        " A legitimate interest in training its models."
    )
    assert match_rule(RULES.by_id["ai_training.train-models"], text)
    assert not match_rule(RULES.by_id["ai_training.train-models"], "Model trains are fun.")


def test_what_follows_a_control_is_what_it_controls() -> None:
    text = (
        "To manage your choices about the sharing of your data with partners and the use of"
        " machine learning on your photos, open your settings."
    )
    assert reading(text)[0] == "opt_out"
    text = "We may use your photos to train our models unless you opt out in settings."
    assert reading(text)[0] == "ai_training"


def test_training_with_users_data_needs_no_model_word() -> None:
    assert reading("We may use the clips you have shared for training.")[0] == "ai_training"
    assert reading("We will never engage in training with recordings of your calls.")[0] == (
        "protective"
    )
    for text in (
        "Calls may be recorded for quality assurance, training, or billing purposes.",
        "We record calls for quality and training purposes.",
        "Support agents receive training on data protection.",
    ):
        assert reading(text)[0] is None, text


def test_a_ban_that_protects_only_the_platforms_own_ai_is_not_protective() -> None:
    own = "You may not use the AI Features to train a competing language model."
    assert [m.rule_id for m in RULES.match(own) if m.category is Category.OTHERS_MAY_NOT_TRAIN] == [
        "others_may_not_train.platform-content"
    ]
    users = "You may not use other members' posts to train a language model."
    assert "others_may_not_train.users-may-not-train" in {m.rule_id for m in RULES.match(users)}


def test_a_noun_named_after_users_is_not_their_act() -> None:
    text = "Recordings of customer support may be used to train artificial intelligence tools."
    assert reading(text) == ("ai_training", "platform")


def test_third_party_models_are_the_third_parties() -> None:
    text = "We will not use your recordings to train third-party AI models."
    assert reading(text) == ("protective", "third_parties")
    assert (
        reading("We will not use your recordings to train our or any third-party AI models.")[1]
        == "platform"
    )


def test_a_rule_about_trains_bars_nobody_from_content() -> None:
    assert reading("Smoking on the train is strictly prohibited.") == (None, None)
    assert reading("Staff are trained on privacy and instructed not to ask for passwords.") == (
        None,
        None,
    )


def test_a_negation_inside_a_clause_describing_the_data_negates_no_verb() -> None:
    text = (
        "We may use information that, on its own, cannot identify you, to improve the app and"
        " create new tools, including through machine learning."
    )
    assert reading(text)[0] == "ai_training"
    promise = "We confirm that we do not use your messages to train AI models."
    assert reading(promise)[0] == "protective"


def test_sending_data_to_a_provider_that_trains_reads_as_the_sharing() -> None:
    text = (
        "We use a vendor's chatbot software to help us train our assistants, and we share the"
        " chat data you submit with our third-party chatbot providers."
    )
    assert reading(text) == ("data_sharing", "third_parties")


def bans(text: str) -> bool:
    return Category.OTHERS_MAY_NOT_TRAIN in {m.category for m in RULES.match(text)}


def test_a_ban_is_read_from_who_may_allow_it_or_who_prohibits() -> None:
    assert bans(
        "Using any of the images to train machine learning models, except as expressly permitted by us."
    )
    assert bans(
        "(g) copying the archive to train AI models without the Company's prior written consent;"
    )
    assert bans("The Company prohibits any use of the archive to train a language model.")
    # a promise worded with the users' consent stays the platform's promise
    promise = (
        "The Company will not use customer files to train AI models without the Customer's consent."
    )
    assert not bans(promise) and Category.PROTECTIVE in {m.category for m in RULES.match(promise)}


def test_a_sentence_that_opens_by_barring_users_bans_everything_it_lists() -> None:
    # the training use sits many words after the opening "You are not allowed to"
    text = (
        "You are not allowed to use Third-Party Content shown in search results to (i) copy or"
        " archive it, (ii) feed it to any machine learning system, or (iii) create, train or"
        " improve products that you may offer to third-parties."
    )
    assert bans(text)
    assert not {Category.AI_TRAINING, Category.THIRD_PARTY_AI} & {
        m.category for m in RULES.match(text)
    }
    # an opening that bars no use ("will not be paid") or a clause after ";" bans nothing
    assert not bans(
        "You will not be paid; your content may be used to train machine learning models."
    )
    # the platform's own clause after the ban is not part of it
    own = "You may not resell your account, and we may use your posts to train our AI models."
    assert Category.AI_TRAINING in {m.category for m in RULES.match(own)}


def test_an_item_that_starts_with_a_list_of_verbs_ending_in_scrape_is_a_ban() -> None:
    assert bans("4. copy, collect, mine, or otherwise use member uploads for training AI models;")
    assert bans("access or use the Services by any means to train a language model;")


def test_items_joined_by_or_after_a_semicolon_are_split() -> None:
    text = (
        "(iv) resell the Services without our written approval; or (v) use the Services or any"
        " content on them for training any AI model."
    )
    assert [u.text[:4] for u in split_units(text)] == ["(iv)", "(v) "]
    assert bans(text) and Category.AI_TRAINING not in {m.category for m in RULES.match(text)}


def test_raw_terms_that_open_a_word_are_screened_and_screens_never_hide_a_match() -> None:
    # a `re:` term that needs a word start ("liab...", "arbitration", "responsible")
    # rules out sentences without it, instead of running its pattern on every sentence
    screened = {
        r"re:\bliab\w*\s+(?:\w+\s+){0,8}?(?:limited|capped)": "liab",
        r"re:\b(?:resolved|settled)\s+(?:\w+\s+){0,8}?by\s+arbitration": "arbitration",
        r"re:n't\s+be\s+(?:liable|responsible)": "responsible",
        "in no event": "event",
    }
    for term, word in screened.items():
        screen = Screen.of([term])
        assert not screen.raw, term
        without = _Sentence("The fees are billed monthly in advance and are not refundable.")
        assert not screen.may_match(without.tokens, without.joined), term
        within = _Sentence(f"The fees are billed monthly and {word} in advance.")
        assert screen.may_match(within.tokens, within.joined), term
    for term in (r"re:\bfoo|bar", r"re:(?-i:[A-Z])\w+\s+(?:law)?", r"re:\b(?:court)?s?"):
        assert Screen.of([term]).raw, term  # what the pattern needs cannot be read: run it
    # every shipped term, on every shipped example: a term that matches passes its screen
    sentences = [text for rule in RULES.rules for text in (*rule.fire, *rule.quiet)]
    for rule in RULES.rules:
        for term in rule.terms:
            pattern, screen = compile_terms([term]), Screen.of([term])
            for text in sentences:
                if pattern.search(text):
                    s = _Sentence(text)
                    assert screen.may_match(s.tokens, s.joined), (rule.id, term, text)


def test_our_before_the_platforms_own_things_names_what_is_used_not_who_uses_it() -> None:
    # an item that uses the platform's Services is a ban on users; "our API" and "our
    # permission" in it are objects, not the platform acting
    for text in (
        "use the Site and our Content to train machine learning models;",
        "access the Services or our API to train machine learning models;",
        "access or use the Services through any means (including by crawling our API) to train"
        " machine learning models without our permission;",
    ):
        found = {m.category for m in RULES.match(text)}
        assert Category.OTHERS_MAY_NOT_TRAIN in found and Category.AI_TRAINING not in found, text
        assert reading(text)[1] == "users", text
    # "our" as who acts still makes the platform the actor
    assert reading("Our teams use your posts to train machine learning models.") == (
        "ai_training",
        "platform",
    )


def test_a_right_granted_to_train_ai_is_the_training_not_a_narrow_licence() -> None:
    for text in (
        "For example, this license includes the right to use your posts to train AI models.",
        "You hereby grant us the right to use anonymized usage data to train our algorithms.",
    ):
        found = {m.rule_id for m in RULES.match(text)}
        assert "content_license.grant" not in found, text
        assert any(r.startswith("ai_training.") for r in found), text
    # a narrow licence, and a broad one that names training among its purposes, still fire
    assert "content_license.grant" in {
        m.rule_id for m in RULES.match("You grant us a license to store and display your posts.")
    }
    broad = (
        "You grant us a worldwide, royalty-free, sublicensable license to use your content,"
        " including to train our machine learning models."
    )
    assert "content_license.broad-grant" in {m.rule_id for m in RULES.match(broad)}


def test_a_use_named_as_what_a_control_is_over_is_no_grant_of_it() -> None:
    def categories(text: str) -> set[str]:
        return {m.category.value for m in RULES.match(text)}

    for control in (
        "You are in control of whether your posts are used to train our machine learning models.",
        "You can decide whether we may use your photos to develop our AI models in settings.",
        "You have the right to object to using your personal data for improving our AI systems.",
    ):
        found = categories(control)
        assert "opt_out" in found and not {"data_sharing", "third_party_ai"} & found, control
        assert not any(
            m.rule_id != "ai_training.opt-out-of-training"
            for m in RULES.match(control)
            if m.category is Category.AI_TRAINING
        ), control
    # the use stated beside its control is still the platform's use
    beside = "Unless you opt out of training, we will use your content to train our models."
    assert {m.rule_id for m in RULES.match(beside)} >= {
        "ai_training.train-models",
        "opt_out.training-control",
    }


def test_the_readers_wish_negated_is_no_promise_of_the_platform() -> None:
    # "If you do not want us to use ... to train" states training as the default: no promise
    for wish in (
        "If you do not want us to use your content to train our models, you can opt out.",
        "If you don't want your posts used to train AI, turn off the setting.",
    ):
        found = {m.category.value for m in RULES.match(wish)}
        assert "protective" not in found and {"ai_training", "opt_out"} <= found, wish
    # the platform's own "we do not want to use" stays a promise
    found = {
        m.category.value
        for m in RULES.match("We do not want to use your content to train AI models.")
    }
    assert found == {"protective"}
