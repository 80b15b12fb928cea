"""monitor.rules.scope: licence sentences, their concepts, and how two licences compare."""

from __future__ import annotations

from monitor.model import Severity
from monitor.rules.scope import Direction, Licensed, compare, is_grant, licence_scopes


def scopes(*texts: str, lead_in: str = "") -> dict[Licensed, object]:
    return licence_scopes((f"k{i}", text, lead_in) for i, text in enumerate(texts))


def names(licensed: Licensed, *texts: str) -> set[str]:
    found = licence_scopes((f"k{i}", t, "") for i, t in enumerate(texts))
    return {c.name for c in found[licensed].concepts} if licensed in found else set()


def test_a_grant_to_the_platform_is_a_licence_and_one_to_users_is_not() -> None:
    assert is_grant("You grant us a worldwide licence to host your content.")
    assert is_grant("Your posts are licensed to the Company on a perpetual basis.")
    assert not is_grant("We grant you a limited, revocable license to use the app.")
    assert not is_grant("If you give us permission, we may call you.")


def test_a_grant_in_a_list_of_legal_verbs_is_one() -> None:
    # the verbs a grant is worded with may come as a list, commas between them
    assert is_grant(
        "By posting, you irrevocably permit, authorize, grant, and license the Company to use"
        " your image and likeness in connection with the Service."
    )
    assert is_grant("You, the user, grant us a licence to host your posts.")
    assert not is_grant("You, like every user, may ask us what licence covers the app.")


def test_a_licence_over_unsolicited_submissions_is_over_ideas_not_users_content() -> None:
    text = (
        "If you choose to submit any Unsolicited Submission despite this policy, you agree that:"
        " (i) such submission is made voluntarily; (ii) you grant us a perpetual, irrevocable,"
        " worldwide, royalty-free license to use, modify and exploit the submission in any manner."
    )
    assert Licensed.CONTENT not in scopes(text)
    assert Licensed.CONTENT in scopes(
        "You grant us a perpetual licence to exploit your submissions."
    )


def test_a_right_granted_by_others_or_over_something_users_do_not_make_is_no_licence() -> None:
    # another grantor of "us": the platform's own suppliers
    assert not is_grant("The catalogue depends on the rights our studio partners grant to us.")
    # "is licensed to" over a mark or software, not over what users make
    assert not is_grant('The "SPARKLE" trademark is licensed to Sparkle Holdings Ltd.')
    assert not is_grant("The bundled software is licensed to us under its own licence.")
    # the same forms over users' work stay licences
    assert is_grant("Your uploads are licensed to the Company under these terms.")
    assert is_grant("Members and their partners grant us a licence to display their posts.")
    # users named by their role on the platform are still the grantors
    assert is_grant("Channel owners grant us a worldwide licence to use their videos.")
    assert is_grant("Each Partner grants us a licence to use the uploads it submits.")


def test_a_grant_worded_as_granting_is_one_and_a_right_but_not_an_obligation_is_not_negated() -> (
    None
):
    # "you are granting" grants as "you grant" does; "(but not an obligation)" negates no verb
    found = names(
        Licensed.CONTENT,
        "If you post to a forum, you are granting the Company a right (but not an obligation)"
        " to publish, modify or commercially exploit your posts.",
    )
    assert {"perform or display publicly", "modify", "sell or commercialise"} <= found
    assert "sell or commercialise" not in names(
        Licensed.CONTENT, "You grant us a licence to display your posts, but we will not sell them."
    )


def test_negated_terms_and_feedback_licences_do_not_count() -> None:
    found = names(
        Licensed.CONTENT,
        "You grant us a worldwide license to display your Content. We will never sell your"
        " Content, and this license does not include the right to use it to train AI.",
    )
    assert "perform or display publicly" in found
    assert "sell or commercialise" not in found and "AI or machine learning" not in found
    assert Licensed.FEEDBACK not in licence_scopes(
        [("k", "If you send us ideas, you grant us a perpetual license to use the ideas.", "")]
    )


