"""The field-type table agrees with the API v2 spec; the check finds drift and only drift."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fakeapi import load_fixture_records
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.registries.ctgov.differ.fields import SECTION_FIELDS
from trialwatch.registries.ctgov.fieldtypes import (
    FIELD_TYPES,
    field_drift,
    json_type,
    without_drift,
)
from trialwatch.registries.ctgov.summary import summarise

SPEC = Path(__file__).parents[2] / "fixtures" / "ctgov" / "spec" / "ctg-oas-v2.yaml"


def _schemas() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    assert spec["info"]["version"] == "2.0.5"
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rpartition("/")[2]]
    return schema


def _spec_type(path: str, schemas: dict[str, Any]) -> str:
    """The type the spec gives ``path`` (from the Study schema); KeyError if it has none."""
    schema = _resolve(schemas["Study"], schemas)
    for part in path.split("."):
        name, items = (part[:-2], True) if part.endswith("[]") else (part, False)
        schema = _resolve(schema["properties"][name], schemas)
        if items:
            assert schema["type"] == "array", path
            schema = _resolve(schema["items"], schemas)
    return str(schema["type"])


def test_the_table_is_the_spec_s_type_of_each_field() -> None:
    """Every entry is a field of the spec (none invented), with the spec's type."""
    schemas = _schemas()
    derived = {path: _spec_type(path, schemas) for path in FIELD_TYPES}
    assert dict(FIELD_TYPES) == derived


def test_every_field_the_differ_handles_or_the_listing_reads_is_in_the_table() -> None:
    """The differ's handled fields and the summary's fields are all type-checked."""
    handled = {
        f"{section}.{module}.{name}"
        for section, modules in SECTION_FIELDS.items()
        for module, fields in modules.items()
        for name in fields
    }
    listing = {
        "hasResults",
        "protocolSection.identificationModule.nctId",
        "protocolSection.identificationModule.briefTitle",
        "protocolSection.identificationModule.officialTitle",
        "protocolSection.identificationModule.acronym",
        "protocolSection.statusModule.overallStatus",
        "protocolSection.statusModule.lastUpdatePostDateStruct.date",
        "protocolSection.designModule.phases[]",
        "protocolSection.sponsorCollaboratorsModule.leadSponsor.name",
        "protocolSection.conditionsModule.conditions[]",
        "protocolSection.contactsLocationsModule.locations[].country",
    }
    assert handled | listing <= set(FIELD_TYPES)


def test_real_records_have_no_drift() -> None:
    """Every stored real record (2 KB to 1.5 MB, thousands of sites) has the spec's types."""
    records = load_fixture_records()
    assert len(records) > 10
    assert [field_drift(r) for r in records] == [{}] * len(records)


@pytest.mark.parametrize(
    ("value", "name"),
    [("x", "string"), (1, "integer"), (1.5, "number"), (True, "boolean"), (None, "null")],
)
def test_json_type_names_a_value_as_the_spec_would(value: Any, name: str) -> None:
    """JSON Schema's names, a boolean never an integer."""
    assert json_type(value) == name


def _arda() -> dict[str, Any]:
    [record] = [
        r
        for r in load_fixture_records()
        if r["protocolSection"]["identificationModule"]["nctId"] == "NCT05225675"
    ]
    return record


def test_drift_names_the_field_and_both_types_down_to_list_items() -> None:
    """A wrong type is found at any depth; a boolean count and a missing field are not alike."""
    record = _arda()
    protocol = record["protocolSection"]
    protocol["designModule"]["enrollmentInfo"]["count"] = True
    protocol["contactsLocationsModule"]["locations"][0]["country"] = 7
    protocol["contactsLocationsModule"]["locations"][1]["country"] = 8
    del protocol["statusModule"]["overallStatus"]  # absent is not drift
    protocol["derivedSection"] = {"anything": [1]}  # not read: not checked
    assert field_drift(record) == {
        "protocolSection.designModule.enrollmentInfo.count: boolean, expected integer": (
            "protocolSection",
            "designModule",
            "enrollmentInfo",
        ),
        "protocolSection.contactsLocationsModule.locations[].country: integer, expected string": (
            "protocolSection",
            "contactsLocationsModule",
            "locations",
        ),
    }
    record["hasResults"] = "no"
    assert "hasResults: string, expected boolean" in field_drift(record)


def test_without_drift_keeps_the_drifted_units_equal_and_copies_no_more() -> None:
    """The diff of the pair sees no change in a drifted unit; the records are untouched."""
    old = _arda()
    new = copy.deepcopy(old)
    new["protocolSection"]["statusModule"]["overallStatus"] = ["completed"]
    new["protocolSection"]["statusModule"]["whyStopped"] = "funding"
    unit = ("protocolSection", "statusModule", "overallStatus")
    before, after = without_drift(old, new, set(), {unit})
    assert [c.field for c in diff_records(before, after)] == [
        "protocolSection.statusModule.whyStopped"
    ]
    assert new["protocolSection"]["statusModule"]["overallStatus"] == ["completed"]
    assert after["protocolSection"]["designModule"] is new["protocolSection"]["designModule"]
    # The type coming back: the old drifted value is no change either.
    before, after = without_drift(new, old, {unit}, set())
    assert "protocolSection.statusModule.overallStatus" not in {
        c.field for c in diff_records(before, after)
    }
    # A new study: the drifted field is left out of its summary.
    _, alone = without_drift(None, new, set(), {unit})
    assert "overallStatus" not in alone["protocolSection"]["statusModule"]
    assert "completed" not in diff_records(None, alone)[0].summary


def test_the_listing_summary_leaves_out_fields_of_another_type() -> None:
    """No list reaches a text column; a string of conditions is not split into letters."""
    record = _arda()
    protocol = record["protocolSection"]
    protocol["statusModule"]["overallStatus"] = ["completed"]
    protocol["conditionsModule"]["conditions"] = "MMN"
    protocol["identificationModule"]["briefTitle"] = None
    summary = summarise(record)
    assert (summary.status, summary.conditions) == (None, ())
    assert summary.title == protocol["identificationModule"]["officialTitle"]
