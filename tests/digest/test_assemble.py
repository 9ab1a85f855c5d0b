"""Digest assembly: filters, cursors, grouping, ordering, cap and glossary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from trialwatch.digest import (
    STATUSES,
    Digest,
    build_digest,
    describe_status,
    next_cursors,
    study_url,
)
from trialwatch.digest.glossary import glossary_for, statuses_named_in
from trialwatch.digest.model import ChangeItem, SubscriptionPrefs
from trialwatch.vocab import OVERALL_STATUSES

from .conftest import NOW, make_change, make_recipient, make_study, make_subscription, studies_for


def build(
    changes: list[ChangeItem],
    subscriptions: list[SubscriptionPrefs] | None = None,
    **kwargs: Any,
) -> Digest | None:
    subs = subscriptions if subscriptions is not None else [make_subscription()]
    return build_digest(make_recipient(), subs, changes, studies_for(changes), now=NOW, **kwargs)


def shown_ids(digest: Digest | None) -> list[int]:
    assert digest is not None
    return [
        line.change_id
        for group in digest.groups
        for section in group.sections
        for study in section.studies
        for line in study.changes
    ]


def shown_ncts(digest: Digest | None) -> list[str]:
    assert digest is not None
    return [
        study.nct_id
        for group in digest.groups
        for section in group.sections
        for study in section.studies
    ]


# --- filters and cursors ----------------------------------------------------------------


def test_it_returns_none_when_nothing_passes_but_cursors_still_advance() -> None:
    """Only filtered-out changes: no digest, yet next_cursors moves past them."""
    changes = [
        make_change(change_id=5, significance="noise", kind="last_update"),
        make_change(change_id=9, significance="minor", kind="enrollment"),
    ]
    subs = [make_subscription(minimum_significance="major", cursor=3)]

    assert build(changes, subs) is None
    assert next_cursors(subs, changes) == {"mmn": 9}


def test_it_skips_changes_at_or_below_the_cursor() -> None:
    """A change whose id is not above the subscription's cursor was already delivered."""
    changes = [make_change(change_id=i, nct_id=f"NCT0000000{i}") for i in (3, 4, 5)]

    digest = build(changes, [make_subscription(cursor=4)])

    assert shown_ids(digest) == [5]


def test_it_never_mails_noise() -> None:
    """Noise changes are left out even at the lowest minimum significance."""
    changes = [make_change(change_id=1, significance="noise"), make_change(change_id=2)]

    assert shown_ids(build(changes)) == [2]


def test_a_major_minimum_leaves_out_minor_changes() -> None:
    """minimum_significance="major" keeps major changes only."""
    changes = [make_change(change_id=1, significance="minor"), make_change(change_id=2)]

    assert shown_ids(build(changes, [make_subscription(minimum_significance="major")])) == [2]


def test_a_minor_minimum_keeps_minor_and_major_changes() -> None:
    """minimum_significance="minor" keeps both."""
    changes = [make_change(change_id=1, significance="minor"), make_change(change_id=2)]

    assert sorted(shown_ids(build(changes))) == [1, 2]


def test_it_keeps_only_the_chosen_event_kinds() -> None:
    """With event_kinds set, other kinds are left out."""
    changes = [
        make_change(change_id=1, kind="overall_status"),
        make_change(change_id=2, kind="results_posted", summary="Results posted"),
        make_change(change_id=3, kind="site_added", summary="New site"),
    ]
    subs = [make_subscription(event_kinds=("overall_status", "results_posted"))]

    assert shown_ids(build(changes, subs)) == [1, 2]


def test_the_country_filter_keeps_site_changes_sharing_a_country() -> None:
    """Site changes pass only in the chosen countries (any case); study-level ones always."""
    changes = [
        make_change(change_id=1, kind="site_added", countries=("France",)),
        make_change(change_id=2, kind="site_added", countries=("Belgium", "Netherlands")),
        make_change(change_id=3, kind="overall_status", countries=()),
    ]
    subs = [make_subscription(countries=(" netherlands", "Germany"))]

    assert shown_ids(build(changes, subs)) == [2, 3]


def test_without_a_country_filter_every_site_change_passes() -> None:
    """countries=() means all countries."""
    changes = [make_change(change_id=1, kind="site_added", countries=("France",))]

    assert shown_ids(build(changes)) == [1]


