"""Places: country names in the registry's spelling, cities from the gazetteer, distances."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable

import pytest

from trialwatch import places
from trialwatch.errors import ConfigError


@pytest.mark.parametrize("typed", ["The Netherlands", "Holland", "netherlands", "NL", " NLD "])
def test_every_way_of_writing_the_netherlands_is_the_registrys_netherlands(typed: str) -> None:
    """Names, aliases, codes, any case: the registry's spelling comes out."""
    assert places.normalise_country(typed) == "Netherlands"


@pytest.mark.parametrize(
    ("typed", "registry"),
    [
        ("Russia", "Russian Federation"),
        ("South Korea", "Korea, Republic of"),
        ("Korea", "Korea, Republic of"),
        ("Taiwan", "Taiwan"),
        ("Czech Republic", "Czechia"),
        ("USA", "United States"),
        ("UK", "United Kingdom"),
        ("Viet Nam", "Vietnam"),
        ("Turkey", "Türkiye"),
    ],
)
def test_countries_take_the_spelling_the_registry_records_use(typed: str, registry: str) -> None:
    """The spellings of the recorded samples (Russian Federation, Korea, Republic of, Taiwan)."""
    assert places.normalise_country(typed) == registry


def test_an_unknown_country_names_the_closest_known_ones() -> None:
    """Narnia is refused with close names, the value quoted first."""
    with pytest.raises(ConfigError) as caught:
        places.normalise_country("Narnia")
    assert str(caught.value) == (
        "'Narnia' is not a country the registry knows (closest: Armenia, Argentina, Mauritania)"
    )
    with pytest.raises(ConfigError, match=r"closest: Germany"):
        places.normalise_country("Germny")


def test_country_keys_match_old_and_new_names_of_one_country() -> None:
    """Filters compare ISO codes, so a renamed country still matches its old records."""
    assert places.country_key("Turkey") == places.country_key("Türkiye") == "TR"
    assert places.country_key(" netherlands") == "NL"
    assert places.country_key("Former Serbia and Montenegro") == "former serbia and montenegro"


def test_normalise_countries_drops_blanks_and_duplicates_in_order() -> None:
    """Holland and NL are the same country, said once."""
    assert places.normalise_countries(["Holland", " ", "Belgium", "NL"]) == (
        "Netherlands",
        "Belgium",
    )


def test_the_distance_from_leiden_to_amsterdam_is_about_36_km() -> None:
    """Great-circle distance in kilometres, symmetric, zero for one point."""
    leiden, amsterdam = (52.15833, 4.49306), (52.37403, 4.88969)
    assert places.distance_km(*leiden, *amsterdam) == pytest.approx(36.1, abs=0.1)
    assert places.distance_km(*amsterdam, *leiden) == places.distance_km(*leiden, *amsterdam)
    assert places.distance_km(*leiden, *leiden) == 0
    assert places.distance_km(0, 0, 0, 180) == pytest.approx(20015.1, abs=0.1)


@pytest.mark.parametrize("typed", ["Leiden, Netherlands", "Leiden", "leiden, NL", "Leyden"])
def test_leiden_resolves_to_one_place_with_a_label_that_resolves_to_itself(typed: str) -> None:
    """City alone, with the country, another name: Leiden, Netherlands at its coordinates."""
    place = places.resolve_place(typed)
    assert place == places.Place("Leiden, Netherlands", 52.15833, 4.49306)
    assert place.short == "Leiden"
    assert places.resolve_place(place.label) == place


def test_an_ambiguous_city_lists_the_candidates_that_resolve() -> None:
    """Paris is in France and Texas: an error naming both; each candidate resolves."""
    with pytest.raises(ConfigError) as caught:
        places.resolve_place("Paris")
    assert str(caught.value) == (
        "'Paris' is ambiguous: Paris, France; Paris, United States"
        ' (give one of these, or coordinates "lat, lon")'
    )
    assert places.resolve_place("Paris, France").lat == pytest.approx(48.85341)


def test_us_cities_of_one_name_are_told_apart_by_their_state() -> None:
    """Springfield, United States is ambiguous; with the state it is one city."""
    with pytest.raises(ConfigError, match=r"Springfield, Illinois, United States; "):
        places.resolve_place("Springfield, United States")
    place = places.resolve_place("Springfield, IL, US")
    assert place.label == "Springfield, Illinois, United States"
    assert places.resolve_place(place.label) == place


def test_other_twins_in_one_country_are_told_apart_by_coordinates() -> None:
    """Three San Fernandos in the Philippines: the candidate with coordinates resolves."""
    with pytest.raises(ConfigError, match=r"San Fernando, Philippines \(16.6159, 120.317\)"):
        places.resolve_place("San Fernando, Philippines")
    place = places.resolve_place("San Fernando, Philippines (16.6159, 120.317)")
    assert place.short == "San Fernando"
    assert places.resolve_place(place.label) == place


def test_an_unknown_city_suggests_close_names() -> None:
    """A typo gets "did you mean"; a made-up country is named."""
    with pytest.raises(ConfigError) as caught:
        places.resolve_place("Leidn, Netherlands")
    assert str(caught.value) == (
        "'Leidn, Netherlands' is not a city we know (did you mean Leiden, Netherlands?)"
    )
    with pytest.raises(ConfigError, match=r"'Narnia' is not a country the registry knows"):
        places.resolve_place("Cair Paravel, Narnia")


def test_coordinates_are_a_place_of_their_own() -> None:
    """ "52.16, 4.49" is taken as it is; impossible ones are refused."""
    assert places.resolve_place("52.16, 4.49") == places.Place("52.16, 4.49", 52.16, 4.49)
    assert places.short_label("52.16, 4.49") == "52.16, 4.49"
    with pytest.raises(ConfigError, match=r"are not coordinates"):
        places.resolve_place("91, 4")


@pytest.mark.parametrize("within", [0.0, -5.0, 5001.0, float("nan")])
def test_a_radius_outside_1_to_5000_km_is_refused(within: float) -> None:
    """One line naming the field and the bounds."""
    with pytest.raises(ConfigError, match=r"^within: .* km is not between 1 and 5000 km$"):
        places.check_within(within)
    assert places.check_within(100) == 100


def _cpu_ms(call: Callable[[], object]) -> float:
    """The CPU time of ``call`` in ms, best of three (a collection pause is not its cost)."""
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        with contextlib.suppress(ConfigError):
            call()
        best = min(best, time.thread_time() - start)
    return best * 1000


UNKNOWN = [
    "Xyzzyville",
    "Leidne",
    "Narnia",
    "Qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
    "Amsterdm, Netherlands",
    "Springfeld, Illinois, United States",
    "Sao Paolo, Brazil",
    "Tokio",
    "Zzzzz, United States",
    "Mnchen, Germany",
]


def test_a_place_lookup_and_its_suggestions_cost_under_5_ms_of_cpu() -> None:
    """An unknown place cost 0.25-0.7 s (difflib over every city): now an index built once."""
    places.warm()
    costs = {text: _cpu_ms(functools.partial(places.resolve_place, text)) for text in UNKNOWN}
    costs["Leiden"] = _cpu_ms(lambda: places.resolve_place("Leiden"))
    costs["country Narnia"] = _cpu_ms(lambda: places.normalise_country("Narnia"))
    assert max(costs.values()) < 5, costs
