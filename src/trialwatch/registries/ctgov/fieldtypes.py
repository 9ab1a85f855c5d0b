"""The JSON type the API v2 spec gives each field TrialWatch reads, and a fast check of it.

:data:`FIELD_TYPES` is checked in; ``tests/registries/ctgov/test_fieldtypes.py`` derives every
entry from the official OpenAPI spec (``ctg-oas-v2.yaml``, 2.0.5, a copy in
``tests/fixtures/ctgov/spec/``) and fails when they disagree, and checks that every
field the differ handles and every field of the listing summary is in it. A path
``a.b[]`` means each item of the array ``a.b``.

A field of another type than the spec's (``overallStatus`` as a list, ``conditions``
as a string, a null ``briefTitle``) is *drift*: the record is stored as received, but
its drifted fields are not compared (:func:`without_drift`), so no false change is
mailed. An absent field is not drift: the API leaves out what a record lacks.

Speed: the table is compiled once into a tree walked with ``type(value) in allowed``
per field present. Measured on the fixture records (2 CPUs, loaded): about 20-25 µs
for a record of 3-220 KB, 350 µs for the 1.5 MB NCT02513394 with 437 sites; a first
sync stores a record in about 2 ms (bench/sync.py, N=3,000), so about 1 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES: Mapping[str, str] = {
    "hasResults": "boolean",
    "protocolSection": "object",
    # identificationModule
    "protocolSection.identificationModule": "object",
    "protocolSection.identificationModule.nctId": "string",
    "protocolSection.identificationModule.briefTitle": "string",
    "protocolSection.identificationModule.officialTitle": "string",
    "protocolSection.identificationModule.acronym": "string",
    # statusModule
    "protocolSection.statusModule": "object",
    "protocolSection.statusModule.overallStatus": "string",
    "protocolSection.statusModule.lastKnownStatus": "string",
    "protocolSection.statusModule.whyStopped": "string",
    "protocolSection.statusModule.expandedAccessInfo": "object",
    "protocolSection.statusModule.expandedAccessInfo.hasExpandedAccess": "boolean",
    "protocolSection.statusModule.expandedAccessInfo.nctId": "string",
    "protocolSection.statusModule.expandedAccessInfo.statusForNctId": "string",
    "protocolSection.statusModule.statusVerifiedDate": "string",
    "protocolSection.statusModule.startDateStruct": "object",
    "protocolSection.statusModule.startDateStruct.date": "string",
    "protocolSection.statusModule.startDateStruct.type": "string",
    "protocolSection.statusModule.primaryCompletionDateStruct": "object",
    "protocolSection.statusModule.primaryCompletionDateStruct.date": "string",
    "protocolSection.statusModule.primaryCompletionDateStruct.type": "string",
    "protocolSection.statusModule.completionDateStruct": "object",
    "protocolSection.statusModule.completionDateStruct.date": "string",
    "protocolSection.statusModule.completionDateStruct.type": "string",
    "protocolSection.statusModule.studyFirstPostDateStruct": "object",
    "protocolSection.statusModule.studyFirstPostDateStruct.date": "string",
    "protocolSection.statusModule.resultsFirstSubmitDate": "string",
    "protocolSection.statusModule.resultsFirstSubmitQcDate": "string",
    "protocolSection.statusModule.resultsFirstPostDateStruct": "object",
    "protocolSection.statusModule.resultsFirstPostDateStruct.date": "string",
    "protocolSection.statusModule.lastUpdateSubmitDate": "string",
    "protocolSection.statusModule.lastUpdatePostDateStruct": "object",
    "protocolSection.statusModule.lastUpdatePostDateStruct.date": "string",
    # sponsorCollaboratorsModule
    "protocolSection.sponsorCollaboratorsModule": "object",
    "protocolSection.sponsorCollaboratorsModule.leadSponsor": "object",
    "protocolSection.sponsorCollaboratorsModule.leadSponsor.name": "string",
    "protocolSection.sponsorCollaboratorsModule.collaborators": "array",
    "protocolSection.sponsorCollaboratorsModule.collaborators[]": "object",
    "protocolSection.sponsorCollaboratorsModule.collaborators[].name": "string",
    # conditionsModule and designModule
    "protocolSection.conditionsModule": "object",
    "protocolSection.conditionsModule.conditions": "array",
    "protocolSection.conditionsModule.conditions[]": "string",
    "protocolSection.designModule": "object",
    "protocolSection.designModule.phases": "array",
    "protocolSection.designModule.phases[]": "string",
    "protocolSection.designModule.enrollmentInfo": "object",
    "protocolSection.designModule.enrollmentInfo.count": "integer",
    "protocolSection.designModule.enrollmentInfo.type": "string",
    # armsInterventionsModule
    "protocolSection.armsInterventionsModule": "object",
    "protocolSection.armsInterventionsModule.armGroups": "array",
    "protocolSection.armsInterventionsModule.armGroups[]": "object",
    "protocolSection.armsInterventionsModule.armGroups[].label": "string",
    "protocolSection.armsInterventionsModule.armGroups[].type": "string",
    "protocolSection.armsInterventionsModule.armGroups[].description": "string",
    "protocolSection.armsInterventionsModule.armGroups[].interventionNames": "array",
    "protocolSection.armsInterventionsModule.armGroups[].interventionNames[]": "string",
    "protocolSection.armsInterventionsModule.interventions": "array",
    "protocolSection.armsInterventionsModule.interventions[]": "object",
    "protocolSection.armsInterventionsModule.interventions[].type": "string",
    "protocolSection.armsInterventionsModule.interventions[].name": "string",
    "protocolSection.armsInterventionsModule.interventions[].description": "string",
    "protocolSection.armsInterventionsModule.interventions[].otherNames": "array",
    "protocolSection.armsInterventionsModule.interventions[].otherNames[]": "string",
    # eligibilityModule
    "protocolSection.eligibilityModule": "object",
    "protocolSection.eligibilityModule.eligibilityCriteria": "string",
    "protocolSection.eligibilityModule.healthyVolunteers": "boolean",
    "protocolSection.eligibilityModule.sex": "string",
    "protocolSection.eligibilityModule.minimumAge": "string",
    "protocolSection.eligibilityModule.maximumAge": "string",
    "protocolSection.eligibilityModule.stdAges": "array",
    "protocolSection.eligibilityModule.stdAges[]": "string",
    # contactsLocationsModule
    "protocolSection.contactsLocationsModule": "object",
    "protocolSection.contactsLocationsModule.centralContacts": "array",
    "protocolSection.contactsLocationsModule.centralContacts[]": "object",
    "protocolSection.contactsLocationsModule.centralContacts[].name": "string",
    "protocolSection.contactsLocationsModule.centralContacts[].role": "string",
    "protocolSection.contactsLocationsModule.centralContacts[].phone": "string",
    "protocolSection.contactsLocationsModule.centralContacts[].phoneExt": "string",
    "protocolSection.contactsLocationsModule.centralContacts[].email": "string",
    "protocolSection.contactsLocationsModule.overallOfficials": "array",
    "protocolSection.contactsLocationsModule.overallOfficials[]": "object",
    "protocolSection.contactsLocationsModule.overallOfficials[].name": "string",
    "protocolSection.contactsLocationsModule.overallOfficials[].affiliation": "string",
    "protocolSection.contactsLocationsModule.overallOfficials[].role": "string",
    "protocolSection.contactsLocationsModule.locations": "array",
    "protocolSection.contactsLocationsModule.locations[]": "object",
    "protocolSection.contactsLocationsModule.locations[].facility": "string",
    "protocolSection.contactsLocationsModule.locations[].status": "string",
    "protocolSection.contactsLocationsModule.locations[].city": "string",
    "protocolSection.contactsLocationsModule.locations[].state": "string",
    "protocolSection.contactsLocationsModule.locations[].zip": "string",
    "protocolSection.contactsLocationsModule.locations[].country": "string",
    "protocolSection.contactsLocationsModule.locations[].contacts": "array",
    "protocolSection.contactsLocationsModule.locations[].contacts[]": "object",
    "protocolSection.contactsLocationsModule.locations[].contacts[].name": "string",
    "protocolSection.contactsLocationsModule.locations[].contacts[].role": "string",
    "protocolSection.contactsLocationsModule.locations[].contacts[].phone": "string",
    "protocolSection.contactsLocationsModule.locations[].contacts[].phoneExt": "string",
    "protocolSection.contactsLocationsModule.locations[].contacts[].email": "string",
    "protocolSection.contactsLocationsModule.locations[].geoPoint": "object",
    "protocolSection.contactsLocationsModule.locations[].geoPoint.lat": "number",
    "protocolSection.contactsLocationsModule.locations[].geoPoint.lon": "number",
    # outcomesModule and referencesModule
    "protocolSection.outcomesModule": "object",
    "protocolSection.outcomesModule.primaryOutcomes": "array",
    "protocolSection.outcomesModule.primaryOutcomes[]": "object",
    "protocolSection.outcomesModule.primaryOutcomes[].measure": "string",
    "protocolSection.outcomesModule.primaryOutcomes[].description": "string",
    "protocolSection.outcomesModule.primaryOutcomes[].timeFrame": "string",
    "protocolSection.outcomesModule.secondaryOutcomes": "array",
    "protocolSection.outcomesModule.secondaryOutcomes[]": "object",
    "protocolSection.outcomesModule.secondaryOutcomes[].measure": "string",
    "protocolSection.outcomesModule.secondaryOutcomes[].description": "string",
    "protocolSection.outcomesModule.secondaryOutcomes[].timeFrame": "string",
    "protocolSection.referencesModule": "object",
    "protocolSection.referencesModule.references": "array",
    "protocolSection.referencesModule.references[]": "object",
    "protocolSection.referencesModule.references[].pmid": "string",
    "protocolSection.referencesModule.references[].type": "string",
    "protocolSection.referencesModule.references[].citation": "string",
    # documentSection
    "documentSection": "object",
    "documentSection.largeDocumentModule": "object",
    "documentSection.largeDocumentModule.largeDocs": "array",
    "documentSection.largeDocumentModule.largeDocs[]": "object",
    "documentSection.largeDocumentModule.largeDocs[].typeAbbrev": "string",
    "documentSection.largeDocumentModule.largeDocs[].hasProtocol": "boolean",
    "documentSection.largeDocumentModule.largeDocs[].hasSap": "boolean",
    "documentSection.largeDocumentModule.largeDocs[].hasIcf": "boolean",
    "documentSection.largeDocumentModule.largeDocs[].label": "string",
    "documentSection.largeDocumentModule.largeDocs[].date": "string",
    "documentSection.largeDocumentModule.largeDocs[].uploadDate": "string",
    "documentSection.largeDocumentModule.largeDocs[].filename": "string",
    "documentSection.largeDocumentModule.largeDocs[].size": "integer",
}
"""Path -> JSON type (``string``, ``integer``, ``number``, ``boolean``, ``object``, ``array``)."""

_PYTHON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),  # type(True) is bool: a boolean is no integer
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_JSON_NAMES: Mapping[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}
_SECTIONS_WITH_MODULES = frozenset({"protocolSection", "documentSection"})
_ABSENT: Any = object()

Unit = tuple[str, ...]
"""What the differ compares as one field: ``(section, module, field)`` or a top-level key."""


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (``null`` for None)."""
    return _JSON_NAMES.get(type(value)) or type(value).__name__


