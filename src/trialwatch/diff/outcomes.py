"""Primary and secondary outcome measures added, removed or changed (``outcomesModule``).

An outcome is matched by its measure. When one outcome of a kind goes and one
comes in the same version, that is the outcome reworded or replaced: one
``outcome_changed`` change naming the new measure. A changed time frame is shown
("Primary outcome time frame: 12 weeks → 24 weeks"), with the measure when the
study lists more than one outcome of that kind. All minor.
"""

from __future__ import annotations

from typing import Any

from trialwatch.diff.keys import item_field, outcome_label
from trialwatch.diff.labels import MAX_SUMMARY, NOT_GIVEN, clip
from trialwatch.diff.lists import Item, is_equivalent, match
from trialwatch.diff.model import Change


def _text(item: Item, key: str) -> str:
    return " ".join(str(item.get(key) or "").split())


def _measure(item: Item, limit: int = 90) -> str:
    return clip(_text(item, "measure") or "unnamed", limit)


def _one(kind: str, path: str, label: str, old: Any, new: Any, summary: str) -> Change:
    return Change(kind, item_field(path, label), old, new, clip(summary, MAX_SUMMARY), "minor")


def _edited(title: str, before: Item, after: Item, many: bool) -> str:
    which = f" ({_measure(after, 50)})" if many else ""
    old_frame, new_frame = _text(before, "timeFrame"), _text(after, "timeFrame")
    if old_frame != new_frame:
        frames = f"{clip(old_frame or NOT_GIVEN, 40)} → {clip(new_frame or NOT_GIVEN, 40)}"
        return f"{title} time frame: {frames}{which}"
    if _text(before, "measure") != _text(after, "measure"):
        return f"{title} changed: {_measure(after)}"
    return f"{title} description updated: {_measure(after)}"


def outcome_changes(path: str, old: Any, new: Any, title: str) -> list[Change] | None:
    """Changes of one outcome list; ``title`` is "Primary outcome" or "Secondary outcome"."""
    matched = match(old, new, outcome_label)
    if not matched:
        return [] if is_equivalent(old, new) else None
    if len(matched.added) == 1 and len(matched.removed) == 1:
        (label, after), (_, before) = matched.added[0], matched.removed[0]
        matched.changed.append((label, before, after))
        matched.added, matched.removed = [], []
    many = isinstance(new, list) and len(new) > 1
    noun = title.lower()
    changes = [
        _one("outcome_added", path, label, None, item, f"New {noun}: {_measure(item)}")
        for label, item in matched.added
    ]
    changes += [
        _one("outcome_removed", path, label, item, None, f"{title} removed: {_measure(item)}")
        for label, item in matched.removed
    ]
    changes += [
        _one("outcome_changed", path, label, before, after, _edited(title, before, after, many))
        for label, before, after in matched.changed
    ]
    return changes
