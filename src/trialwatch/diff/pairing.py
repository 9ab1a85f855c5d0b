"""Pair the items left over after matching two lists by key: added with removed.

An item whose key fields were edited (a facility's name corrected, an intervention
renamed, a contact's new name) leaves its list under its old key and comes back
under a new one. :func:`pair_up` finds such pairs among the leftovers with a
scoring function and keeps only the unambiguous ones: a removed item and an
added item are paired when each is the other's single best candidate. Anything
less certain stays an addition and a removal, which is never wrong, whereas a
wrong pairing would report one site's (or drug's) change as another's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

Item = Mapping[str, Any]
Labelled = tuple[str, Item]
Score = Callable[[Item, Item], float | None]
"""How alike a removed and an added item are (higher is closer); ``None``: not a candidate."""

MAX_PAIRS = 250_000
"""Past this many removed x added comparisons nothing is paired (a wholesale list swap)."""

Bucket = Callable[[Item], Hashable]
"""Only items in the same bucket are compared (a cheap necessary condition of a score)."""


def pair_up(
    removed: list[Labelled], added: list[Labelled], score: Score, bucket: Bucket | None = None
) -> tuple[list[tuple[str, Item, Item]], list[Labelled], list[Labelled]]:
    """``(pairs, removed left, added left)``; a pair is ``(new label, old item, new item)``.

    Each input keeps its order in what is left; pairs follow the order of ``added``.
    """
    if not removed or not added:
        return [], removed, added
    olds: dict[Hashable, list[int]] = {}
    news: dict[Hashable, list[int]] = {}
    for i, (_, old) in enumerate(removed):
        olds.setdefault(None if bucket is None else bucket(old), []).append(i)
    for j, (_, new) in enumerate(added):
        news.setdefault(None if bucket is None else bucket(new), []).append(j)
    shared = olds.keys() & news.keys()
    if sum(len(olds[key]) * len(news[key]) for key in shared) > MAX_PAIRS:
        return [], removed, added
    best_old: dict[int, tuple[float, int, bool]] = {}  # added index -> (score, removed, tie)
    best_new: dict[int, tuple[float, int, bool]] = {}  # removed index -> (score, added, tie)
    for key in shared:
        for i in olds[key]:
            for j in news[key]:
                found = score(removed[i][1], added[j][1])
                if found is None:
                    continue
                _keep_best(best_new, i, found, j)
                _keep_best(best_old, j, found, i)
    pairs: list[tuple[str, Item, Item]] = []
    taken_old: set[int] = set()
    taken_new: set[int] = set()
    for j, (value, i, tie) in sorted(best_old.items()):
        mine = best_new[i]
        if tie or mine[2] or mine[1] != j or mine[0] != value:
            continue
        pairs.append((added[j][0], removed[i][1], added[j][1]))
        taken_old.add(i)
        taken_new.add(j)
    return (
        pairs,
        [entry for i, entry in enumerate(removed) if i not in taken_old],
        [entry for j, entry in enumerate(added) if j not in taken_new],
    )


def _keep_best(best: dict[int, tuple[float, int, bool]], at: int, value: float, other: int) -> None:
    """Record ``other`` as ``at``'s best candidate if it beats the one held; mark ties."""
    held = best.get(at)
    if held is None or value > held[0]:
        best[at] = (value, other, False)
    elif value == held[0]:
        best[at] = (value, held[1], True)
