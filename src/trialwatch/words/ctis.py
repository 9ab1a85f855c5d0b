"""EU CTIS's public trial statuses in English, and what each means to a patient.

CTIS gives a trial, and each country it runs in, one of twelve public status codes
(the search's ``ctStatus`` and ``trialCountries``, the retrieve's
``ctPublicStatusCode`` and ``memberStatesConcerned[].mscPublicStatusCode``).
:data:`STATUS_LABELS` holds the portal's own label of each code, which the 2024 API
also sent as text (``"BE: Ongoing, recruiting"``); :data:`STATUS_EXPLANATIONS` says
each in plain words, as :mod:`.digest` does for ClinicalTrials.gov's statuses.

The code table is the portal's (two independent readings agree: Gregory's, from the
portal's own option list, and ctrdata's). "Suspended" is the same word as
ClinicalTrials.gov's and is written once, in :mod:`.terms`
(``test_the_status_words_are_written_once``).

>>> status_words(5)
'Ongoing, recruitment ended'
>>> status_words(42)
'Status 42'

Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from trialwatch.words.terms import NOT_GIVEN, STATUS_WORDS

STATUS_LABELS: Mapping[int, str] = MappingProxyType(
    {
        1: "Under evaluation",
        2: "Authorised, recruitment pending",
        3: "Authorised, recruiting",
        4: "Ongoing, recruiting",
        5: "Ongoing, recruitment ended",
        6: "Temporarily halted",
        7: STATUS_WORDS["SUSPENDED"],
        8: "Ended",
        9: "Expired",
        10: "Revoked",
        11: "Not authorised",
        12: "Cancelled",
    }
)
"""Every CTIS public status code and the portal's label, in the order of a trial's life."""

STATUS_EXPLANATIONS: Mapping[int, str] = MappingProxyType(
    {
        1: (
            "The sponsor has asked to run the trial and the authorities are"
            " assessing the request; it has not started."
        ),
        2: "Authorised, but not looking for participants yet.",
        3: "Authorised and looking for participants.",
        4: "Going on and looking for participants now.",
        5: (
            "Going on: participants are being treated or followed up, but no new"
            " participants are being taken."
        ),
        6: "Paused by the sponsor; it may start again.",
        7: "Paused by the authorities of a country; it may start again.",
        8: "Over: participants are no longer being treated or examined.",
        9: (
            "The authorisation lapsed because nobody joined the trial within two"
            " years of it; the trial will not take place."
        ),
        10: "The authorities withdrew their authorisation; the trial will not go on.",
        11: "The authorities did not authorise the trial; it will not take place.",
        12: "The trial was cancelled; it will not go on.",
    }
)
"""Each status in plain words, for readers who are not researchers."""

CRITERIA_HEADINGS: Mapping[str, str] = MappingProxyType(
    {"inclusion": "Inclusion Criteria:", "exclusion": "Exclusion Criteria:"}
)
"""The headings of CTIS's principal criteria when they are joined into one text, as
ClinicalTrials.gov registrants write theirs (so both read alike, line by line)."""


def status_code(value: Any) -> int | None:
    """The public status code of ``value``: a code (int or digits) or a label; else None.

    >>> status_code("Ongoing, recruiting"), status_code("4"), status_code("Authorised")
    (4, 4, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if text.isdigit():
        return int(text)
    return _BY_LABEL.get(text.casefold())


_BY_LABEL: Mapping[str, int] = {label.casefold(): code for code, label in STATUS_LABELS.items()}


def status_words(code: Any) -> str:
    """The label of a public status code; an unknown code reads ``"Status 42"``.

    Text that is no label (the application status ``"Authorised"``) is said as it is.
    """
    known = status_code(code)
    if known is not None:
        return STATUS_LABELS.get(known, f"Status {known}")
    if isinstance(code, str) and code.strip():
        return " ".join(code.split())
    return NOT_GIVEN


def status_explanation(code: Any) -> str | None:
    """What a public status means, in plain words; None for a code CTIS added since."""
    known = status_code(code)
    return STATUS_EXPLANATIONS.get(known) if known is not None else None
