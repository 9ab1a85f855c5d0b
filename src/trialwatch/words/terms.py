"""Registry codes and partial dates in English words, and the rules for fitting text.

Pure and tolerant: a value these tables do not know (a new API enum, a malformed
record) is shown in a readable form made from the value itself, never an error.
Each status label is written here once (``test_the_status_words_are_written_once``).

>>> status_words("ACTIVE_NOT_RECRUITING")
'Active, not recruiting'
>>> phases_words(["PHASE3", "PHASE2"])
'Phase 2/Phase 3'
>>> date_words("2025-03-15")
'March 2025'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

NOT_GIVEN = "not given"

STATUS_WORDS: Mapping[str, str] = {
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}
"""Every overall status as ClinicalTrials.gov labels it, in the order of a study's life."""

PHASE_WORDS: Mapping[str, str] = {
    "NA": "Not applicable",
    "EARLY_PHASE1": "Early Phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
}

DATE_TYPE_WORDS: Mapping[str, str] = {"ESTIMATED": "expected", "ACTUAL": "actual"}

SEX_WORDS: Mapping[str, str] = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}

STD_AGE_WORDS: Mapping[str, str] = {
    "CHILD": "Child",
    "ADULT": "Adult",
    "OLDER_ADULT": "Older adult",
}

INTERVENTION_TYPE_WORDS: Mapping[str, str] = {
    "BEHAVIORAL": "behavioural",
    "BIOLOGICAL": "biological",
    "COMBINATION_PRODUCT": "combination product",
    "DEVICE": "device",
    "DIAGNOSTIC_TEST": "diagnostic test",
    "DIETARY_SUPPLEMENT": "dietary supplement",
    "DRUG": "drug",
    "GENETIC": "genetic",
    "PROCEDURE": "procedure",
    "RADIATION": "radiation",
    "OTHER": "other",
}

ROLE_WORDS: Mapping[str, str] = {
    "STUDY_CHAIR": "study chair",
    "STUDY_DIRECTOR": "study director",
    "PRINCIPAL_INVESTIGATOR": "principal investigator",
    "SUB_INVESTIGATOR": "sub-investigator",
    "CONTACT": "contact",
}

