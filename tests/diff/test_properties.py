"""Properties of diff_records on real records and random edits of them (hypothesis)."""

from __future__ import annotations

import random
import string
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.diff.conftest import (
    RECORDS,
    SMALL_RECORDS,
    assert_values_match,
    load_record,
)
from trialwatch.diff import KINDS, Change
from trialwatch.diff.keys import _clean_site_labels, canonical, site_label
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.words.changes import MAX_SUMMARY, describe

KEYED_LISTS = (
    ("contactsLocationsModule", "locations"),
    ("contactsLocationsModule", "centralContacts"),
    ("contactsLocationsModule", "overallOfficials"),
    ("outcomesModule", "primaryOutcomes"),
    ("outcomesModule", "secondaryOutcomes"),
    ("armsInterventionsModule", "armGroups"),
    ("armsInterventionsModule", "interventions"),
    ("sponsorCollaboratorsModule", "collaborators"),
    ("conditionsModule", "conditions"),
    ("designModule", "phases"),
    ("eligibilityModule", "stdAges"),
)
STATUSES = (
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "COMPLETED",
    "WITHDRAWN",
    "UNKNOWN",
)
PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

records = st.sampled_from(SMALL_RECORDS)
words = st.text(alphabet=string.ascii_letters + " -", min_size=1, max_size=12)
codes = st.sampled_from([*STATUSES, "PHASE2", "DRUG", "ACTUAL", "ESTIMATED", "2025-03", "18 Years"])
scalars = st.none() | st.integers(2, 10**6) | words | codes
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(string.ascii_letters, min_size=1, max_size=8), children, max_size=3
        )
    ),
    max_leaves=6,
)