def test_it_ignores_changes_of_watchlists_not_subscribed_to() -> None:
    """Changes of another watchlist neither show nor create a cursor."""
    changes = [
        make_change(change_id=1, watchlist_slug="cidp", watchlist_name="CIDP"),
        make_change(change_id=2),
    ]

    digest = build(changes)

    assert digest is not None
    assert [g.slug for g in digest.groups] == ["mmn"]
    assert digest.new_cursors == {"mmn": 2}


def test_cursors_advance_to_the_highest_change_considered_per_watchlist() -> None:
    """Filtered-out changes count; cursors never move back; idle subscriptions keep theirs."""
    changes = [
        make_change(change_id=4),
        make_change(change_id=8, significance="noise"),
        make_change(change_id=6, watchlist_slug="cidp", watchlist_name="CIDP"),
    ]
    subs = [
        make_subscription(cursor=2),
        make_subscription(watchlist_slug="cidp", cursor=7),
        make_subscription(watchlist_slug="pots", cursor=11),
    ]

    digest = build(changes, subs)

    assert digest is not None
    assert digest.new_cursors == {"mmn": 8, "cidp": 7, "pots": 11}
    assert next_cursors(subs, changes) == digest.new_cursors


def test_covered_spans_the_changes_that_passed_per_watchlist() -> None:
    """covered is (lowest, highest) change_id that passed the filters, per watchlist."""
    changes = [
        make_change(change_id=3, nct_id="NCT00000003"),
        make_change(change_id=12, significance="noise"),
        make_change(change_id=7, nct_id="NCT00000007"),
        make_change(change_id=5, watchlist_slug="cidp", watchlist_name="CIDP"),
    ]
    subs = [make_subscription(), make_subscription(watchlist_slug="cidp")]

    digest = build(changes, subs)

    assert digest is not None
    assert digest.covered == {"mmn": (3, 7), "cidp": (5, 5)}


def test_two_subscriptions_to_one_watchlist_are_rejected() -> None:
    """A recipient subscribes to a watchlist at most once."""
    with pytest.raises(ValueError, match="two subscriptions"):
        build([make_change()], [make_subscription(), make_subscription()])


def test_a_cap_below_one_is_rejected() -> None:
    """max_studies must allow at least one study."""
    with pytest.raises(ValueError, match="max_studies"):
        build([make_change()], max_studies=0)


# --- grouping and ordering ----------------------------------------------------------------


def test_new_trials_come_before_changes_to_followed_trials() -> None:
    """A study with a new_study change goes in "New trials", shown first."""
    changes = [
        make_change(change_id=1, nct_id="NCT00000001"),
        make_change(change_id=2, nct_id="NCT00000002", kind="new_study", significance="major"),
    ]

    digest = build(changes)

    assert digest is not None
    (group,) = digest.groups
    assert [(s.key, s.title) for s in group.sections] == [
        ("new", "New trials"),
        ("changed", "Changes to trials you follow"),
    ]
    assert [s.nct_id for s in group.sections[0].studies] == ["NCT00000002"]
    assert [s.nct_id for s in group.sections[1].studies] == ["NCT00000001"]
    assert (digest.new_trial_count, digest.updated_trial_count) == (1, 1)


def test_studies_are_ordered_major_first_then_by_latest_change_then_nct_id() -> None:
    """Ties on significance go to the most recent change, then to the NCT ID."""
    old, recent = NOW - timedelta(days=2), NOW - timedelta(hours=1)
    changes = [
        make_change(change_id=1, nct_id="NCT00000001", significance="minor", detected_at=recent),
        make_change(change_id=2, nct_id="NCT00000002", detected_at=old),
        make_change(change_id=3, nct_id="NCT00000004", detected_at=recent),
        make_change(change_id=4, nct_id="NCT00000003", detected_at=recent),
        make_change(change_id=5, nct_id="NCT00000005", significance="minor", detected_at=old),
    ]

    assert shown_ncts(build(changes)) == [
        "NCT00000003",
        "NCT00000004",
        "NCT00000002",
        "NCT00000001",
        "NCT00000005",
    ]


def test_a_study_lists_major_changes_first_each_in_change_id_order() -> None:
    """Within a study: major changes in id order, then minor ones in id order."""
    changes = [
        make_change(change_id=4, significance="minor"),
        make_change(change_id=2, significance="minor"),
        make_change(change_id=5),
        make_change(change_id=3),
    ]

    digest = build(changes)

    assert shown_ids(digest) == [3, 5, 2, 4]
    assert digest is not None
    study = digest.groups[0].sections[0].studies[0]
    assert study.significance == "major"
    assert study.changes[0].is_major
    assert not study.changes[-1].is_major


