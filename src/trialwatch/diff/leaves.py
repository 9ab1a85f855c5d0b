"""Raw field-level differences of two JSON records, leaf by leaf (for ``trialwatch diff``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_MISSING = object()


def leaf_differences(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(path, old, new)`` for every leaf that differs; absent values are None.

    Dicts are compared key by key and lists index by index, so this is the literal
    difference; :func:`trialwatch.diff.diff_records` is the one that understands
    reordering and explains.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            yield from _pair(old.get(key, _MISSING), new.get(key, _MISSING), _join(path, key))
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            yield from _pair(
                old[index] if index < len(old) else _MISSING,
                new[index] if index < len(new) else _MISSING,
                f"{path}[{index}]",
            )
    elif old != new or type(old) is not type(new):
        yield path, old, new


def _pair(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if old is _MISSING:
        yield path, None, new
    elif new is _MISSING:
        yield path, old, None
    else:
        yield from leaf_differences(old, new, path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
