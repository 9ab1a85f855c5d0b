"""Reading a trial's details from its summary, and completing a digest with them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from trialwatch.digest import build_digest
from trialwatch.digest.details import (
    add_details,
    contact_of,
    site_place,
    site_places,
    study_info,
    trial_facts,
    useful_contacts,
)
from trialwatch.digest.model import ChangeItem, Contact, Digest, Fact, Link, SitePlace, StudyInfo
from trialwatch.registries.ctgov import summary as ctgov

from .conftest import NOW, make_change, make_recipient, make_study, make_subscription

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"


def _record(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return dict(data["studies"][0] if "studies" in data else data)


def _digest(changes: list[ChangeItem], studies: dict[str, StudyInfo]) -> Digest:
    digest = build_digest(make_recipient(), [make_subscription()], changes, studies, now=NOW)
    assert digest is not None
    return add_details(digest, studies, changes)


def test_study_info_reads_where_for_whom_and_whom_to_ask_from_a_real_record() -> None:
    """NCT06171568: France, 18+, all sexes, 400 expected, two central contacts, dates."""
    info = study_info(ctgov.summarise(_record("NCT06171568.json")))
    assert (info.nct_id, info.acronym, info.overall_status) == (
        "NCT06171568",
        "ECOG",
        "NOT_YET_RECRUITING",
    )
    assert (info.minimum_age, info.maximum_age, info.sex) == ("18 Years", None, "ALL")
    assert (info.enrollment, info.enrollment_type, info.phases) == (400, "ESTIMATED", ())
    assert info.central_contacts[0] == Contact(
        "Camille Heslot, MD", "+33 01.49.95.81.69", "camille.heslot@aphp.fr"
    )
    assert [(s.facility, s.city, s.country) for s in info.sites] == [
        ("Neurosurgery - Lariboisière hospital", "Paris", "France")
    ]
    assert (info.sites[0].lat, info.sites[0].lon) == (48.85341, 2.3488)
    assert (info.first_posted, info.results_posted) == (date(2023, 12, 14), None)


def test_study_info_reads_the_results_date_and_phases() -> None:
    """NCT03064438 posted results on 23 August 2021; it is a phase 2 trial."""
    info = study_info(ctgov.summarise(_record("NCT03064438.json")))
    assert (info.results_posted, info.phases) == (date(2021, 8, 23), ("PHASE2",))


def test_study_info_of_a_bare_or_malformed_record_has_only_defaults() -> None:
    """Missing modules, wrong types and bad dates give no error and no invented value."""
    info = study_info(
        ctgov.summarise(
            {
                "protocolSection": {
                    "identificationModule": {"nctId": "NCT00000001", "briefTitle": " A\n title "},
                    "statusModule": {"studyFirstPostDateStruct": {"date": "2024-02"}},
                    "designModule": {"enrollmentInfo": {"count": True}, "phases": "PHASE1"},
                    "contactsLocationsModule": {"locations": ["x", {"geoPoint": {"lat": "1"}}]},
                }
            }
        )
    )
    assert (info.title, info.overall_status, info.enrollment, info.phases) == (
        "A title",
        "UNKNOWN",
        None,
        (),
    )
    assert info.first_posted is None
    assert info.sites == (SitePlace(None, None, None),)


def test_a_contact_keeps_its_extension_and_needs_a_name_phone_or_email() -> None:
    """phoneExt follows as "ext."; a "+33" put there goes in front; an empty contact is none."""

    def contact(raw: dict[str, str]) -> Contact | None:
        return contact_of(ctgov.contact_of(raw))

    assert contact({"name": "A", "phone": "555 0100", "phoneExt": "12"}) == Contact(
        "A", "555 0100 ext. 12", None
    )
    assert contact({"phone": "01 49", "phoneExt": "+33"}) == Contact(None, "+33 01 49", None)
    assert contact({"role": "CONTACT", "name": "  "}) is None


def test_useful_contacts_puts_reachable_ones_first_and_gives_at_most_two() -> None:
    """A principal investigator without phone or email is left out when others can be reached."""
    pi, office, nurse, desk = (
        Contact("Dr PI"),
        Contact("Office", phone="1"),
        Contact("Nurse", email="n@example.org"),
        Contact("Desk", phone="2"),
    )
    assert useful_contacts([pi, office, nurse, desk]) == (office, nurse)
    assert useful_contacts([pi]) == (pi,)


def test_change_sites_reads_one_site_a_group_and_a_removed_site() -> None:
    """New side first; a removed site (no new side) is read from the old side."""
    leiden = {
        "facility": "LUMC",
        "city": "Leiden",
        "country": "Netherlands",
        "status": "RECRUITING",
    }
    paris = {"city": "Paris", "country": "France"}

    def change_sites(kind: str, old: Any, new: Any) -> tuple[SitePlace, ...]:
        return site_places(ctgov.change_sites(kind, old, new))

    def site_of(raw: dict[str, str]) -> SitePlace:
        return site_place(ctgov.site_of(raw))

    assert change_sites("site_added", None, leiden) == (site_of(leiden),)
    assert [s.city for s in change_sites("sites_added", [], [leiden, paris])] == ["Leiden", "Paris"]
    assert change_sites("site_removed", paris, None) == (site_of(paris),)
    assert change_sites("sites_removed", [paris], []) == (site_of(paris),)
    assert change_sites("overall_status", "RECRUITING", "COMPLETED") == ()


@pytest.mark.parametrize(
    ("minimum", "maximum", "sex", "expected"),
    [
        ("18 Years", None, "ALL", "18 years and older, all sexes"),
        ("18 Years", "65 Years", "FEMALE", "18 to 65 years, female participants only"),
        ("6 Months", "17 Years", "MALE", "6 months to 17 years, male participants only"),
        ("1 Year", "5 Years", None, "1 to 5 years"),
        (None, "30 Days", None, "Up to 30 days"),
        (None, None, None, "Any age"),
    ],
)
def test_who_can_take_part_reads_naturally(
    minimum: str | None, maximum: str | None, sex: str | None, expected: str
) -> None:
    """Ages as a range in one unit where they share it, then the sexes eligible."""
    info = make_study(minimum_age=minimum, maximum_age=maximum, sex=sex)
    assert Fact("Who can take part", expected) in trial_facts(info)


def test_trial_facts_name_countries_phase_and_enrollment() -> None:
    """Countries by number of sites, at most four; phase without "Not applicable"."""
    sites = tuple(
        SitePlace(None, None, country)
        for country in ["Germany", "Germany", "France", "Spain", "Italy", "Belgium", "Belgium"]
    )
    facts = trial_facts(
        make_study(sites=sites, phases=("NA", "PHASE3"), enrollment=1, enrollment_type="ACTUAL")
    )
    assert facts[0] == Fact("Where", "Belgium, Germany, France, Italy and 1 more country (7 sites)")
    six = tuple(SitePlace(None, None, c) for c in ["F", "E", "D", "C", "B", "A"])
    assert trial_facts(make_study(sites=six))[0] == Fact(
        "Where", "A, B, C, D and 2 more countries (6 sites)"
    )
    assert Fact("Phase", "Phase 3") in facts
    assert Fact("Enrollment", "1 participant (actual)") in facts
    assert [f.label for f in trial_facts(make_study(phases=("NA",)))] == ["Who can take part"]


def test_add_details_gives_new_trials_facts_and_changed_trials_none() -> None:
    """Facts and contacts go under new trials only; other trials keep their lines."""
    contact = Contact("Desk", phone="1")
    studies = {
        "NCT1": make_study("NCT1", central_contacts=(contact,), minimum_age="18 Years"),
        "NCT2": make_study("NCT2", central_contacts=(contact,)),
    }
    digest = _digest(
        [
            make_change(change_id=1, nct_id="NCT1", kind="new_study", summary="New trial: x"),
            make_change(change_id=2, nct_id="NCT2"),
        ],
        studies,
    )
    new, changed = (s.studies[0] for s in digest.groups[0].sections)
    assert (new.contacts, new.facts[0].label) == ((contact,), "Who can take part")
    assert (changed.contacts, changed.facts) == ((), ())


def test_results_posted_links_to_the_results_tab_and_gives_the_results_date() -> None:
    """The results' first posted date wins over the version's; the link is the results tab."""
    studies = {"NCT1": make_study("NCT1", results_posted=date(2026, 11, 2))}
    change = make_change(nct_id="NCT1", kind="results_posted", summary="Results posted")
    digest = _digest([change], studies)
    line = digest.groups[0].sections[0].studies[0].changes[0]
    assert line.link == Link("https://clinicaltrials.gov/study/NCT1?tab=results", "See the results")
    assert line.posted == date(2026, 11, 2)


def test_site_changes_carry_their_sites_and_removed_sites_do_not() -> None:
    """Who to ask at a new site; nobody to ask at a site that is gone."""
    site = SitePlace("LUMC", "Leiden", "Netherlands", contacts=(Contact("Desk", phone="1"),))
    digest = _digest(
        [
            make_change(change_id=1, kind="site_added", summary="New site", sites=(site,)),
            make_change(change_id=2, kind="site_removed", summary="Gone", sites=(site,)),
        ],
        {"NCT06742190": make_study()},
    )
    added, removed = digest.groups[0].sections[0].studies[0].changes
    assert (added.sites, removed.sites) == ((site,), ())


def test_the_glossary_explains_site_statuses_and_only_the_terms_shown() -> None:
    """A site's status in a summary or a site list is explained; terms only where used."""
    sites = (
        SitePlace("A", "Leiden", "Netherlands", status="ENROLLING_BY_INVITATION"),
        SitePlace("B", "Delft", "Netherlands", status="SUSPENDED"),
    )
    digest = _digest(
        [
            make_change(
                change_id=1, kind="site_status", summary="Site in Leiden: Withdrawn → Completed"
            ),
            make_change(change_id=2, kind="sites_added", summary="2 new sites", sites=sites),
            make_change(
                change_id=3,
                kind="primary_completion_date",
                significance="minor",
                summary="Primary completion: expected March 2027 → expected March 2028",
            ),
        ],
        {"NCT06742190": make_study()},
    )
    assert [s.code for s in digest.glossary] == [
        "RECRUITING",
        "ENROLLING_BY_INVITATION",
        "SUSPENDED",
        "COMPLETED",
        "WITHDRAWN",
    ]
    assert [t.key for t in digest.terms] == ["expected", "primary_completion"]
