"""Corrected sites are updates, not a new site and a removed one; sites without a name."""

from __future__ import annotations

from typing import Any

from tests.diff.conftest import assert_values_match, bump, kinds, load_pair, module, of_kind
from trialwatch.diff import Change
from trialwatch.diff.sitematch import facility_score, site_score
from trialwatch.registries.ctgov.differ import diff_records

PEDIATRIC = "NCT04431453.json"  # 32 sites, three in Madrid sharing one geo point
SPAIN = "NCT03475563.json"  # 3 recruiting Spanish sites with contacts
LOCATIONS = "protocolSection.contactsLocationsModule.locations"


def _sites(record: dict[str, Any]) -> list[dict[str, Any]]:
    sites = module(record, "contactsLocationsModule")["locations"]
    assert isinstance(sites, list)
    return sites


def _by_facility(record: dict[str, Any], facility: str) -> dict[str, Any]:
    return next(site for site in _sites(record) if site.get("facility") == facility)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def test_it_reports_a_corrected_facility_name_as_one_minor_correction() -> None:
    """ "Gregorio Maranon" spelt right is the same site: no new site, no removal."""
    old, new = load_pair(PEDIATRIC)
    site = _by_facility(new, "Hospital General Universitario Gregorio Maranon")
    site["facility"] = "Hospital General Universitario Gregorio Marañón"
    bump(new)
    change = of_kind(_diff(old, new), "site_updated")
    assert change == Change(
        "site_updated",
        f"{LOCATIONS}[Hospital General Universitario Gregorio Marañón|Madrid|28009|Spain]",
        _by_facility(old, "Hospital General Universitario Gregorio Maranon"),
        site,
        "Site details corrected: Madrid, Spain (name)",
        "minor",
    )
    assert "site_added" not in kinds(_diff(old, new))


def test_it_reports_a_zip_code_or_state_fix_as_noise() -> None:
    """Barcelona's zip "8035" gaining its leading zero, and a state added, are formatting."""
    old, new = load_pair(PEDIATRIC)
    _by_facility(new, "Hospital Universitari Vall D'Hebron")["zip"] = "08035"
    _by_facility(new, "Hospital Sant Joan de Déu")["state"] = "Catalonia"
    changes = _diff(old, new)
    assert [(c.kind, c.summary, c.significance) for c in changes] == [
        (
            "site_updated",
            "Site details corrected: Esplugues de llobregat, Catalonia, Spain (state)",
            "noise",
        ),
        ("site_updated", "Site details corrected: Barcelona, Spain (zip code)", "noise"),
    ]


def test_it_reports_a_status_change_on_a_corrected_site_as_a_status_change() -> None:
    """The name fixed and the site closing: one site_status change, named by its new key."""
    old, new = load_pair(SPAIN)
    _by_facility(old, "Hospital Universitari Parc Taulí")["facility"] = "Hospital Univ. Parc Tauli"
    site = _by_facility(new, "Hospital Universitari Parc Taulí")
    site["status"] = "COMPLETED"
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "site_status",
        "Site in Sabadell, Barcelona, Spain: Recruiting → Completed",
        "minor",
    )
    assert change.field == (
        f"{LOCATIONS}[Hospital Universitari Parc Taulí|Sabadell|Barcelona|08208|Spain]"
    )


def test_it_pairs_a_corrected_city_by_its_geo_point() -> None:
    """A city's spelling fixed at the same point and facility is a correction of the city."""
    old, new = load_pair(SPAIN)
    _by_facility(old, "Hospital Universitari Parc Taulí")["city"] = "Sabadel"
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "site_updated",
        "Site details corrected: Sabadell, Barcelona, Spain (city)",
        "minor",
    )


def test_it_keeps_another_hospital_in_the_same_city_a_new_site() -> None:
    """Los Angeles sites share the city's geo point: a different hospital is not a correction."""
    old, new = load_pair(PEDIATRIC)
    site = _by_facility(new, "Children's Hospital Los Angeles")
    site.update(facility="Cedars-Sinai Medical Center", zip="90048", status="RECRUITING")
    changes = _diff(old, new)
    assert [(c.kind, c.summary, c.significance) for c in changes] == [
        ("site_added", "New site: Los Angeles, California, United States (Recruiting)", "major"),
        ("site_removed", "Site removed: Los Angeles, California, United States", "minor"),
    ]


def test_it_keeps_an_ambiguous_correction_an_addition_and_removals() -> None:
    """Two Madrid hospitals renamed into one similar name: no guess at which it was."""
    old, new = load_pair(PEDIATRIC)
    for facility in ("Hospital Universitario 12 de Octubre", "Hospital Universitario La Paz"):
        _by_facility(old, facility)["facility"] = "Hospital Universitario"
    twins = [s for s in _sites(new) if s["zip"] == "28041"]
    _sites(new).remove(twins[1])
    twins[0]["facility"] = "Hospital Universitario Madrid"
    assert kinds(_diff(old, new)) == ["site_added", "site_removed", "site_removed"]


