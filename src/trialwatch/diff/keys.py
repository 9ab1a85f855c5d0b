"""Stable keys for list items, and the field paths that name them.

Lists whose order means nothing (sites, arms, interventions, collaborators,
contacts) are matched by a key made from the item, not by position. The key also
names the item in a change's ``field``, after the list's path:
``...locations[Leiden University Medical Center|Leiden|Netherlands]``. A site is
keyed here (:func:`site_label`); a registry's differ keys its other lists.

A label is the item's key fields with whitespace collapsed, empty parts left
out, joined by ``|``; matching ignores case. Items that share a label are told
apart deterministically, whatever their order in the list: they are sorted by
their content and the second gets ``#2``, the third ``#3`` (skipping any label
another item already has).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import chain, repeat
from typing import Any

import orjson

Labeller = Callable[[Mapping[str, Any]], str]
Keyed = dict[str, tuple[str, Mapping[str, Any]]]
"""Item key (label casefolded) -> (label as shown, item)."""

_SITE_FIELDS = ("facility", "city", "state", "zip", "country")


def part(value: Any) -> str:
    """One part of a label: the value as text, whitespace collapsed; ``""`` for ``None``."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def join_parts(*parts: Any) -> str:
    """The non-empty parts of a label joined by ``|``."""
    return "|".join(text for text in map(part, parts) if text)


def site_label(site: Mapping[str, Any]) -> str:
    """Facility, city, state, zip and country; the geo point when all are empty."""
    label = join_parts(*(site.get(name) for name in _SITE_FIELDS))
    if label:
        return label
    point = site.get("geoPoint")
    if isinstance(point, Mapping):
        return join_parts(point.get("lat"), point.get("lon"))
    return ""


def _clean_site_labels(sites: list[dict[str, Any]]) -> list[str] | None:
    """:func:`site_label` of every site in a few C-level passes, or ``None`` if unsure.

    Applies when every part is a string or absent and no part needs whitespace
    clean-up (``str.isprintable`` is false for every whitespace but the plain
    space), which is what the registry sends; a 437-site list then costs about a
    tenth of labelling site by site.
    """
    columns = [list(map(dict.get, sites, repeat(name))) for name in _SITE_FIELDS]
    if not set(map(type, chain.from_iterable(columns))) <= {str, type(None)}:
        return None
    labels = list(map("|".join, map(filter, repeat(None), zip(*columns, strict=True))))
    joined = "|".join(labels)
    clean = (
        all(labels)
        and joined.isprintable()
        and "  " not in joined
        and " |" not in joined
        and "| " not in joined
        and joined[0] != " "
        and joined[-1] != " "
    )
    return labels if clean else None


def canonical(value: Any) -> bytes:
    """Bytes equal for equal JSON values whatever their dict key order."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON (non-str keys, odd types): still deterministic
        return repr(value).encode()


def same_multiset(old: list[Any], new: list[Any]) -> bool:
    """Whether two lists hold the same items, in any order."""
    if len(old) != len(new):
        return False
    return sorted(old, key=canonical) == sorted(new, key=canonical)


def keyed(items: list[Any], labeller: Labeller) -> Keyed | None:
    """Index ``items`` by key; ``None`` when an item is not a dict."""
    if not items:
        return {}
    labels: list[str] | None = None
    if set(map(type, items)) == {dict}:
        if labeller is site_label:
            labels = _clean_site_labels(items)
    elif not all(isinstance(item, Mapping) for item in items):
        return None
    if labels is None:
        labels = list(map(labeller, items))
    keys = list(map(str.casefold, labels))
    out: Keyed = dict(zip(keys, zip(labels, items, strict=True), strict=True))
    if len(out) < len(items):
        _number_duplicates(out, keys, labels, items)
    return out


def _number_duplicates(
    out: Keyed, keys: list[str], labels: list[str], items: list[Mapping[str, Any]]
) -> None:
    """Give the second and later items of a shared key their ``#n`` labels, by content order."""
    shared: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for key, label, item in zip(keys, labels, items, strict=True):
        shared.setdefault(key, []).append((label, item))
    natural = set(out)
    for key, members in shared.items():
        if len(members) == 1:
            continue
        members.sort(key=lambda member: canonical(member[1]))
        out[key] = members[0]
        number = 2
        for label, item in members[1:]:
            while f"{key}#{number}" in natural:
                number += 1
            out[f"{key}#{number}"] = (f"{label}#{number}", item)
            number += 1


def item_field(list_path: str, label: str) -> str:
    """The field path of one keyed item: ``<list path>[<label>]``."""
    return f"{list_path}[{label}]"


def safe_key(key: Any) -> bool:
    """Whether ``key`` can be a segment of a dotted field path."""
    return type(key) is str and key != "" and "." not in key and "[" not in key and "]" not in key
