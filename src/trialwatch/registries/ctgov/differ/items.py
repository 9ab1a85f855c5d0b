"""Arms, interventions and collaborators of a ClinicalTrials.gov record, as keyed lists.

An intervention whose name changed is found again by its type and a name in
common (its name or one of its ``otherNames``): "Intervention renamed".
"""

from __future__ import annotations

from typing import Any

from trialwatch.diff.lists import Item, ItemNouns, Said


def _arm(item: Item) -> dict[str, Any]:
    return {"label": item.get("label")}


def _collaborator(item: Item) -> dict[str, Any]:
    return {"name": item.get("name")}


def _intervention(item: Item) -> dict[str, Any]:
    return {"name": item.get("name"), "type": item.get("type")}


def _names(item: Item) -> set[str]:
    other = item.get("otherNames")
    names = [str(name) for name in other] if isinstance(other, list) else []
    return {" ".join(name.split()).casefold() for name in [*names, str(item.get("name") or "")]}


def _same_drug(old: Item, new: Item) -> float | None:
    """The same type and a name in common (the name or another name): a renamed intervention."""
    if old.get("type") != new.get("type"):
        return None
    shared = len((_names(old) & _names(new)) - {""})
    return float(shared) if shared else None


def _renamed_intervention(before: Item, after: Item) -> tuple[str, Said]:
    params = {"from": before.get("name"), "to": after.get("name")}
    return "intervention_renamed", ("intervention_renamed", params)


def _other_names(item: Item) -> list[str]:
    other = item.get("otherNames")
    return [" ".join(str(name).split()) for name in other] if isinstance(other, list) else []


def _intervention_edited(before: Item, after: Item) -> Said | None:
    """Its other names gained and lost: "ARGX-117: also known as empasiprubart"."""
    old, new = _other_names(before), _other_names(after)
    gained = [name for name in new if name.casefold() not in {n.casefold() for n in old}]
    lost = [name for name in old if name.casefold() not in {n.casefold() for n in new}]
    if not gained and not lost:
        return None
    params = {"name": after.get("name"), "gained": gained, "lost": lost}
    return "intervention_names_changed", params


ARMS = ItemNouns("arm", _arm)
INTERVENTIONS = ItemNouns(
    "intervention",
    _intervention,
    score=_same_drug,
    edited=_intervention_edited,
    renamed=_renamed_intervention,
)
COLLABORATORS = ItemNouns("collaborator", _collaborator)
