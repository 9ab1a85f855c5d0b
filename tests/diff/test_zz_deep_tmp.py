"""Properties of diff_records on real records and random edits of them (hypothesis)."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.diff.conftest import (
    RECORDS,
    SMALL_RECORDS,
    assert_values_match,
    load_record,
)
from trialwatch.diff import KINDS, Change, diff_records
from trialwatch.diff.keys import canonical
from trialwatch.diff.labels import MAX_SUMMARY

KEYED_LISTS = (
    ("contactsLocationsModule", "locations"),
    ("contactsLocationsModule", "centralContacts"),
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
    max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
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
    out = load_like(record)
    section = out.get("protocolSection")
    for module_name, key in KEYED_LISTS:
        module = section.get(module_name) if isinstance(section, dict) else None
        if isinstance(module, dict) and isinstance(module.get(key), list):
            module[key] = sorted(module[key], key=canonical)
    return out


def load_like(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON."""
    import orjson

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

Edit = Callable[[dict[str, Any]], None]


def _status_module(record: dict[str, Any]) -> dict[str, Any]:
    module = record["protocolSection"]["statusModule"]
    assert isinstance(module, dict)
    return module


def _sites(record: dict[str, Any]) -> list[dict[str, Any]]:
    module = record["protocolSection"].setdefault("contactsLocationsModule", {})
    sites = module.setdefault("locations", [])
    assert isinstance(sites, list)
    return sites


@st.composite
def edits(draw: st.DrawFn) -> Edit:
    """One edit of the kind the registry makes."""
    which = draw(
        st.sampled_from(
            ["status", "enrollment", "add", "remove", "site", "date", "title", "bump", "shuffle"]
        )
    )
    if which == "status":
        status = draw(st.sampled_from(STATUSES))
        return lambda r: _status_module(r).__setitem__("overallStatus", status)
    if which == "enrollment":
        info = {
            "count": draw(st.integers(0, 2000)),
            "type": draw(st.sampled_from(["ACTUAL", "ESTIMATED"])),
        }
        return lambda r: r["protocolSection"]["designModule"].__setitem__("enrollmentInfo", info)
    if which == "add":
        site = {
            "facility": draw(words),
            "status": draw(st.sampled_from(STATUSES)),
            "city": draw(words),
            "country": draw(st.sampled_from(["France", "Germany", "Netherlands", "Japan"])),
        }
        count = draw(st.integers(1, 6))
        return lambda r: _sites(r).extend(
            dict(site, facility=f"{site['facility']} {i}") for i in range(count)
        )
    index = draw(st.integers(0, 10**6))
    if which == "remove":
        return lambda r: _sites(r).pop(index % len(_sites(r))) if _sites(r) else None
    if which == "site":
        status = draw(st.sampled_from(STATUSES))
        return lambda r: (
            _sites(r)[index % len(_sites(r))].__setitem__("status", status) if _sites(r) else None
        )
    if which == "date":
        key = draw(
            st.sampled_from(
                ["startDateStruct", "primaryCompletionDateStruct", "completionDateStruct"]
            )
        )
        year, month, day = (
            draw(st.integers(1999, 2035)),
            draw(st.integers(1, 12)),
            draw(st.integers(1, 28)),
        )
        date = draw(st.sampled_from([f"{year}-{month:02}", f"{year}-{month:02}-{day:02}"]))
        struct = {"date": date, "type": draw(st.sampled_from(["ACTUAL", "ESTIMATED"]))}
        return lambda r: _status_module(r).__setitem__(key, struct)
    if which == "title":
        title = draw(st.text(min_size=1, max_size=200))
        return lambda r: r["protocolSection"]["identificationModule"].__setitem__(
            "briefTitle", title
        )
    if which == "bump":
        day = f"2026-01-{draw(st.integers(1, 28)):02}"

        def bump(record: dict[str, Any]) -> None:
            _status_module(record)["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
            _status_module(record)["lastUpdateSubmitDate"] = day

        return bump
    return lambda r: _shuffle_keyed(r, index)


@PROPERTY_SETTINGS
@given(name=records, changes=st.lists(edits(), min_size=1, max_size=4))
def test_it_reports_registry_edits_with_the_values_at_their_fields(
    name: str, changes: list[Edit]
) -> None:
    """Every change's old/new is the value at its field; a change iff the records differ."""
    old, new = load_record(name), load_record(name)
    for edit in changes:
        edit(new)
    found = _check(old, new)
    before, after = old["protocolSection"]["statusModule"], new["protocolSection"]["statusModule"]
    if before["overallStatus"] != after["overallStatus"]:
        status = [c for c in found if c.field.endswith("statusModule.overallStatus")]
        assert len(status) == 1
        assert status[0].significance == "major"


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
    assert diff_records(new, load_like(new)) == []
