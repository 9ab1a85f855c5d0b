"""The words of emails and of the pages that describe a subscription, in English.

What a template cannot say by itself: joining names ("A, B and C"), counting
("2 trials"), and the lines that describe what a confirmation link confirms (the
email and the page its link opens use the same lines, so what a person reads is
what the button confirms). Another locale is another table here, chosen by
``locale``; only English ships today, so every locale reads these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FREQUENCY_LABELS = {
    "immediate": "As soon as something changes",
    "daily": "Once a day",
    "weekly": "Once a week",
}
SIGNIFICANCE_LABELS = {
    "major": (
        "What a patient should know: new trials, status, results, sites opening,"
        " eligibility, expanded access, delays of 3 months or more"
    ),
    "minor": "Every change, small ones too (dates, contacts, wording)",
}


def and_join(names: Iterable[str]) -> str:
    """Join names as people write them: ``"A"``, ``"A and B"``, ``"A, B and C"``."""
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``"1 trial"`` or ``"2 trials"`` (``plural`` defaults to singular + "s")."""
    word = singular if count == 1 else (plural if plural is not None else singular + "s")
    return f"{count} {word}"


def describe_choices(choices: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    """Stored choices as lines a person reads; ``names`` maps watchlist slugs to names."""
    slugs = choices.get("watchlists") or ()
    frequency = str(choices.get("frequency") or "daily")
    significance = str(choices.get("significance") or "major")
    lines = [
        "Watchlists: " + "; ".join(names.get(slug, slug) for slug in slugs),
        "How often: " + FREQUENCY_LABELS.get(frequency, frequency),
        "Which changes: " + SIGNIFICANCE_LABELS.get(significance, significance),
    ]
    where = []
    if choices.get("countries"):
        where.append("sites in " + ", ".join(choices["countries"]))
    near = choices.get("near")
    if isinstance(near, dict):
        where.append(f"sites within {float(near['within_km']):g} km of {near['label']}")
    lines.append("Where: " + ("; ".join(where) if where else "anywhere"))
    if choices.get("kinds"):
        lines.append("Only these changes: " + ", ".join(choices["kinds"]))
    return lines