def test_it_does_not_give_a_new_nameless_site_to_the_old_one() -> None:
    """Sites without a facility: a new recruiting one in their city is a new site, only that."""
    old, new = load_pair(PEDIATRIC)
    for record in (old, new):
        for site in _sites(record):
            if site["zip"] == "28041":
                del site["facility"]
    newcomer = {key: value for key, value in _sites(new)[-3].items()}
    newcomer["status"] = "RECRUITING"
    _sites(new).append(newcomer)
    changes = _diff(old, new)
    assert [(c.kind, c.summary, c.significance) for c in changes] == [
        ("site_added", "New site: Madrid, Spain (Recruiting)", "major")
    ]
    assert changes[0].new is newcomer


def test_it_follows_a_nameless_site_by_its_content_when_another_one_arrives() -> None:
    """A nameless site closing while another opens in the same city: each change on its site."""
    old, new = load_pair(SPAIN)
    for record in (old, new):
        del _by_facility(record, "Hospital Universitari Vall d'Hebron")["facility"]
    closing = next(s for s in _sites(new) if s["city"] == "Barcelona")
    closing["status"] = "COMPLETED"
    opening = dict(closing, status="RECRUITING", contacts=[{"name": "Ana Ruiz", "role": "CONTACT"}])
    _sites(new).insert(0, opening)
    changes = _diff(old, new)
    assert [(c.kind, c.summary) for c in changes] == [
        ("site_added", "New site: Barcelona, Spain (Recruiting)"),
        ("site_status", "Site in Barcelona, Spain: Recruiting → Completed"),
    ]
    assert (changes[0].new, changes[1].new) == (opening, closing)


def test_it_reports_add_and_remove_when_nameless_twins_both_change() -> None:
    """Two nameless sites of one city, both edited beyond status: which is which is unknown."""
    old, new = load_pair(PEDIATRIC)
    for record in (old, new):
        for site in _sites(record):
            if site["zip"] == "28041":
                del site["facility"]
                site["status"] = "RECRUITING"
    old_twins = [s for s in _sites(old) if s["zip"] == "28041"]
    old_twins[0]["contacts"] = [{"name": "Dr A", "role": "CONTACT"}]
    old_twins[1]["contacts"] = [{"name": "Dr B", "role": "CONTACT"}]
    for index, site in enumerate(s for s in _sites(new) if s["zip"] == "28041"):
        site.update(status="COMPLETED", contacts=[{"name": f"Dr {index + 3}", "role": "CONTACT"}])
    assert kinds(_diff(old, new)) == ["site_added", "site_added", "site_removed", "site_removed"]


def test_it_scores_facility_names_word_by_word() -> None:
    """Typos, abbreviations and added words are alike; another hospital's name is not."""
    assert facility_score("hospital univ parc tauli", "hospital universitari parc taulí")
    assert facility_score("mayo clinic", "mayo clinic rochester")
    assert facility_score("", "") == 1.0
    assert facility_score("", "hospital universitario la paz") is None
    assert facility_score("hospital univ la paz", "hospital univ la princesa") is None
    assert facility_score("research site 101", "research site 102") is None


def test_it_needs_the_same_country_and_city_or_point_to_pair_sites() -> None:
    """Same facility in another country, or another city far away, is not a correction."""
    leon = {"facility": "Hospital", "city": "León", "country": "Spain"}
    assert site_score(leon, dict(leon, country="Mexico")) is None
    assert site_score(leon, dict(leon, city="Burgos")) is None
    near = dict(leon, geoPoint={"lat": 42.6, "lon": -5.57})
    assert site_score(near, dict(near, city="Lion", geoPoint={"lat": 42.605, "lon": -5.571})) == 1.0
    assert site_score(near, dict(near, city="Lion", geoPoint={"lat": 42.7, "lon": -5.57})) is None
    assert site_score(near, dict(near, city="Lion", geoPoint={"lat": "x"})) is None
    assert site_score(dict(leon, city="Leon"), leon) == 1.0


def test_it_reports_a_bulk_zip_code_fix_as_noise() -> None:
    """Every one of the 437 PALLAS sites with a longer zip code: one noise line, no new sites."""
    old, new = load_pair("NCT02513394.json")
    for site in _sites(new):
        site["zip"] = f"{site.get('zip') or ''}-0000"
    [change] = _diff(old, new)
    assert (change.kind, change.significance) == ("sites_updated", "noise")
    assert change.summary.startswith("437 sites updated: 192 in United States")
