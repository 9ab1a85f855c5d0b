"""Primary and secondary outcome measures added, removed or changed (``outcomesModule``).

An outcome is matched by its measure. When one outcome of a kind goes and one
comes in the same version, that is the outcome reworded or replaced: one
``outcome_changed`` change naming the new measure. A changed time frame is shown
("Primary outcome time frame: 12 weeks → 24 weeks"), with the measure when the
study lists more than one outcome of that kind. All minor.
"""

from __future__ import annotations

from typing import Any

from trialwatch.diff.keys import item_field
from trialwatch.diff.lists import Item, is_equivalent, match
from trialwatch.diff.model import Change, said
from trialwatch.registries.ctgov.differ.keys import outcome_label


def _text(item: Item, key: str) -> str:
    return " ".join(str(item.get(key) or "").split())


def _one(message: str, path: str, label: str, old: Any, new: Any, params: dict[str, Any]) -> Change:
    kind = "outcome_changed" if message not in ("outcome_added", "outcome_removed") else message
    return said(kind, item_field(path, label), old, new, message, params, "minor")


def _edited(which: str, before: Item, after: Item, many: bool) -> tuple[str, dict[str, Any]]:
    measure = _text(after, "measure")
    old_frame, new_frame = _text(before, "timeFrame"), _text(after, "timeFrame")
    if old_frame != new_frame:
        params: dict[str, Any] = {"which": which, "from": old_frame, "to": new_frame}
        if many:
            params["measure"] = measure
        return "outcome_time_frame_changed", params
    if _text(before, "measure") != measure:
        return "outcome_measure_changed", {"which": which, "measure": measure}
    return "outcome_description_updated", {"which": which, "measure": measure}


def outcome_changes(path: str, old: Any, new: Any, which: str) -> list[Change] | None:
    """Changes of one outcome list; ``which`` is ``"primary"`` or ``"secondary"``."""
    matched = match(old, new, outcome_label)
    if not matched:
        return [] if is_equivalent(old, new) else None
    if len(matched.added) == 1 and len(matched.removed) == 1:
        (label, after), (_, before) = matched.added[0], matched.removed[0]
        matched.changed.append((label, before, after))
        matched.added, matched.removed = [], []
    many = isinstance(new, list) and len(new) > 1
    changes = [
        _one("outcome_added", path, label, None, item, _measured(which, item))
        for label, item in matched.added
    ]
    changes += [
        _one("outcome_removed", path, label, item, None, _measured(which, item))
        for label, item in matched.removed
    ]
    for label, before, after in matched.changed:
        message, params = _edited(which, before, after, many)
        changes.append(_one(message, path, label, before, after, params))
    return changes


def _measured(which: str, item: Item) -> dict[str, Any]:
    return {"which": which, "measure": _text(item, "measure")}
