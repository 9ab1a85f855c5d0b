"""How a catalogue of change messages is written: one function per message key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_SUMMARY = 120
"""The longest summary of a change, in characters."""

Params = Mapping[str, Any]
Render = Callable[[Params], str]


@dataclass(frozen=True)
class Say:
    """How one message is said, with an example of its parameters (rendered by the tests)."""

    render: Render
    example: dict[str, Any]
    clipped: bool = True
    """Whether the whole text is clipped to :data:`MAX_SUMMARY` at the end."""


def sayings() -> tuple[dict[str, Say], Callable[..., Callable[[Render], Render]]]:
    """A new catalogue part and the decorator that adds a message to it."""
    part: dict[str, Say] = {}

    def says(
        key: str, example: dict[str, Any], *, clipped: bool = True
    ) -> Callable[[Render], Render]:
        def add(render: Render) -> Render:
            if key in part:
                raise ValueError(f"message {key!r} is said twice")
            part[key] = Say(render, example, clipped)
            return render

        return add

    return part, says


def from_to(title: str, old_text: str, new_text: str, old_missing: bool) -> str:
    """``"Title: old → new"``, or ``"Title: new"`` when there was no old value."""
    if old_missing:
        return f"{title}: {new_text}"
    return f"{title}: {old_text} → {new_text}"
