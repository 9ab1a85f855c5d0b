"""Site changes: matched by place not position, grouped when many, and weighted by status."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.diff.conftest import assert_values_match, bump, kinds, load_pair, module, of_kind
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records, value_at

ARDA = "constructed/NCT05225675.json"
LOCATIONS = "protocolSection.contactsLocationsModule.locations"
LEIDEN = {
    "facility": "Leiden University Medical Center",
    "status": "RECRUITING",
    "city": "Leiden",
    "country": "Netherlands",
    "geoPoint": {"lat": 52.15833, "lon": 4.49306},
}


def _sites(record: dict[str, Any]) -> list[dict[str, Any]]:
    sites = module(record, "contactsLocationsModule")["locations"]
    assert isinstance(sites, list)
    return sites


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def _site(city: str, country: str, status: str | None = "RECRUITING") -> dict[str, Any]:
    site: dict[str, Any] = {"facility": f"Hospital {city}", "city": city, "country": country}
    if status is not None:
        site["status"] = status
    return site


def test_it_flags_a_recruiting_site_added() -> None:
    """The example from the design: New site: Leiden, Netherlands (Recruiting), major."""
    old, new = load_pair(ARDA)
    _sites(new).insert(1, LEIDEN)
    bump(new)
    change = _diff(old, new)[0]
    assert change == Change(
        "site_added",
        f"{LOCATIONS}[Leiden University Medical Center|Leiden|Netherlands]",
        None,
        LEIDEN,
        "New site: Leiden, Netherlands (Recruiting)",
        "major",
    )
    assert change.countries == ("Netherlands",)


@pytest.mark.parametrize("status", [None, "ACTIVE_NOT_RECRUITING"])
def test_it_reports_a_site_added_that_is_not_opening_as_minor(status: str | None) -> None:
    """A site without status, or not recruiting, is a minor addition."""
    old, new = load_pair("NCT04431453.json")
    _sites(new).append(_site("Lyon", "France", status))
    change = of_kind(_diff(old, new), "site_added")
    assert change.significance == "minor"
    expected = "New site: Lyon, France"
    assert change.summary == (
        expected if status is None else f"{expected} (Active, not recruiting)"
    )


def test_it_reports_a_site_removed_as_minor() -> None:
    """A site dropped from the list is named by city, state and country."""
    old, new = load_pair(ARDA)
    boston = _sites(new).pop()
    change = of_kind(_diff(old, new), "site_removed")
    assert (change.old, change.new, change.significance) == (boston, None, "minor")
    assert change.summary == "Site removed: Boston, Massachusetts, United States"
    assert change.field == f"{LOCATIONS}[Investigator site|Boston|Massachusetts|United States]"


def test_it_flags_a_site_starting_to_recruit() -> None:
    """A site whose status becomes RECRUITING is major."""
    old, new = load_pair("constructed/NCT06537999.json")
    waiting = next(s for s in _sites(new) if s["status"] == "NOT_YET_RECRUITING")
    waiting["status"] = "RECRUITING"
    change = of_kind(_diff(old, new), "site_status")
    assert change.significance == "major"
    assert (
        change.summary
        == f"Site in {waiting['city']}, {waiting['country']}: Not yet recruiting → Recruiting"
    )
    assert change.new == waiting


def test_it_reports_a_site_closing_as_minor() -> None:
    """A site that stops recruiting, or loses its status, is minor."""
    old, new = load_pair("NCT03475563.json")
    _sites(new)[0]["status"] = "COMPLETED"
    del _sites(new)[1]["status"]
    changes = _diff(old, new)
    assert [(c.kind, c.significance) for c in changes] == [("site_status", "minor")] * 2
    assert [c.summary.split(": ", 1)[1] for c in changes] == [
        "Recruiting → Completed",
        "Recruiting → no status",
    ]


def test_it_reports_site_contacts_as_minor_and_other_site_details_as_noise() -> None:
    """Contacts at a site are minor and say what changed; a moved geo point is noise."""
    old, new = load_pair("NCT06171568.json")
    _sites(new)[0]["contacts"][0]["phone"] = "01.00.00.00.00"
    change = of_kind(_diff(old, new), "site_updated")
    assert (change.significance, change.summary) == (
        "minor",
        "Site in Paris, Ile-de-France, France:"
        " contact Camille Heslot, MD: new phone +33 01.00.00.00.00",
    )
    old, new = load_pair("NCT06171568.json")
    _sites(new)[0]["geoPoint"]["lat"] = 48.9
    change = of_kind(_diff(old, new), "site_updated")
    assert (change.significance, change.summary) == (
        "noise",
        "Site details updated: Paris, Ile-de-France, France",
    )


def test_it_ignores_reordered_sites_in_a_large_record() -> None:
    """Shuffling the 437 PALLAS sites is not a change."""
    old, new = load_pair("NCT02513394.json")
    random.Random(7).shuffle(_sites(new))
    assert diff_records(old, new) == []


def test_it_groups_many_new_sites_by_country() -> None:
    """Twelve new sites: counted by country, with the first cities of each as room allows."""
    old, new = load_pair("NCT02513394.json")
    added = [_site(f"Stadt {i}", "Germany", None) for i in range(8)]
    added += [_site(f"Ville {i}", "France", None) for i in range(3)]
    added += [_site("Leiden", "Netherlands")]
    _sites(new)[100:100] = added
    bump(new)
    change = of_kind(_diff(old, new), "sites_added")
    assert change.summary == (
        "12 new sites: 8 in Germany (Stadt 0, Stadt 1 and 6 more),"
        " 3 in France (Ville 0 and 2 more), 1 in Netherlands (Leiden)"
    )
    assert (change.field, change.old, change.significance) == (LOCATIONS, [], "major")
    assert sorted(map(repr, change.new)) == sorted(map(repr, added))
    assert change.countries == ("France", "Germany", "Netherlands")


def test_it_groups_many_sites_removed_and_keeps_few_separate() -> None:
    """Five removals are one minor line; three additions stay three lines."""
    old, new = load_pair("NCT04431453.json")
    removed = _sites(new)[:5]
    del _sites(new)[:5]
    _sites(new).extend(_site(f"City {i}", "Spain", None) for i in range(3))
    changes = _diff(old, new)
    assert kinds(changes) == ["site_added"] * 3 + ["sites_removed"]
    grouped = changes[-1]
    assert grouped.summary == (
        "5 sites removed: 5 in United States (Los Angeles, Birmingham, Madera, Sacramento)"
    )
    assert (grouped.new, grouped.significance) == ([], "minor")
    assert sorted(map(repr, grouped.old)) == sorted(map(repr, removed))


def test_it_groups_status_changes_by_new_status() -> None:
    """Four sites now recruiting is one major line; one closing stays on its own."""
    old, new = load_pair("NCT04431453.json")
    for site in _sites(old)[:5]:
        site["status"] = "NOT_YET_RECRUITING"
    for site in _sites(new)[:4]:
        site["status"] = "RECRUITING"
    _sites(new)[4]["status"] = "WITHDRAWN"
    changes = _diff(old, new)
    assert [(c.kind, c.significance) for c in changes] == [
        ("sites_status", "major"),
        ("site_status", "minor"),
    ]
    assert changes[0].summary == (
        "4 sites now Recruiting: 4 in United States (Los Angeles, Birmingham, Madera)"
    )
    assert [s["status"] for s in changes[0].old] == ["NOT_YET_RECRUITING"] * 4


def test_it_groups_sites_losing_their_status_and_site_updates() -> None:
    """Many sites without status, and many contact updates, each make one line."""
    old, new = load_pair("NCT04431453.json")
    for site in _sites(old)[:4]:
        site["status"] = "RECRUITING"
    for site in _sites(new)[4:9]:
        site["contacts"] = [{"name": "Study Nurse", "role": "CONTACT"}]
    changes = _diff(old, new)
    assert [(c.kind, c.summary) for c in changes] == [
        (
            "sites_status",
            "4 sites now without a status: 4 in United States (Los Angeles, Birmingham, Madera)",
        ),
        (
            "sites_updated",
            "5 sites updated: 5 in United States (Chicago, Louisville, Sacramento, San Diego,"
            " Tampa)",
        ),
    ]
    assert [c.significance for c in changes] == ["minor", "minor"]


def test_it_cuts_a_long_country_list_to_fit() -> None:
    """Countries past the line length, and sites without one, are counted as elsewhere."""
    old, new = load_pair(ARDA)
    countries = [f"Republic of Country Number {i}" for i in range(8)]
    _sites(new).extend(_site(f"C{i}", country) for i, country in enumerate(countries))
    _sites(new).append({"facility": "Nowhere Clinic", "status": "RECRUITING"})
    change = of_kind(_diff(old, new), "sites_added")
    assert len(change.summary) <= 120
    assert change.summary.startswith("9 new sites: 1 in Republic of Country Number 0 (C0), ")
    assert change.summary.endswith(" elsewhere")


def test_it_clips_a_long_place_name() -> None:
    """However long the place, the line stays within 120 characters."""
    old, new = load_pair(ARDA)
    _sites(new).append(_site("Llanfair" * 20, "United Kingdom"))
    change = of_kind(_diff(old, new), "site_added")
    assert len(change.summary) <= 120
    assert change.summary.endswith("…")


def test_it_tells_apart_sites_with_the_same_key() -> None:
    """Two sites with one facility, city and country: order-free, each change resolvable."""
    old, new = load_pair(ARDA)
    twin = dict(_sites(old)[0], status="RECRUITING")
    _sites(old).append(twin)
    _sites(new).insert(0, dict(twin))
    assert diff_records(old, new) == []
    _sites(new)[0]["status"] = "COMPLETED"
    [change] = _diff(old, new)
    assert change.kind == "site_status"
    assert change.field.endswith("[Investigator site|Utrecht|Netherlands#2]")


def test_it_names_sites_without_place_by_facility_or_geo_point() -> None:
    """A site with no city or country is named by facility, else by its geo point."""
    old, new = load_pair(ARDA)
    _sites(new).append({"facility": "Mobile unit"})
    _sites(new).append({"geoPoint": {"lat": 1.5, "lon": 2.5}})
    _sites(new).append({})
    changes = _diff(old, new)
    assert [(c.field.rsplit("[", 1)[1], c.summary) for c in changes] == [
        ("1.5|2.5]", "New site: unknown location"),
        ("Mobile unit]", "New site: Mobile unit"),
        ("]", "New site: unknown location"),
    ]
    assert value_at(new, f"{LOCATIONS}[]") == {}


def test_it_reports_a_malformed_site_list_as_noise() -> None:
    """A list with a non-object item cannot be keyed: one other change for the list."""
    old, new = load_pair(ARDA)
    module(new, "contactsLocationsModule")["locations"].append("Leiden")
    [change] = _diff(old, new)
    assert (change.kind, change.field, change.significance) == ("other", LOCATIONS, "noise")
    assert change.countries == ()


def test_it_reports_sites_appearing_from_nothing() -> None:
    """A study that had no locations list gets its sites as additions."""
    old, new = load_pair(ARDA)
    del module(old, "contactsLocationsModule")["locations"]
    change = of_kind(_diff(old, new), "sites_added")
    assert (
        change.summary
        == "4 new sites: 1 in Belgium (Leuven), 1 in France (Paris), 1 in Netherlands (Utrecht),"
        " 1 in United States (Boston)"
    )
    assert change.significance == "minor"


def test_it_treats_an_empty_site_list_and_no_list_as_different() -> None:
    """``[]`` versus no ``locations`` key is a difference, reported as noise."""
    old, new = load_pair(ARDA)
    module(old, "contactsLocationsModule")["locations"] = []
    del module(new, "contactsLocationsModule")["locations"]
    [change] = _diff(old, new)
    assert (change.kind, change.old, change.new) == ("other", [], None)


def test_it_names_the_first_cities_of_each_country_in_a_group() -> None:
    """20 new sites in Russia and Taiwan: the cities with most sites first, then "and N more"."""
    old, new = load_pair("NCT02513394.json")
    russia = ["Moscow"] * 4 + ["Kazan"] * 2 + ["Saint Petersburg"] * 2
    russia += ["Novosibirsk", "Omsk", "Samara", "Tomsk", "Ufa", "Yaroslavl", "Perm", "Sochi"]
    taiwan = ["Taipei", "Taipei", "Tainan", "Taichung"]
    _sites(new).extend(_site(city, "Russian Federation", "RECRUITING") for city in russia)
    _sites(new).extend(_site(city, "Taiwan", "RECRUITING") for city in taiwan)
    for index, site in enumerate(_sites(new)[-20:]):
        site["facility"] = f"Research Site {index}"
    change = of_kind(_diff(old, new), "sites_added")
    assert change.summary == (
        "20 new sites: 16 in Russian Federation (Moscow, Kazan and 9 more),"
        " 4 in Taiwan (Taipei, Taichung, Tainan)"
    )
    assert len(change.summary) <= 120
