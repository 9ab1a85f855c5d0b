"""Changes in lists whose order means nothing: keyed lists of dicts and sets of codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trialwatch.diff.keys import Labeller, item_field, keyed, same_multiset
from trialwatch.diff.model import Change, said
from trialwatch.diff.pairing import Score, pair_up

Item = Mapping[str, Any]
Said = tuple[str, dict[str, Any]]
"""A message key and its parameters."""


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
    """How one keyed list speaks of its items: a noun and what names an item.

    The noun is the prefix of the kinds (``<noun>_added``, ``<noun>_removed``,
    ``<noun>_changed``) and of the messages of an item added, removed or updated
    (``<noun>_updated``), whose parameters are ``params(item)``. ``score`` finds an
    item whose key changed among those added and removed (see
    :func:`~trialwatch.diff.pairing.pair_up`); ``edited`` says what changed about an
    item that stayed (else ``<noun>_updated``); ``renamed`` gives the kind and
    message of an item found again under a new key (else it reads as ``edited``).
    """

    noun: str
    params: Callable[[Item], dict[str, Any]]
    score: Score | None = None
    edited: Callable[[Item, Item], Said | None] | None = None
    renamed: Callable[[Item, Item], tuple[str, Said]] | None = None

    def changed(self, before: Item, after: Item) -> Said:
        """The message of an item that stayed on the list with other details."""
        found = self.edited(before, after) if self.edited is not None else None
        return found or (f"{self.noun}_updated", self.params(after))


def item_changes(
    path: str, old: Any, new: Any, labeller: Labeller, nouns: ItemNouns
) -> list[Change] | None:
    """One minor change per item added, removed or changed (arms, interventions, ...)."""
    matched = match(old, new, labeller)
    if not matched:
        return [] if is_equivalent(old, new) else None
    pairs: list[tuple[str, Item, Item]] = []
    if nouns.score is not None:
        pairs, matched.removed, matched.added = pair_up(matched.removed, matched.added, nouns.score)
    added, removed = f"{nouns.noun}_added", f"{nouns.noun}_removed"
    changes = [
        said(added, item_field(path, label), None, item, added, nouns.params(item), "minor")
        for label, item in matched.added
    ]
    changes += [
        said(removed, item_field(path, label), item, None, removed, nouns.params(item), "minor")
        for label, item in matched.removed
    ]
    for label, before, after in [*matched.changed, *pairs]:
        kind, (message, params) = f"{nouns.noun}_changed", nouns.changed(before, after)
        if nouns.renamed is not None and (label, before, after) in pairs:
            kind, (message, params) = nouns.renamed(before, after)
        changes.append(said(kind, item_field(path, label), before, after, message, params, "minor"))
    return changes


def set_change(path: str, old: Any, new: Any, *, kind: str, message: str) -> list[Change] | None:
    """A change for a list of codes compared as a set (phases, age groups)."""
    if is_equivalent(old, new):
        return []
    return [said(kind, path, old, new, message, {"from": old, "to": new}, "minor")]


def conditions_change(path: str, old: Any, new: Any) -> list[Change] | None:
    """Conditions added and removed, as one minor change."""
    if is_equivalent(old, new):
        return []
    before = [str(c) for c in old] if isinstance(old, list) else []
    after = [str(c) for c in new] if isinstance(new, list) else []
    params = {
        "added": [c for c in after if c not in before],
        "removed": [c for c in before if c not in after],
    }
    return [said("conditions", path, old, new, "conditions_changed", params, "minor")]
