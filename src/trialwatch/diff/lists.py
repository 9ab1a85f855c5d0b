"""Changes in lists whose order means nothing: keyed lists of dicts and sets of codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trialwatch.diff.keys import Labeller, item_field, keyed, same_multiset
from trialwatch.diff.labels import MAX_SUMMARY, clip, intervention_type_words, join_words
from trialwatch.diff.model import Change

Item = Mapping[str, Any]


@dataclass
class Matched:
    """Items of two keyed lists matched by key, each list sorted by key."""

    added: list[tuple[str, Item]] = field(default_factory=list)
    removed: list[tuple[str, Item]] = field(default_factory=list)
    changed: list[tuple[str, Item, Item]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def match(old: Any, new: Any, labeller: Labeller) -> Matched | None:
    """Match the items of two keyed lists (absent = empty).

    ``None`` when either value is not a list of dicts: the caller then reports the
    difference as an ``other`` change rather than guess.
    """
    if not isinstance(old, list | None) or not isinstance(new, list | None):
        return None
    old_index = keyed(old or [], labeller)
    new_index = keyed(new or [], labeller)
    if old_index is None or new_index is None:
        return None
    old_keys, new_keys = old_index.keys(), new_index.keys()
    matched = Matched(
        added=[new_index[key] for key in sorted(new_keys - old_keys)],
        removed=[old_index[key] for key in sorted(old_keys - new_keys)],
    )
    for key in sorted(key for key in new_keys & old_keys if old_index[key][1] != new_index[key][1]):
        matched.changed.append((new_index[key][0], old_index[key][1], new_index[key][1]))
    return matched


def is_equivalent(old: Any, new: Any) -> bool:
    """Whether two list values differ only in order (both must be lists)."""
    return isinstance(old, list) and isinstance(new, list) and same_multiset(old, new)


@dataclass(frozen=True)
class ItemNouns:
    """How one keyed list speaks of its items: a noun (also the kind prefix) and a name."""

    noun: str
    describe: Callable[[Item], str]


def _quoted(name_key: str) -> Callable[[Item], str]:
    def describe(item: Item) -> str:
        return f'"{clip(str(item.get(name_key) or ""), 70)}"'

    return describe


def _plain(*keys: str) -> Callable[[Item], str]:
    def describe(item: Item) -> str:
        for key in keys:
            if item.get(key):
                return clip(str(item[key]), 70)
        return "unnamed"

    return describe


def _intervention(item: Item) -> str:
    name = clip(str(item.get("name") or "unnamed"), 70)
    if item.get("type") is None:
        return name
    return f"{name} ({intervention_type_words(item['type'])})"


ARMS = ItemNouns("arm", _quoted("label"))
INTERVENTIONS = ItemNouns("intervention", _intervention)
COLLABORATORS = ItemNouns("collaborator", _plain("name"))
CONTACTS = ItemNouns("contact", _plain("name", "email", "phone"))


def item_changes(
    path: str, old: Any, new: Any, labeller: Labeller, nouns: ItemNouns
) -> list[Change] | None:
    """One minor change per item added, removed or changed (arms, interventions, ...)."""
    matched = match(old, new, labeller)
    if not matched:
        return [] if is_equivalent(old, new) else None
    noun = nouns.noun.capitalize()
    changes = [
        Change(
            f"{nouns.noun}_added",
            item_field(path, label),
            None,
            item,
            f"New {nouns.noun}: {nouns.describe(item)}",
            "minor",
        )
        for label, item in matched.added
    ]
    changes += [
        Change(
            f"{nouns.noun}_removed",
            item_field(path, label),
            item,
            None,
            f"{noun} removed: {nouns.describe(item)}",
            "minor",
        )
        for label, item in matched.removed
    ]
    changes += [
        Change(
            f"{nouns.noun}_changed",
            item_field(path, label),
            before,
            after,
            f"{noun} updated: {nouns.describe(after)}",
            "minor",
        )
        for label, before, after in matched.changed
    ]
    return changes


def set_change(
    path: str, old: Any, new: Any, *, kind: str, title: str, words: Callable[[Any], str]
) -> list[Change] | None:
    """A change for a list of codes compared as a set (phases, age groups)."""
    if is_equivalent(old, new):
        return []
    summary = f"{title}: {words(old)} → {words(new)}"
    return [Change(kind, path, old, new, clip(summary, MAX_SUMMARY), "minor")]


def conditions_change(path: str, old: Any, new: Any) -> list[Change] | None:
    """Conditions added and removed, as one minor change."""
    if is_equivalent(old, new):
        return []
    before = [str(c) for c in old] if isinstance(old, list) else []
    after = [str(c) for c in new] if isinstance(new, list) else []
    added = [c for c in after if c not in before]
    removed = [c for c in before if c not in after]
    parts = []
    if added:
        parts.append("added " + join_words(added, 50))
    if removed:
        parts.append("removed " + join_words(removed, 50))
    summary = "Conditions: " + "; ".join(parts) if parts else "Conditions updated"
    return [Change("conditions", path, old, new, clip(summary, MAX_SUMMARY), "minor")]
