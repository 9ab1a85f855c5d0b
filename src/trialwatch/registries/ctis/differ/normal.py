"""A CTIS retrieve record made comparable: its ids, encodings and API drift taken out.

Private to the differ: the registry's parse module owns the canonical form of a
record; this is only what two versions need to be compared fairly.

- ctrdata's own fields (``_id``, ``ctrname``, ``record_last_import``) and
  ``publishDate`` (new on every republication) are dropped;
- the numeric ids of nested objects (``id``, ``mscId``, ``addressId`` ... every
  ``…Id`` holding a number) and the ``uuid`` of each translation are dropped: the
  registry renumbers them when it republishes;
- HTML entities in text are decoded (the API replaced on 2024-06-17 sent
  ``Children&apos;s``, the one after it ``Children's``);
- the public status and the countries are read from wherever the record holds
  them: ``ctPublicStatusCode``, else ``ctStatus`` when it is a number (since 2024
  it is the public code; before, it was the application status as text), else
  ``ctPublicStatus`` text; per country ``memberStatesConcerned[].mscPublicStatusCode``,
  else the search record's ``trialCountries``, as text (``"BE: Ongoing,
  recruiting, PL: …"``) or as a list (``["Belgium:4", …]``) alike.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from trialwatch.places import country_code, country_key, country_name
from trialwatch.words.ctis_changes import CTIS_STATUS_WORDS

IGNORED = frozenset({"_id", "ctrname", "record_last_import", "publishDate"})
"""Top-level fields that are never news (ctrdata's own, and the republication time)."""

Record = dict[str, Any]

_LABELS = {label.casefold(): code for code, label in CTIS_STATUS_WORDS.items()}
_DAY_FIRST = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_COUNTRY_TEXT = re.compile(r"([A-Z]{2}):\s*(.*?)(?=,\s*[A-Z]{2}:|$)")
_EU_CODES = {"EL": "GR"}  # the EU writes Greece "EL"


def clean(value: Any, *, translation: bool = False) -> Any:
    """``value`` without nested ids and translation uuids, its text unescaped."""
    if isinstance(value, dict):
        translation = "attributeTranslation" in value
        return {
            key: clean(item)
            for key, item in value.items()
            if not _renumbered(key, item, translation)
        }
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, str) and "&" in value:
        return html.unescape(value)
    return value


def _renumbered(key: str, value: Any, translation: bool) -> bool:
    if key == "id" or (translation and key == "uuid"):
        return True
    return key.endswith("Id") and type(value) is int


def record(raw: Mapping[str, Any]) -> Record:
    """The comparable form of a retrieve record (see the module docstring)."""
    return {key: clean(value) for key, value in raw.items() if key not in IGNORED}


def at(value: Any, *path: str) -> Any:
    """The value at ``path`` in nested dicts; ``None`` where a step is missing or not a dict."""
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def items(value: Any, *path: str) -> list[Mapping[str, Any]]:
    """The dicts of the list at ``path`` (anything else there counts as none)."""
    found = at(value, *path)
    if not isinstance(found, list):
        return []
    return [item for item in found if isinstance(item, Mapping)]


def iso_date(value: Any) -> Any:
    """``"28/04/2021"`` -> ``"2021-04-28"`` (the search format); anything else as it is."""
    if isinstance(value, str) and (found := _DAY_FIRST.fullmatch(value.strip())):
        day, month, year = found.groups()
        return f"{year}-{month}-{day}"
    return value


def status_code(value: Any) -> int | None:
    """A public status as its code: ``4``, ``"4"`` or ``"Ongoing, recruiting"`` -> ``4``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return _LABELS.get(" ".join(text.split()).casefold())


def public_status(rec: Mapping[str, Any]) -> int | None:
    """The trial's public status code, wherever this version of the API put it."""
    for value in (rec.get("ctPublicStatusCode"), rec.get("ctStatus")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return status_code(rec.get("ctPublicStatus"))


@dataclass(frozen=True)
class Country:
    """A country of the trial: its name as the registry gives it and its public status."""

    name: str
    status: int | None
    member_state: bool


def _key(name: str) -> str:
    code = _EU_CODES.get(name.strip().upper())
    return code if code is not None else country_key(name)


def _display(name: str) -> str:
    """A country's name; a two-letter code (the search record's text) made a name."""
    text = name.strip()
    if len(text) == 2 and text.isupper():
        code = _EU_CODES.get(text, text)
        try:
            return country_name(code) if country_code(code) == code else text
        except KeyError:  # pragma: no cover - country_code knows only names it can give
            return text
    return text


def _overlay(value: Any) -> Iterator[tuple[str, int | None]]:
    """The search record's ``trialCountries``: (country, status code) pairs."""
    if isinstance(value, list):
        for entry in value:
            name, _, code = str(entry).rpartition(":")
            yield (name, status_code(code)) if name else (code, None)
    elif isinstance(value, str):
        for code, label in _COUNTRY_TEXT.findall(value):
            yield code, status_code(label)


def countries(rec: Mapping[str, Any]) -> dict[str, Country]:
    """Every country of the trial by its key (ISO code): member states first, then the rest."""
    found: dict[str, Country] = {}

    def add(name: Any, status: int | None, member: bool) -> None:
        if not isinstance(name, str) or not name.strip():
            return
        key = _key(name)
        held = found.get(key)
        if held is None:
            found[key] = Country(_display(name), status, member)
        elif held.status is None and status is not None:
            found[key] = Country(held.name, status, held.member_state or member)

    application = rec.get("authorizedApplication")
    for part in items(application, "authorizedPartsII"):
        info = part.get("mscInfo")
        add(at(info, "countryName") or at(info, "mscName"), None, True)
    for state in items(application, "memberStatesConcerned"):
        add(state.get("mscName"), status_code(state.get("mscPublicStatusCode")), True)
    for name, status in _overlay(rec.get("trialCountries")):
        add(name, status, True)
    for country in items(application, "authorizedPartI", "rowCountriesInfo"):
        if country.get("current") is not False:
            add(country.get("name"), None, False)
    return found


def part_country(part: Mapping[str, Any]) -> str:
    """The country of one ``authorizedPartsII`` entry (``""`` when it names none)."""
    info = part.get("mscInfo")
    name = at(info, "countryName") or at(info, "mscName")
    return str(name or "")


def country_of(name: Any) -> str:
    """The key of a country name (``""`` for none)."""
    if not name:
        return ""
    return _key(str(name))