@dataclass
class _Node:
    path: str
    expected: str
    allowed: tuple[type, ...]
    unit: Unit
    children: list[tuple[str, _Node]] = field(default_factory=list)
    items: _Node | None = None


def _unit(path: str) -> Unit:
    parts = tuple(path.replace("[]", "").split("."))
    return parts[:3] if parts[0] in _SECTIONS_WITH_MODULES else parts[:1]


def _compile(types: Mapping[str, str]) -> list[tuple[str, _Node]]:
    """The table as a tree: each node's children (object) or items (array)."""
    nodes = {
        path: _Node(path, expected, _PYTHON_TYPES[expected], _unit(path))
        for path, expected in types.items()
    }
    root: list[tuple[str, _Node]] = []
    for path, node in nodes.items():
        if path.endswith("[]"):
            nodes[path[:-2]].items = node
            continue
        parent, _, key = path.rpartition(".")
        (nodes[parent].children if parent else root).append((key, node))
    return root


_ROOT = _compile(FIELD_TYPES)


def field_drift(record: Mapping[str, Any]) -> dict[str, Unit]:
    """Each field of ``record`` whose JSON type is not the spec's, as
    ``"<path>: <type>, expected <type>"``, with the unit of the differ it falls in."""
    found: dict[str, Unit] = {}
    _check(record, _ROOT, found)
    return found