def test_a_study_with_only_minor_changes_is_minor() -> None:
    """A study's significance is the highest of its changes."""
    digest = build([make_change(significance="minor")])

    assert digest is not None
    assert digest.groups[0].sections[0].studies[0].significance == "minor"


def test_a_study_shows_title_acronym_status_and_link() -> None:
    """Each study block carries what the templates show about it."""
    change = make_change(nct_id="NCT06742190")
    studies = {
        "NCT06742190": make_study(
            title="Empasiprubart in MMN",
            acronym="EMPASSION",
            overall_status="ACTIVE_NOT_RECRUITING",
        )
    }

    digest = build_digest(make_recipient(), [make_subscription()], [change], studies, now=NOW)

    assert digest is not None
    study = digest.groups[0].sections[0].studies[0]
    assert (study.title, study.acronym, study.nct_id) == (
        "Empasiprubart in MMN",
        "EMPASSION",
        "NCT06742190",
    )
    assert study.status == STATUSES["ACTIVE_NOT_RECRUITING"]
    assert study.url == "https://clinicaltrials.gov/study/NCT06742190"
    assert digest.generated_at == NOW


def test_a_study_missing_from_studies_is_shown_by_nct_id_without_status() -> None:
    """No StudyInfo: the NCT ID stands in for the title and no status is claimed."""
    digest = build_digest(make_recipient(), [make_subscription()], [make_change()], {}, now=NOW)

    assert digest is not None
    study = digest.groups[0].sections[0].studies[0]
    assert (study.title, study.acronym, study.status) == ("NCT06742190", None, None)


def test_links_use_the_given_site_base_url() -> None:
    """site_base_url replaces https://clinicaltrials.gov, with or without a trailing slash."""
    digest = build([make_change()], site_base_url="https://mirror.example/")

    assert digest is not None
    assert digest.groups[0].sections[0].studies[0].url == "https://mirror.example/study/NCT06742190"
    assert study_url("NCT00000001") == "https://clinicaltrials.gov/study/NCT00000001"


def test_watchlists_are_grouped_and_ordered_by_name() -> None:
    """One group per watchlist, by name regardless of case; a study may be in two."""
    changes = [
        make_change(change_id=1, watchlist_slug="pots", watchlist_name="postural tachycardia"),
        make_change(change_id=2, watchlist_slug="cidp", watchlist_name="CIDP"),
        make_change(change_id=3),
    ]
    subs = [make_subscription(watchlist_slug=s) for s in ("mmn", "pots", "cidp")]

    digest = build(changes, subs)

    assert digest is not None
    assert digest.watchlist_names == ("CIDP", "Multifocal motor neuropathy", "postural tachycardia")
    assert digest.study_count == 3
    assert digest.change_count == 3


# --- cap --------------------------------------------------------------------------------


def test_the_cap_keeps_the_most_important_studies_and_counts_the_rest() -> None:
    """Over the cap, new and major studies are kept; the rest become "and N more"."""
    changes = [
        make_change(change_id=i, nct_id=f"NCT0000000{i}", significance="minor") for i in range(1, 5)
    ] + [make_change(change_id=9, nct_id="NCT00000009", kind="new_study")]

    digest = build(changes, max_studies=2, more_urls={"mmn": "https://trialwatch.example/w/mmn"})

    assert digest is not None
    assert shown_ncts(digest) == ["NCT00000009", "NCT00000001"]
    (group,) = digest.groups
    assert group.omitted_count == 3
    assert group.more_url == "https://trialwatch.example/w/mmn"
    assert (digest.study_count, digest.omitted_count) == (2, 3)
    assert (digest.new_trial_count, digest.updated_trial_count) == (1, 4)
    assert digest.covered == {"mmn": (1, 9)}


def test_the_cap_applies_across_watchlists_and_empty_groups_go_last() -> None:
    """A watchlist the cap left without any study still reports its count, after the others."""
    changes = [
        make_change(
            change_id=1, watchlist_slug="cidp", watchlist_name="CIDP", significance="minor"
        ),
        make_change(change_id=2),
    ]
    subs = [make_subscription(), make_subscription(watchlist_slug="cidp")]

    digest = build(changes, subs, max_studies=1)

    assert digest is not None
    assert [(g.slug, len(g.sections), g.omitted_count) for g in digest.groups] == [
        ("mmn", 1, 0),
        ("cidp", 0, 1),
    ]


