"""Helpers for the diff tests: real API v2 records from ``tests/fixtures/ctgov`` and checks."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import value_at

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ctgov"

RECORDS = (
    "NCT00763412.json",
    "NCT00973089.json",
    "NCT02299791.json",
    "NCT02513394.json",
    "NCT02552212.json",
    "NCT02552212.variant-from-aact-NCT02278341-file.json",
    "NCT03064438.json",
    "NCT03418623.json",
    "NCT03475563.json",
    "NCT04431453.json",
    "NCT06171568.json",
    "studies-response-NCT03281889.json",
    "studies-response-NCT06388018.json",
    "constructed/NCT05225675.json",
    "constructed/NCT06537999.json",
    "constructed/NCT06742190.json",
)
"""Every full v2 record among the fixtures (``studies-response-*`` are unwrapped)."""

SMALL_RECORDS = tuple(name for name in RECORDS if (FIXTURES / name).stat().st_size < 70_000)
"""The records small enough to copy many times in property tests."""

GROUPED = frozenset({"sites_added", "sites_removed", "sites_status", "sites_updated"})


@cache
def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load_record(name: str) -> dict[str, Any]:
    """A fresh copy of one fixture record, unwrapped from ``{"studies": [...]}``."""
    data = orjson.loads(_raw(name))
    if "studies" in data:
        data = data["studies"][0]
    assert isinstance(data, dict)
    return data


def load_pair(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two independent copies of one record: the old version and one to edit."""
    return load_record(name), load_record(name)


def bump(record: dict[str, Any], day: str = "2025-09-01") -> None:
    """Edit ``record`` the way every registry update does: new last-update dates and version."""
    status = record["protocolSection"]["statusModule"]
    status["lastUpdateSubmitDate"] = day
    status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    record.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = day


def module(record: Mapping[str, Any], name: str) -> Any:
    """``record["protocolSection"][name]``."""
    return record["protocolSection"][name]


def of_kind(changes: list[Change], kind: str) -> Change:
    """The one change of ``kind`` (fails when there are none or several)."""
    found = [change for change in changes if change.kind == kind]
    assert len(found) == 1, [c.kind for c in changes]
    return found[0]


def kinds(changes: list[Change]) -> list[str]:
    """The kinds of ``changes``, in order."""
    return [change.kind for change in changes]


def not_noise(changes: list[Change]) -> list[Change]:
    """The changes a subscriber could be mailed."""
    return [change for change in changes if change.significance != "noise"]


def assert_values_match(
    old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change]
) -> None:
    """Each change's ``old``/``new`` is what its ``field`` holds in the old/new record.

    A keyed item is named by its key in the newer record. Where that key names
    something else in the older one (an item matched under a new key, such as a
    corrected site or a renamed intervention, or one added among items sharing a
    key), ``old`` is still an item of the older list, or ``None`` for an addition.
    """
    for change in changes:
        if change.kind in GROUPED:
            listed_old = value_at(old, change.field) or []
            listed_new = value_at(new, change.field) or []
            assert all(item in listed_old for item in change.old), change
            assert all(item in listed_new for item in change.new), change
            continue
        keyed_item = change.field.endswith("]")
        if change.new is not None or not keyed_item:
            assert value_at(new, change.field) == change.new, change
        if change.old is None and keyed_item:
            continue
        if change.new is None or value_at(old, change.field) == change.old:
            assert value_at(old, change.field) == change.old, change
        else:
            listed = value_at(old, change.field[: change.field.index("[")])
            assert isinstance(listed, list), change
            assert change.old in listed, change