REGISTRY_WORDS: Mapping[str, str] = {"ctgov": "ClinicalTrials.gov", "ctis": "EU CTIS"}
"""Each registry by the name it goes by."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def clip(text: str, limit: int) -> str:
    """Return ``text``, cut to at most ``limit`` characters with "…" where it was cut.

    The cut falls between words when there is a space in the last third.

    >>> clip("Placebo-controlled study of ARGX-117", 26)
    'Placebo-controlled study…'
    """
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 0)]
    space = head.rfind(" ")
    if space >= len(head) * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:-") + "…"


def code_words(value: Any) -> str:
    """A readable form of a value no table knows: ``"NEW_THING"`` -> ``"New thing"``."""
    if value is None:
        return NOT_GIVEN
    return str(value).replace("_", " ").capitalize()


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _lookup(table: Mapping[str, str], value: Any) -> str:
    if _hashable(value) and value in table:
        return table[value]
    return code_words(value)


def status_words(status: Any) -> str:
    """``"RECRUITING"`` -> ``"Recruiting"``; ``None`` -> ``"not given"``."""
    return _lookup(STATUS_WORDS, status)


def status_label(code: str) -> str:
    """``"RECRUITING"`` -> ``"Recruiting"``; an unknown code is made readable."""
    return status_words(code)


def _listed(values: Any, table: Mapping[str, str], sep: str) -> str:
    """Codes in ``table`` order, in words; empty or absent -> ``"not given"``."""
    if not values:
        return NOT_GIVEN
    if not isinstance(values, list):
        return code_words(values)
    order = {code: index for index, code in enumerate(table)}
    ranked = sorted(values, key=lambda v: (order.get(v, len(order)) if _hashable(v) else 0, str(v)))
    return sep.join(_lookup(table, value) for value in ranked)


def phases_words(phases: Any) -> str:
    """``["PHASE3", "PHASE2"]`` -> ``"Phase 2/Phase 3"``; empty or absent -> ``"not given"``."""
    return _listed(phases, PHASE_WORDS, "/")


def std_ages_words(ages: Any) -> str:
    """``["ADULT", "CHILD"]`` -> ``"Child, Adult"``; empty or absent -> ``"not given"``."""
    return _listed(ages, STD_AGE_WORDS, ", ")


def sex_words(sex: Any) -> str:
    """``"FEMALE"`` -> ``"Female"``."""
    return _lookup(SEX_WORDS, sex)


def date_type_words(date_type: Any) -> str:
    """``"ESTIMATED"`` -> ``"expected"``, ``"ACTUAL"`` -> ``"actual"``, absent -> ``""``."""
    if date_type is None:
        return ""
    return _lookup(DATE_TYPE_WORDS, date_type).lower()


def intervention_type_words(kind: Any) -> str:
    """``"DIETARY_SUPPLEMENT"`` -> ``"dietary supplement"``."""
    return _lookup(INTERVENTION_TYPE_WORDS, kind).lower()


def role_words(role: Any) -> str:
    """``"PRINCIPAL_INVESTIGATOR"`` -> ``"principal investigator"``."""
    if isinstance(role, str) and role in ROLE_WORDS:
        return ROLE_WORDS[role]
    return str(role or "no role").replace("_", " ").lower()


def registry_words(registry: Any) -> str:
    """``"ctgov"`` -> ``"ClinicalTrials.gov"``."""
    return REGISTRY_WORDS.get(str(registry), str(registry))


def age_words(age: Any, missing: str) -> str:
    """``"18 Years"`` -> ``"18 years"``; absent -> ``missing``."""
    if age is None:
        return missing
    return str(age).lower()


def phone_words(phone: str, ext: str) -> str:
    """A phone as listed, with its extension: a leading ``+`` one is a country code."""
    if not ext:
        return phone
    if ext.startswith("+"):
        return f"{ext} {phone}".strip()
    return f"{phone} ext. {ext}".strip()


PARTIAL_DATE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])(?:-(\d\d))?")
"""``yyyy-MM`` or ``yyyy-MM-dd``: the dates a registry gives."""


def date_words(date: Any, *, with_day: bool = False) -> str:
    """A partial date (``yyyy``, ``yyyy-MM`` or ``yyyy-MM-dd``) as ``"March 2025"``.

    The day is dropped unless ``with_day`` (then ``"15 March 2025"``); a year alone,
    or text that is not such a date, is returned as it is.
    """
    if date is None:
        return NOT_GIVEN
    text = str(date)
    found = PARTIAL_DATE.fullmatch(text)
    if found is None:
        return text
    year, month, day = found.groups()
    words = f"{_MONTHS[int(month) - 1]} {year}"
    if with_day and day is not None:
        return f"{int(day)} {words}"
    return words


def and_more(count: int) -> str:
    """``"and 3 more"``: what stands for the items left out of a list."""
    return f"and {count} more"


def join_words(items: Iterable[str], limit: int, sep: str = ", ") -> str:
    """Join ``items`` with ``sep``, dropping the tail as "and N more" past ``limit`` characters."""
    items = list(items)
    for keep in range(len(items), 0, -1):
        text = sep.join(items[:keep])
        if keep < len(items):
            text += f" {and_more(len(items) - keep)}"
        if len(text) <= limit:
            return text
    return clip(f"{len(items)} items", limit)


def some_of(parts: list[str], limit: int, sep: str = "; ") -> str:
    """As many of ``parts`` as fit in ``limit`` characters, then ``"and N more"``.

    The first part is always shown, clipped if it must be.

    >>> some_of(["New exclusion: IVIg", "New exclusion: pregnancy"], 31)
    'New exclusion: IVIg; and 1 more'
    """
    for keep in range(len(parts), 0, -1):
        tail = f"{sep}{and_more(len(parts) - keep)}" if keep < len(parts) else ""
        text = sep.join(parts[:keep]) + tail
        if len(text) <= limit:
            return text
    tail = f"{sep}{and_more(len(parts) - 1)}" if len(parts) > 1 else ""
    return clip(parts[0], limit - len(tail)) + tail if parts else ""


def collapsed(value: Any) -> str:
    """``value`` as text with its whitespace runs made single spaces (falsy -> ``""``)."""
    return " ".join(str(value or "").split())
