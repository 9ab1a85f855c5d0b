"""Changes in lists whose order means nothing: keyed lists of dicts and sets of codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trialwatch.diff.keys import Labeller, item_field, keyed, same_multiset
from trialwatch.diff.labels import MAX_SUMMARY, clip, intervention_type_words, join_words
from trialwatch.diff.model import Change
from trialwatch.diff.pairing import Score, pair_up

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
    """How one keyed list speaks of its items: a noun (also the kind prefix) and a name.

    ``score`` finds an item whose key changed among those added and removed (see
    :func:`~trialwatch.diff.pairing.pair_up`); ``edited`` says what changed about an
    item that stayed (else "<Noun> updated: <name>"); ``renamed`` gives the kind and
    summary of an item found again under a new key (else it reads as ``edited``).
    """

    noun: str
    describe: Callable[[Item], str]
    added: Callable[[Item], str] | None = None
    """The summary of an item added (else "New <noun>: <name>")."""
    removed: Callable[[Item], str] | None = None
    """The summary of an item removed (else "<Noun> removed: <name>")."""
    score: Score | None = None
    edited: Callable[[Item, Item], str | None] | None = None
    renamed: Callable[[Item, Item], tuple[str, str]] | None = None

    def changed(self, before: Item, after: Item) -> str:
        """The summary of an item that stayed on the list with other details."""
        found = self.edited(before, after) if self.edited is not None else None
        return found or f"{self.noun.capitalize()} updated: {self.describe(after)}"


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


def _renamed_intervention(before: Item, after: Item) -> tuple[str, str]:
    old, new = (clip(str(item.get("name") or "unnamed"), 50) for item in (before, after))
    return "intervention_renamed", f"Intervention renamed: {old} → {new}"


def _other_names(item: Item) -> list[str]:
    other = item.get("otherNames")
    return [" ".join(str(name).split()) for name in other] if isinstance(other, list) else []


def _intervention_edited(before: Item, after: Item) -> str | None:
    """``"ARGX-117: also known as empasiprubart"`` when its other names changed."""
    old, new = _other_names(before), _other_names(after)
    gained = [name for name in new if name.casefold() not in {n.casefold() for n in old}]
    lost = [name for name in old if name.casefold() not in {n.casefold() for n in new}]
    parts = []
    if gained:
        parts.append("also known as " + join_words(gained, 60))
    if lost:
        parts.append("no longer also known as " + join_words(lost, 60))
    if not parts:
        return None
    return f"{clip(str(after.get('name') or 'unnamed'), 50)}: {'; '.join(parts)}"


ARMS = ItemNouns("arm", _quoted("label"))
INTERVENTIONS = ItemNouns(
    "intervention",
    _intervention,
    score=_same_drug,
    edited=_intervention_edited,
    renamed=_renamed_intervention,
)
COLLABORATORS = ItemNouns("collaborator", _plain("name"))


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
    noun = nouns.noun.capitalize()
    added = nouns.added or (lambda item: f"New {nouns.noun}: {nouns.describe(item)}")
    removed = nouns.removed or (lambda item: f"{noun} removed: {nouns.describe(item)}")
    changes = [
        Change(
            f"{nouns.noun}_added",
            item_field(path, label),
            None,
            item,
            clip(added(item), MAX_SUMMARY),
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
            clip(removed(item), MAX_SUMMARY),
            "minor",
        )
        for label, item in matched.removed
    ]
    for label, before, after in [*matched.changed, *pairs]:
        kind, summary = f"{nouns.noun}_changed", nouns.changed(before, after)
        if nouns.renamed is not None and (label, before, after) in pairs:
            kind, summary = nouns.renamed(before, after)
        field = item_field(path, label)
        changes.append(Change(kind, field, before, after, clip(summary, MAX_SUMMARY), "minor"))
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