def _check(
    value: Mapping[str, Any], children: list[tuple[str, _Node]], found: dict[str, Unit]
) -> None:
    for key, node in children:
        child = value.get(key, _ABSENT)
        if child is _ABSENT:
            continue
        if type(child) not in node.allowed:
            _found(child, node, found)
        elif node.children:
            _check(child, node.children, found)
        elif node.items is not None:
            _check_items(child, node.items, found)


def _check_items(values: list[Any], node: _Node, found: dict[str, Unit]) -> None:
    allowed, children, items = node.allowed, node.children, node.items
    for value in values:
        if type(value) not in allowed:
            _found(value, node, found)
        elif children:
            _check(value, children, found)
        elif items is not None:
            _check_items(value, items, found)


def _found(value: Any, node: _Node, found: dict[str, Unit]) -> None:
    found[f"{node.path}: {json_type(value)}, expected {node.expected}"] = node.unit


MISSING: Any = _ABSENT
"""What :func:`unit_value` returns for a unit the record does not have."""


def without_drift(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    old_units: set[Unit],
    new_units: set[Unit],
    before: Mapping[Unit, Any] | None = None,
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]]:
    """The pair to diff, with no change in a unit drifted on either side.

    A unit drifted in ``new`` takes the old record's value (or is left out with no old
    one). A unit drifted only in ``old`` (the type came back) takes its value from
    before the drift, ``before[unit]`` (:data:`MISSING`: it was absent), so a real
    change across the drift is still seen; unknown, it takes the new value. Only the
    dicts along those paths are copied.
    """
    known = before or {}
    for unit in sorted(new_units):
        new = _with(new, unit, unit_value(old, unit) if old is not None else _ABSENT)
    if old is not None:
        for unit in sorted(old_units - new_units):
            if not any(unit[: len(done)] == done for done in new_units):
                old = _with(old, unit, known[unit] if unit in known else unit_value(new, unit))
    return old, new


def unit_value(record: Mapping[str, Any], unit: Unit) -> Any:
    """The value at ``unit`` of ``record``, or :data:`MISSING`."""
    value: Any = record
    for key in unit:
        if not isinstance(value, Mapping):
            return _ABSENT
        value = value.get(key, _ABSENT)
    return value


def _with(record: Mapping[str, Any], unit: Unit, value: Any) -> Mapping[str, Any]:
    """A copy of ``record`` with ``value`` at ``unit`` (left out for ``_ABSENT``)."""
    copy = dict(record)
    head, rest = unit[0], unit[1:]
    if rest:
        inner = copy.get(head)
        if isinstance(inner, Mapping):
            copy[head] = _with(inner, rest, value)
        elif value is not _ABSENT:
            copy[head] = _with({}, rest, value)
    elif value is _ABSENT:
        copy.pop(head, None)
    else:
        copy[head] = value
    return copy
