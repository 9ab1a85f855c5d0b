"""Raw leaf differences between two records (what `trialwatch diff` lists)."""

from __future__ import annotations

import copy

from trialwatch.diff.leaves import leaf_differences


def test_leaf_differences_lists_every_changed_leaf() -> None:
    """Changed, added and removed leaves are listed with their paths."""
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": True}
    new = {"a": {"b": 2, "c": [1, 2, 3]}, "added": "x"}
    assert list(leaf_differences(old, new)) == [
        ("a.b", 1, 2),
        ("a.c[2]", None, 3),
        ("added", None, "x"),
        ("gone", True, None),
    ]
    assert list(leaf_differences(old, copy.deepcopy(old))) == []
    assert list(leaf_differences({"n": 1}, {"n": 1.0})) == [("n", 1, 1.0)]