def test_the_more_link_falls_back_to_the_manage_page_then_to_none() -> None:
    """Without more_urls the manage URL is used; without that either, no link."""
    changes = [make_change(change_id=i, nct_id=f"NCT0000000{i}") for i in (1, 2)]

    with_manage = build(changes, max_studies=1)
    without = build_digest(
        make_recipient(manage_url=None),
        [make_subscription()],
        changes,
        studies_for(changes),
        now=NOW,
        max_studies=1,
    )

    assert with_manage is not None
    assert without is not None
    assert with_manage.groups[0].more_url == "https://trialwatch.example/manage/tok"
    assert without.groups[0].more_url is None


# --- glossary ---------------------------------------------------------------------------


def test_the_glossary_explains_each_status_shown_in_life_order() -> None:
    """Current statuses and those named in status changes get a line each, once."""
    changes = [
        make_change(change_id=1, nct_id="NCT00000001"),
        make_change(
            change_id=2,
            nct_id="NCT00000002",
            summary="Status: Enrolling by invitation → Active, not recruiting",
        ),
        make_change(change_id=3, nct_id="NCT00000003", kind="title", summary="Completed title"),
    ]
    studies = {
        "NCT00000001": make_study("NCT00000001", overall_status="RECRUITING"),
        "NCT00000002": make_study("NCT00000002", overall_status="ACTIVE_NOT_RECRUITING"),
        "NCT00000003": make_study("NCT00000003", overall_status="RECRUITING"),
    }

    digest = build_digest(make_recipient(), [make_subscription()], changes, studies, now=NOW)

    assert digest is not None
    assert [s.code for s in digest.glossary] == [
        "NOT_YET_RECRUITING",
        "RECRUITING",
        "ENROLLING_BY_INVITATION",
        "ACTIVE_NOT_RECRUITING",
    ]
    assert all(s.explanation for s in digest.glossary)


def test_the_glossary_reads_withdrawn_and_stopped_changes_too() -> None:
    """A withdrawal or a stop names the status it left; both get a glossary line."""
    changes = [
        make_change(
            change_id=1,
            nct_id="NCT00000001",
            kind="withdrawn",
            summary="Status: Not yet recruiting → Withdrawn",
        ),
        make_change(
            change_id=2,
            nct_id="NCT00000002",
            kind="stopped",
            summary="Status: Enrolling by invitation → Suspended",
        ),
    ]
    studies = {
        "NCT00000001": make_study("NCT00000001", overall_status="WITHDRAWN"),
        "NCT00000002": make_study("NCT00000002", overall_status="SUSPENDED"),
    }

    digest = build_digest(make_recipient(), [make_subscription()], changes, studies, now=NOW)

    assert digest is not None
    assert {s.code for s in digest.glossary} == {
        "NOT_YET_RECRUITING",
        "WITHDRAWN",
        "ENROLLING_BY_INVITATION",
        "SUSPENDED",
    }


def test_the_glossary_leaves_out_unknown_statuses_and_missing_studies() -> None:
    """A status the API added later is shown by its label but has no glossary line."""
    changes = [
        make_change(change_id=1, nct_id="NCT00000001", kind="site_added"),
        make_change(change_id=2, nct_id="NCT00000002", kind="site_added"),
    ]
    studies = {"NCT00000001": make_study("NCT00000001", overall_status="PAUSED_FOR_REVIEW")}

    digest = build_digest(make_recipient(), [make_subscription()], changes, studies, now=NOW)

    assert digest is not None
    assert digest.glossary == ()
    status = digest.groups[0].sections[0].studies[0].status
    assert status is not None
    assert (status.label, status.explanation) == ("Paused for review", None)


def test_the_glossary_covers_every_overall_status_of_the_api() -> None:
    """Every overallStatus enum value has a label and an explanation."""
    assert set(STATUSES) == OVERALL_STATUSES
    for code in OVERALL_STATUSES:
        status = describe_status(code)
        assert status.code == code
        assert status.label
        assert status.explanation


def test_status_labels_are_found_longest_first_and_in_any_case() -> None:
    """Not yet recruiting is not taken for Recruiting; words inside words do not count."""
    assert statuses_named_in("not yet recruiting → RECRUITING") == (
        "NOT_YET_RECRUITING",
        "RECRUITING",
    )
    assert statuses_named_in("Active, not recruiting; Unrecruiting; Suspendedly") == (
        "ACTIVE_NOT_RECRUITING",
    )
    assert glossary_for(["WITHDRAWN", "RECRUITING", "WITHDRAWN", "NEW_VALUE"]) == (
        STATUSES["RECRUITING"],
        STATUSES["WITHDRAWN"],
    )
