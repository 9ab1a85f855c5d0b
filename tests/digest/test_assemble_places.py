"""Where filters: countries and "near me" over the sites of new trials, study and site changes."""

from __future__ import annotations

from typing import Any

import pytest

from trialwatch.digest import build_digest
from trialwatch.digest.assemble import NO_SITES_YET, near_filter
from trialwatch.digest.model import (
    ChangeItem,
    Digest,
    NearPlace,
    SitePlace,
    StudyEntry,
    StudyInfo,
)

from .conftest import NOW, make_change, make_recipient, make_study, make_subscription

LEIDEN = NearPlace(label="Leiden", lat=52.15833, lon=4.49306, within_km=100)
LUMC = SitePlace("Leiden University Medical Center", "Leiden", "Netherlands", 52.15833, 4.49306)
AMC = SitePlace("Amsterdam UMC", "Amsterdam", "Netherlands", 52.37403, 4.88969)
HAGUE = SitePlace("Haga Hospital", "The Hague", "Netherlands", 52.07667, 4.29861)
ANTWERP = SitePlace("UZ Antwerpen", "Antwerp", "Belgium", 51.21989, 4.40346)
PARIS = SitePlace("Hôpital Pitié-Salpêtrière", "Paris", "France", 48.85341, 2.3488)
NO_POINT = SitePlace("Erasmus MC", "Rotterdam", "Netherlands")


def entries(
    changes: list[ChangeItem],
    studies: dict[str, StudyInfo] | None = None,
    **prefs: Any,
) -> dict[str, StudyEntry]:
    """The study entries of the digest, by NCT ID ({} when nothing passes)."""
    subscription = make_subscription(**prefs)
    if studies is None:
        studies = {c.nct_id: make_study(c.nct_id) for c in changes}
    digest: Digest | None = build_digest(
        make_recipient(), [subscription], changes, studies, now=NOW
    )
    if digest is None:
        return {}
    return {
        study.nct_id: study
        for group in digest.groups
        for section in group.sections
        for study in section.studies
    }


def new_trial(nct_id: str, *sites: SitePlace, change_id: int = 1) -> tuple[ChangeItem, StudyInfo]:
    change = make_change(change_id=change_id, nct_id=nct_id, kind="new_study", summary="New trial")
    return change, make_study(nct_id, sites=sites)


# --- countries ----------------------------------------------------------------------------


def test_a_new_trial_reaches_a_country_subscriber_only_with_a_site_in_their_country() -> None:
    """A French-only trial is left out for the Netherlands; a Dutch one names its sites."""
    french, french_info = new_trial("NCT00000001", PARIS)
    dutch, dutch_info = new_trial("NCT00000002", PARIS, LUMC, AMC, change_id=2)
    studies = {s.nct_id: s for s in (french_info, dutch_info)}

    shown = entries([french, dutch], studies, countries=("Netherlands",))

    assert list(shown) == ["NCT00000002"]
    assert shown["NCT00000002"].matching_sites == ("Leiden", "Amsterdam")
    assert shown["NCT00000002"].matching_label == "Sites in your countries"


def test_a_new_trial_without_sites_passes_and_says_so() -> None:
    """No site listed yet: it may come to your country, so it is sent, with that said."""
    change, info = new_trial("NCT00000001")

    shown = entries([change], {info.nct_id: info}, countries=("Netherlands",))

    assert shown["NCT00000001"].matching_sites == (NO_SITES_YET,)
    assert NO_SITES_YET == "no sites listed yet"


def test_study_level_changes_reach_a_country_subscriber_only_for_trials_sited_there() -> None:
    """Results of a French-only trial are left out; those of a trial in Leiden are not."""
    france = make_change(change_id=1, nct_id="NCT00000001", kind="results_posted")
    leiden = make_change(change_id=2, nct_id="NCT00000002", kind="results_posted")
    studies = {
        "NCT00000001": make_study("NCT00000001", sites=(PARIS,)),
        "NCT00000002": make_study("NCT00000002", sites=(PARIS, LUMC)),
    }

    shown = entries([france, leiden], studies, countries=("netherlands",))

    assert list(shown) == ["NCT00000002"]
    assert shown["NCT00000002"].matching_sites == ("Leiden",)


def test_a_study_without_study_info_keeps_todays_behaviour() -> None:
    """No StudyInfo: a study-level change passes and names no sites."""
    change = make_change(change_id=1, kind="overall_status")

    shown = entries([change], {}, countries=("Netherlands",))

    assert shown["NCT06742190"].matching_sites == ()


def test_site_changes_pass_when_a_concerned_site_is_in_the_countries() -> None:
    """site_added in Paris is left out for the Netherlands, in Leiden it is kept."""
    paris = make_change(change_id=1, nct_id="NCT00000001", kind="site_added", sites=(PARIS,))
    leiden = make_change(change_id=2, nct_id="NCT00000002", kind="site_added", sites=(LUMC,))
    studies = {
        "NCT00000001": make_study("NCT00000001", sites=(PARIS, AMC)),
        "NCT00000002": make_study("NCT00000002", sites=(LUMC,)),
    }

    shown = entries([paris, leiden], studies, countries=("Netherlands",))

    assert list(shown) == ["NCT00000002"]