def test_a_right_taken_away_is_not_granted_and_content_removed_takes_nothing_away() -> None:
    grant = "By posting, you grant us a worldwide licence to display your Content."
    # a summary of changes, led by what the section is about, says a right is gone: its
    # words are no part of the licence
    lead = (
        "This section covers the permissions you grant by posting your Content and your"
        " promise to respect others' rights. Key updates:"
    )
    summary = licence_scopes(
        [
            ("k0", grant, ""),
            ("k1", "We have removed the right to use your posts in perpetuity.", lead),
        ]
    )
    gone = {c.name for c in summary[Licensed.CONTENT].concepts}
    assert "perpetual" not in gone and "perform or display publicly" in gone
    # survival after removal is a widening, not a right taken away
    kept = names(
        Licensed.CONTENT,
        grant + " This licence continues in perpetuity, even after your Content is removed.",
    )
    assert "perpetual" in kept


def test_list_items_under_a_grant_belong_to_its_licence_and_inputs_are_their_own_object() -> None:
    found = licence_scopes(
        [
            ("a", "You grant us a license to:", ""),
            ("b", "modify your Content;", "You grant us a license to:"),
            ("c", "You grant us a perpetual license to use your AI inputs and outputs.", ""),
        ]
    )
    assert {c.name for c in found[Licensed.CONTENT].concepts} == {"modify"}
    assert "perpetual" in {c.name for c in found[Licensed.AI_IO].concepts}


def test_a_ban_the_grant_clause_goes_on_to_list_adds_nothing_to_the_licence() -> None:
    clause = (
        "You grant us a worldwide, royalty-free license to store and process your Content as"
        " needed to: (i) provide the Services; and (ii) keep them secure. You will not, and"
        " will not permit anyone to: (i) use any Output to train machine learning models; or"
        " (ii) resell the Services."
    )
    concepts = names(Licensed.CONTENT, clause)
    assert "worldwide" in concepts and "AI or machine learning" not in concepts
    # the same purpose granted in the licence's own list still counts
    granted = clause.replace("keep them secure", "train machine learning models")
    assert "AI or machine learning" in names(Licensed.CONTENT, granted)


def test_comparison_wider_narrower_same_and_severity_by_what_was_added() -> None:
    base = "You grant us a worldwide, royalty-free license to host and display your Content."

    def one(old: str, new: str):  # type: ignore[no-untyped-def]
        (result,) = compare(scopes(old), scopes(new))
        return result

    ai = one(base, base.replace("Content.", "Content, including to train AI models."))
    assert ai.direction is Direction.WIDER and ai.severity is Severity.HIGH
    right = one(base, base.replace("host and display", "host, modify and display"))
    assert right.direction is Direction.WIDER and right.severity is Severity.LOW
    qualifier = one(base, base.replace("worldwide,", "worldwide, irrevocable,"))
    assert qualifier.severity is Severity.MEDIUM
    limited = one(base, base.replace("Content.", "Content solely to operate the service."))
    assert limited.direction is Direction.NARROWER
    unlimited = one(limited_text := base.replace("Content.", "Content solely to run it."), base)
    assert unlimited.direction is Direction.WIDER and limited_text
    assert one(base, base.replace("royalty-free", "fully paid")).direction is Direction.SAME


def test_this_licence_after_a_licence_granted_to_users_is_about_that_one() -> None:
    found = licence_scopes(
        [
            ("a", "You grant us a worldwide license to host your Content.", ""),
            ("b", "We grant you a license to use the app. This license is perpetual.", ""),
        ]
    )
    assert {c.name for c in found[Licensed.CONTENT].concepts} == {"host", "worldwide"}


def test_a_clause_holds_a_licence_when_it_grants_one_refers_back_to_it_or_is_led_by_one() -> None:
    from monitor.rules.scope import holds_licence

    assert holds_licence("For example, this license includes the right to train AI models.")
    assert holds_licence("host your Content;", "You grant us a licence to:")
    assert not holds_licence("The software is licensed to you under the MIT licence.")
    assert not holds_licence("We keep your posts for thirty days.")


def test_a_new_licence_is_quoted_where_its_weightiest_concept_is() -> None:
    new = scopes(
        "Licence grant.",
        "You grant us a license to host your Content.",
        "This license also covers training our AI models on it.",
    )
    (introduced,) = compare({}, new)
    assert introduced.direction is Direction.INTRODUCED and introduced.severity is Severity.HIGH
    assert introduced.evidence is not None and "AI models" in introduced.evidence.sentence