def _canonical(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with every keyed list sorted: equal iff equal up to their order."""
    out = _json_copy(record)
    section = out.get("protocolSection")
    for module_name, key in KEYED_LISTS:
        module = section.get(module_name) if isinstance(section, dict) else None
        if isinstance(module, dict) and isinstance(module.get(key), list):
            module[key] = sorted(module[key], key=canonical)
    return out


def _json_copy(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON."""
    copy = orjson.loads(orjson.dumps(record))
    assert isinstance(copy, dict)
    return copy


def _check(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert (changes == []) == (_canonical(old) == _canonical(new))
    assert_values_match(old, new, changes)
    for change in changes:
        assert change.kind in KINDS
        assert change.significance in ("major", "minor", "noise")
        assert 0 < len(change.summary) <= MAX_SUMMARY
        params = orjson.loads(orjson.dumps(change.params))  # JSON, and said the same after
        assert describe(change.message, params) == change.summary
        assert all(isinstance(country, str) for country in change.countries)
    return changes


def _shuffle_keyed(record: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    for module_name, key in KEYED_LISTS:
        value = record["protocolSection"].get(module_name, {}).get(key)
        if isinstance(value, list):
            rng.shuffle(value)


@pytest.mark.parametrize("name", RECORDS)
def test_it_finds_no_change_between_a_record_and_its_copy(name: str) -> None:
    """Every fixture record equals itself and an independent copy of itself."""
    record = load_record(name)
    assert diff_records(record, record) == []
    assert diff_records(record, load_record(name)) == []


@PROPERTY_SETTINGS
@given(name=records, seed=st.integers(0, 2**32))
def test_it_ignores_the_order_of_keyed_lists(name: str, seed: int) -> None:
    """Shuffling sites, arms, interventions, collaborators, contacts, conditions, phases."""
    old, new = load_record(name), load_record(name)
    _shuffle_keyed(new, seed)
    assert diff_records(old, new) == []


# --- registry-like edits ------------------------------------------------------------------

Edit = tuple[str, Any]
"""An edit the registry makes: its name and its drawn value."""


def _site(facility: str, city: str, country: str, status: str) -> dict[str, Any]:
    return {"facility": facility, "status": status, "city": city, "country": country}


def _date(year: int, month: int, day: int | None, kind: str) -> dict[str, Any]:
    date = f"{year}-{month:02}" if day is None else f"{year}-{month:02}-{day:02}"
    return {"date": date, "type": kind}


statuses = st.sampled_from(STATUSES)
countries = st.sampled_from(["France", "Germany", "Netherlands", "Japan"])
edits: st.SearchStrategy[Edit] = st.one_of(
    st.tuples(st.just("status"), statuses),
    st.tuples(
        st.just("enrollment"),
        st.fixed_dictionaries(
            {"count": st.integers(0, 2000), "type": st.sampled_from(["ACTUAL", "ESTIMATED"])}
        ),
    ),
    st.tuples(
        st.just("add sites"),
        st.lists(st.builds(_site, words, words, countries, statuses), min_size=1, max_size=6),
    ),
    st.tuples(st.just("remove site"), st.integers(0, 10**6)),
    st.tuples(st.just("site status"), st.tuples(st.integers(0, 10**6), statuses)),
    st.tuples(st.just("correct site"), st.tuples(st.integers(0, 10**6), words)),
    st.tuples(st.just("nameless site"), st.integers(0, 10**6)),
    st.tuples(st.just("copy site"), st.tuples(st.integers(0, 10**6), statuses)),
    st.tuples(
        st.just("date"),
        st.tuples(
            st.sampled_from(
                ["startDateStruct", "primaryCompletionDateStruct", "completionDateStruct"]
            ),
            st.builds(
                _date,
                st.integers(1999, 2035),
                st.integers(1, 12),
                st.none() | st.integers(1, 28),
                st.sampled_from(["ACTUAL", "ESTIMATED"]),
            ),
        ),
    ),
    st.tuples(st.just("title"), st.text(min_size=1, max_size=200)),
    st.tuples(st.just("bump"), st.integers(1, 28)),
    st.tuples(st.just("shuffle"), st.integers(0, 2**32)),
)


def _apply(record: dict[str, Any], edit: Edit) -> None:
    name, value = edit
    protocol = record["protocolSection"]
    status = protocol["statusModule"]
    sites = protocol.setdefault("contactsLocationsModule", {}).setdefault("locations", [])
    if name == "status":
        status["overallStatus"] = value
    elif name == "enrollment":
        protocol["designModule"]["enrollmentInfo"] = value
    elif name == "add sites":
        sites.extend(value)
    elif name == "remove site" and sites:
        sites.pop(value % len(sites))
    elif name == "site status" and sites:
        sites[value[0] % len(sites)]["status"] = value[1]
    elif name == "correct site" and sites:
        site = sites[value[0] % len(sites)]
        site["facility"] = f"{site.get('facility') or ''} {value[1]}".strip()
        site["zip"] = f"{site.get('zip') or ''}0"
    elif name == "nameless site" and sites:
        sites[value % len(sites)].pop("facility", None)
    elif name == "copy site" and sites:
        sites.append(dict(sites[value[0] % len(sites)], status=value[1]))
    elif name == "date":
        status[value[0]] = value[1]
    elif name == "title":
        protocol["identificationModule"]["briefTitle"] = value
    elif name == "bump":
        day = f"2026-01-{value:02}"
        status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
        status["lastUpdateSubmitDate"] = day
    elif name == "shuffle":
        _shuffle_keyed(record, value)


@PROPERTY_SETTINGS
@given(name=records, changes=st.lists(edits, min_size=1, max_size=4))
def test_it_reports_registry_edits_with_the_values_at_their_fields(
    name: str, changes: list[Edit]
) -> None:
    """Every change's old/new is the value at its field; a change iff the records differ."""
    old, new = load_record(name), load_record(name)
    for edit in changes:
        _apply(new, edit)
    found = _check(old, new)
    before, after = old["protocolSection"]["statusModule"], new["protocolSection"]["statusModule"]
    if before["overallStatus"] != after["overallStatus"]:
        [status] = [c for c in found if c.field.endswith("statusModule.overallStatus")]
        assert status.significance == "major"


# --- arbitrary edits anywhere -------------------------------------------------------------


def _mutate(data: st.DataObject, record: dict[str, Any]) -> None:
    """Set, delete or insert one value somewhere in ``record``."""
    node: Any = record
    for _ in range(data.draw(st.integers(0, 6), label="depth")):
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        inner = [value for _, value in items if isinstance(value, dict | list) and value]
        if not inner:
            break
        node = data.draw(st.sampled_from(inner), label="descend")
    op = data.draw(st.sampled_from(["set", "delete", "insert"]), label="op")
    if isinstance(node, dict):
        keys = list(node)
        if op == "insert" or not keys:
            key = data.draw(st.text(string.ascii_letters, min_size=1, max_size=8), label="key")
            node[key] = data.draw(json_values, label="value")
        elif op == "delete":
            del node[data.draw(st.sampled_from(keys), label="key")]
        else:
            node[data.draw(st.sampled_from(keys), label="key")] = data.draw(json_values)
    elif op == "insert" or not node:
        node.insert(data.draw(st.integers(0, len(node))), data.draw(json_values, label="value"))
    elif op == "delete":
        del node[data.draw(st.integers(0, len(node) - 1), label="index")]
    else:
        node[data.draw(st.integers(0, len(node) - 1), label="index")] = data.draw(json_values)


@PROPERTY_SETTINGS
@given(name=records, data=st.data())
def test_it_reports_a_change_exactly_when_records_differ(name: str, data: st.DataObject) -> None:
    """After random edits anywhere: changes iff the records differ beyond keyed-list order."""
    old, new = load_record(name), load_record(name)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        _mutate(data, new if data.draw(st.booleans(), label="which") else old)
    _check(old, new)
    _check(new, old)
    assert diff_records(new, _json_copy(new)) == []


VOCABULARY_PATHS = (
    "hasResults",
    "resultsSection",
    "protocolSection.statusModule.overallStatus",
    "protocolSection.statusModule.whyStopped",
    "protocolSection.statusModule.startDateStruct",
    "protocolSection.statusModule.startDateStruct.date",
    "protocolSection.statusModule.primaryCompletionDateStruct.type",
    "protocolSection.statusModule.completionDateStruct",
    "protocolSection.statusModule.studyFirstPostDateStruct",
    "protocolSection.statusModule.lastUpdatePostDateStruct",
    "protocolSection.statusModule.statusVerifiedDate",
    "protocolSection.statusModule.resultsFirstPostDateStruct",
    "protocolSection.identificationModule.briefTitle",
    "protocolSection.identificationModule.acronym",
    "protocolSection.designModule.phases",
    "protocolSection.designModule.enrollmentInfo",
    "protocolSection.designModule.enrollmentInfo.type",
    "protocolSection.conditionsModule.conditions",
    "protocolSection.eligibilityModule.maximumAge",
    "protocolSection.eligibilityModule.sex",
    "protocolSection.eligibilityModule.healthyVolunteers",
    "protocolSection.eligibilityModule.stdAges",
    "protocolSection.sponsorCollaboratorsModule.leadSponsor",
    "protocolSection.sponsorCollaboratorsModule.collaborators",
    "protocolSection.armsInterventionsModule.armGroups",
    "protocolSection.armsInterventionsModule.interventions",
    "protocolSection.contactsLocationsModule.centralContacts",
    "protocolSection.contactsLocationsModule.locations",
    "protocolSection.contactsLocationsModule.locations.*.status",
    "protocolSection.contactsLocationsModule.locations.*.country",
    "protocolSection.contactsLocationsModule.locations.*.contacts",
)


def _set_path(record: dict[str, Any], path: str, value: Any, index: int) -> None:
    node: Any = record
    *parents, last = path.split(".")
    for part in parents:
        if part == "*":
            if not isinstance(node, list) or not node or not isinstance(node[0], dict):
                return
            node = node[index % len(node)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            return
    if isinstance(node, dict):
        node[last] = value


@PROPERTY_SETTINGS
@given(
    name=records,
    edits=st.lists(
        st.tuples(st.sampled_from(VOCABULARY_PATHS), json_values, st.integers(0, 100)),
        min_size=1,
        max_size=3,
    ),
)
def test_it_survives_odd_values_in_vocabulary_fields(
    name: str, edits: list[tuple[str, Any, int]]
) -> None:
    """Values of unexpected shape in known fields still give consistent changes."""
    old, new = load_record(name), load_record(name)
    for path, value, index in edits:
        _set_path(new, path, value, index)
    _check(old, new)
    _check(new, old)


site_parts = st.none() | st.text(
    alphabet=st.sampled_from(["a", "B", "é", " ", "|", "\t", "\n", "\xa0", "\u2003", "\u200b"]),
    max_size=6,
)


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={name: site_parts for name in ("facility", "city", "state", "zip", "country")},
        ),
        min_size=1,
        max_size=5,
    )
)
def test_it_labels_sites_in_bulk_exactly_as_one_by_one(sites: list[dict[str, Any]]) -> None:
    """The fast bulk labelling either declines or agrees with site_label on every site."""
    bulk = _clean_site_labels(sites)
    assert bulk is None or bulk == [site_label(site) for site in sites]