def test_countries_match_by_code_whatever_the_spelling() -> None:
    """A subscription for "Turkey" matches a site the registry records in "Türkiye"."""
    ankara = SitePlace("Hacettepe", "Ankara", "Türkiye")
    change = make_change(change_id=1, kind="site_added", countries=("Türkiye",), sites=(ankara,))

    assert list(entries([change], countries=("Turkey",))) == ["NCT06742190"]
    assert entries([change], countries=("Holland",)) == {}


# --- near me ------------------------------------------------------------------------------


def test_a_site_change_near_the_place_passes_and_says_how_far() -> None:
    """New site 16 km away: kept, its line says "16 km from Leiden"; Paris is left out."""
    hague = make_change(change_id=1, nct_id="NCT00000001", kind="site_added", sites=(HAGUE,))
    paris = make_change(change_id=2, nct_id="NCT00000002", kind="site_added", sites=(PARIS,))
    studies = {
        "NCT00000001": make_study("NCT00000001", sites=(HAGUE, AMC)),
        "NCT00000002": make_study("NCT00000002", sites=(PARIS, LUMC)),
    }

    shown = entries([hague, paris], studies, near=LEIDEN)

    assert list(shown) == ["NCT00000001"]
    [line] = shown["NCT00000001"].changes
    assert line.where == "16 km from Leiden"
    assert shown["NCT00000001"].matching_sites == ("The Hague (16 km)", "Amsterdam (36 km)")
    within = LEIDEN.within_km
    assert shown["NCT00000001"].matching_label == f"Sites within {within:g} km of Leiden"


def test_a_site_without_a_geopoint_never_passes_a_near_filter() -> None:
    """Rotterdam is 26 km away, but the registry gave no coordinates: not sent."""
    change = make_change(change_id=1, kind="site_added", sites=(NO_POINT,))

    assert entries([change], {"NCT06742190": make_study(sites=(NO_POINT,))}, near=LEIDEN) == {}


def test_a_new_trial_passes_near_me_with_any_site_within_the_distance() -> None:
    """Antwerp is 105 km away: out at 100 km, in at 110 km, nearest first."""
    change, info = new_trial("NCT00000001", PARIS, ANTWERP)
    studies = {info.nct_id: info}

    assert entries([change], studies, near=LEIDEN) == {}
    wider = NearPlace("Leiden", LEIDEN.lat, LEIDEN.lon, within_km=110)
    shown = entries([change], studies, near=wider)
    assert shown["NCT00000001"].matching_sites == ("Antwerp (105 km)",)
    assert shown["NCT00000001"].changes[0].where == "105 km from Leiden"


def test_study_level_changes_pass_near_me_only_for_trials_with_a_site_within_reach() -> None:
    """A status change of a Paris trial is left out; of a Leiden trial it is kept, no "where"."""
    far = make_change(change_id=1, nct_id="NCT00000001")
    near = make_change(change_id=2, nct_id="NCT00000002")
    studies = {
        "NCT00000001": make_study("NCT00000001", sites=(PARIS,)),
        "NCT00000002": make_study("NCT00000002", sites=(PARIS, LUMC)),
    }

    shown = entries([far, near], studies, near=LEIDEN)

    assert list(shown) == ["NCT00000002"]
    assert shown["NCT00000002"].matching_sites == ("Leiden (under 1 km)",)
    assert shown["NCT00000002"].changes[0].where is None


def test_countries_and_near_together_need_one_site_meeting_both() -> None:
    """Near Leiden within 110 km and only Belgium: Antwerp matches, The Hague does not."""
    wider = NearPlace("Leiden", LEIDEN.lat, LEIDEN.lon, within_km=110)
    hague_only, hague_info = new_trial("NCT00000001", HAGUE)
    antwerp, antwerp_info = new_trial("NCT00000002", HAGUE, ANTWERP, change_id=2)
    studies = {s.nct_id: s for s in (hague_info, antwerp_info)}

    shown = entries([hague_only, antwerp], studies, near=wider, countries=("Belgium",))

    assert list(shown) == ["NCT00000002"]
    assert shown["NCT00000002"].matching_sites == ("Antwerp (105 km)",)


def test_many_matching_sites_are_named_up_to_six_then_counted() -> None:
    """A trial in nine Dutch cities names six and "and 3 more"."""
    sites = tuple(SitePlace(f"Site {i}", f"City {i}", "Netherlands") for i in range(9))
    change, info = new_trial("NCT00000001", *sites)

    shown = entries([change], {info.nct_id: info}, countries=("Netherlands",))

    assert shown["NCT00000001"].matching_sites == (
        "City 0", "City 1", "City 2", "City 3", "City 4", "City 5", "and 3 more",
    )  # fmt: skip


def test_without_a_where_filter_nothing_is_said_about_sites() -> None:
    """No countries, no near: every change passes, no matching sites, no "where"."""
    change, info = new_trial("NCT00000001", PARIS)

    shown = entries([change], {info.nct_id: info})

    assert shown["NCT00000001"].matching_sites == ()
    assert shown["NCT00000001"].changes[0].where is None


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            ("Leiden, Netherlands", 52.15833, 4.49306, 25.0),
            NearPlace("Leiden", 52.15833, 4.49306, 25),
        ),
        (("52.16, 4.49", 52.16, 4.49, None), NearPlace("52.16, 4.49", 52.16, 4.49, 100)),
        ((None, None, None, None), None),
    ],
)
def test_near_filter_is_built_from_the_stored_columns(
    columns: tuple[Any, Any, Any, Any], expected: NearPlace | None
) -> None:
    """The line names the city; a missing radius is the default 100 km."""
    assert near_filter(*columns) == expected
