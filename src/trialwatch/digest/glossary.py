"""Overall statuses of ClinicalTrials.gov in plain words.

:data:`STATUSES` maps every ``overallStatus`` value of the API to its label (as
ClinicalTrials.gov shows it) and a one-sentence explanation for readers who are
not researchers. The order is the order of a study's life, and is the order of
the glossary at the foot of a digest.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from trialwatch.digest.model import StatusInfo


def _entry(code: str, label: str, explanation: str) -> tuple[str, StatusInfo]:
    return code, StatusInfo(code=code, label=label, explanation=explanation)


STATUSES: Mapping[str, StatusInfo] = MappingProxyType(
    dict(
        [
            _entry(
                "NOT_YET_RECRUITING",
                "Not yet recruiting",
                "The study is planned but has not started looking for participants.",
            ),
            _entry(
                "RECRUITING",
                "Recruiting",
                "The study is looking for participants now.",
            ),
            _entry(
                "ENROLLING_BY_INVITATION",
                "Enrolling by invitation",
                "The study only takes people the researchers invite, for example from"
                " an earlier study; you cannot apply to join it.",
            ),
            _entry(
                "ACTIVE_NOT_RECRUITING",
                "Active, not recruiting",
                "The study is going on and its participants are being treated or"
                " followed up, but it is not taking new participants.",
            ),
            _entry(
                "SUSPENDED",
                "Suspended",
                "The study has paused early and may start again.",
            ),
            _entry(
                "TERMINATED",
                "Terminated",
                "The study stopped early and will not start again.",
            ),
            _entry(
                "COMPLETED",
                "Completed",
                "The study has ended as planned; results may be posted later.",
            ),
            _entry(
                "WITHDRAWN",
                "Withdrawn",
                "The study stopped before anyone took part in it.",
            ),
            _entry(
                "UNKNOWN",
                "Unknown status",
                "The study was open or about to open, but its expected end date has"
                " passed and nobody has updated its status for more than two years.",
            ),
            _entry(
                "AVAILABLE",
                "Available",
                "The treatment can be requested outside a trial (expanded access),"
                " usually through a treating doctor.",
            ),
            _entry(
                "NO_LONGER_AVAILABLE",
                "No longer available",
                "The treatment was available outside a trial but is not any more.",
            ),
            _entry(
                "TEMPORARILY_NOT_AVAILABLE",
                "Temporarily not available",
                "The treatment cannot be requested outside a trial right now, but"
                " should be again later.",
            ),
            _entry(
                "APPROVED_FOR_MARKETING",
                "Approved for marketing",
                "The treatment has been approved by the US Food and Drug"
                " Administration and can be prescribed.",
            ),
            _entry(
                "WITHHELD",
                "Withheld",
                "The sponsor has not made the availability of this treatment public.",
            ),
        ]
    )
)

# Longest label first, so "Not yet recruiting" wins over "Recruiting" at the same place.
_LABEL_RE = re.compile(
    r"(?<!\w)("
    + "|".join(re.escape(s.label) for s in sorted(STATUSES.values(), key=lambda s: -len(s.label)))
    + r")(?!\w)",
    re.IGNORECASE,
)
_CODE_BY_LABEL = {status.label.casefold(): code for code, status in STATUSES.items()}
_ORDER = {code: index for index, code in enumerate(STATUSES)}


def describe_status(code: str) -> StatusInfo:
    """Return the label and explanation of an ``overallStatus`` value.

    A value the glossary does not know gets a readable label made from the code
    and no explanation, so it is shown but left out of the glossary.
    """
    known = STATUSES.get(code)
    if known is not None:
        return known
    return StatusInfo(code=code, label=code.replace("_", " ").capitalize(), explanation=None)


@functools.lru_cache(maxsize=4096)  # the same summaries go to many subscribers
def statuses_named_in(text: str) -> tuple[str, ...]:
    """Return the codes of the status labels that occur in ``text``, in order of occurrence.

    >>> statuses_named_in("Status: Not yet recruiting → Recruiting")
    ('NOT_YET_RECRUITING', 'RECRUITING')
    """
    return tuple(_CODE_BY_LABEL[match.casefold()] for match in _LABEL_RE.findall(text))


def glossary_for(codes: Iterable[str]) -> tuple[StatusInfo, ...]:
    """Return the glossary entries for ``codes``: known statuses only, once each, in life order."""
    known = {code for code in codes if code in STATUSES}
    return tuple(STATUSES[code] for code in sorted(known, key=_ORDER.__getitem__))
