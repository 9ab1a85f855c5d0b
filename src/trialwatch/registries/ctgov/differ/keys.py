"""The keys of ClinicalTrials.gov's keyed lists, and the field paths that name their items.

Each list whose order means nothing is keyed by a labeller (see
:mod:`trialwatch.diff.keys`): sites by place, interventions by type and name, arms
by label, sponsors and officials by name, contacts by name (else e-mail, else
phone), outcomes by measure, references by PubMed ID (else citation), documents by
file name (else label). :func:`value_at` resolves a change's ``field`` in a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import Labeller, join_parts, keyed, part, site_label


def intervention_label(item: Mapping[str, Any]) -> str:
    """Type and name: ``DRUG|ARGX-117``."""
    return join_parts(item.get("type"), item.get("name"))


def arm_label(item: Mapping[str, Any]) -> str:
    """The arm group's label."""
    return part(item.get("label"))


def sponsor_label(item: Mapping[str, Any]) -> str:
    """The collaborator's name."""
    return part(item.get("name"))


def contact_label(item: Mapping[str, Any]) -> str:
    """The contact's name, else e-mail, else phone."""
    return part(item.get("name")) or part(item.get("email")) or part(item.get("phone"))


def official_label(item: Mapping[str, Any]) -> str:
    """The official's name."""
    return part(item.get("name"))


def outcome_label(item: Mapping[str, Any]) -> str:
    """The outcome's measure."""
    return part(item.get("measure"))


def reference_label(item: Mapping[str, Any]) -> str:
    """The reference's PubMed ID, else its citation."""
    return part(item.get("pmid")) or part(item.get("citation"))


def document_label(item: Mapping[str, Any]) -> str:
    """The document's file name, else its label."""
    return part(item.get("filename")) or part(item.get("label"))


LABELLERS: Mapping[str, Labeller] = {
    "locations": site_label,
    "interventions": intervention_label,
    "armGroups": arm_label,
    "collaborators": sponsor_label,
    "centralContacts": contact_label,
    "overallOfficials": official_label,
    "primaryOutcomes": outcome_label,
    "secondaryOutcomes": outcome_label,
    "references": reference_label,
    "largeDocs": document_label,
}
"""The keyed lists of dicts, by their key in the record."""


def value_at(record: Mapping[str, Any] | None, field: str) -> Any:
    """The value a change's ``field`` names in ``record``; ``None`` where absent.

    ``""`` names the whole record; a path ending in ``[label]`` names an item of a
    keyed list (see :mod:`trialwatch.diff.keys`).

    >>> value_at({"a": {"b": [{"label": "X"}]}}, "a.b")
    [{'label': 'X'}]
    >>> value_at({"protocolSection": {"armsInterventionsModule": {"armGroups": [{"label": "X"}]}}},
    ...          "protocolSection.armsInterventionsModule.armGroups[x]")
    {'label': 'X'}
    """
    if field == "":
        return record
    label = None
    if field.endswith("]") and "[" in field:
        cut = field.index("[")
        field, label = field[:cut], field[cut + 1 : -1]
    value: Any = record
    for name in field.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    if label is None:
        return value
    labeller = LABELLERS.get(field.rsplit(".", 1)[-1])
    if labeller is None or not isinstance(value, list):
        return None
    index = keyed(value, labeller)
    entry = index.get(label.casefold()) if index is not None else None
    return entry[1] if entry is not None else None
