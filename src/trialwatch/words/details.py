"""The words of a digest's trial details: the facts under a new trial, a contact's phone.

``digest.details`` decides what a digest says (which facts, which sites, which
contacts); this module says it. English only for now: another locale is another
set of these sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

WHERE = "Where"
WHO = "Who can take part"
PHASE = "Phase"
ENROLLMENT = "Enrollment"
FIRST_POSTED = "First posted"
"""The labels of the facts under a new trial, in their order."""

SEE_THE_RESULTS = "See the results"
"""The text of the link under "results posted"."""

_SEX_WORDS = {
    "ALL": "all sexes",
    "FEMALE": "female participants only",
    "MALE": "male participants only",
}


def phone(number: str | None, extension: str | None) -> str | None:
    """A phone number with its extension, as dialled.

    Some registrants put the country code in the extension: it goes in front.
    """
    if not (number and extension):
        return number
    return f"{extension} {number}" if extension.startswith("+") else f"{number} ext. {extension}"


def _age_range(low: str, high: str) -> str:
    """Ages in words (``"18 years"``, ``""`` when there is none) as one range."""
    if low and high:
        low_n, _, low_unit = low.partition(" ")
        same_unit = low_unit.rstrip("s") == high.partition(" ")[2].rstrip("s")
        return f"{low_n} to {high}" if same_unit else f"{low} to {high}"
    if low:
        return f"{low} and older"
    return f"up to {high}" if high else "any age"


def who(low: str, high: str, sex: str | None) -> str:
    """``"18 to 65 years, female participants only"``; ``"Any age"``.

    ``low`` and ``high`` are the ages in words, ``""`` when the registry gives none;
    ``sex`` is ``"ALL"``, ``"FEMALE"``, ``"MALE"`` or None.
    """
    text = _age_range(low, high)
    if sex is not None:
        text += ", " + _SEX_WORDS.get(sex, sex.replace("_", " ").lower())
    return text[0].upper() + text[1:]


def where(countries: Sequence[str], more: int, sites: int) -> str:
    """``"France, Spain and 2 more countries (9 sites)"``: the countries named, then how
    many more there are, then the number of sites."""
    names = list(countries)
    if more:
        names.append(f"{more} more {'country' if more == 1 else 'countries'}")
    words = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{words} ({sites} site{'' if sites == 1 else 's'})"


def participants(count: int, kind: str) -> str:
    """``"400 participants (expected)"``; ``kind`` is the type in words, ``""`` if none."""
    size = f"{count} participant{'' if count == 1 else 's'}"
    return f"{size} ({kind})" if kind else size


def day(value: date) -> str:
    """``"14 December 2023"``."""
    return f"{value.day} {value:%B %Y}"
