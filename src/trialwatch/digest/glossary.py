"""Statuses and registry terms of ClinicalTrials.gov in plain words.

The statuses, their labels and explanations are written once, in
:data:`trialwatch.vocab.STATUSES`, and the terms in :data:`trialwatch.vocab.TERMS`;
this module finds them in the text of a digest and orders them for the glossary
at its foot.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from trialwatch.vocab import STATUSES, TERMS, GlossaryTerm, StatusInfo, status_label

# Longest label first, so "Not yet recruiting" wins over "Recruiting" at the same place.
_LABEL_RE = re.compile(
    r"(?<!\w)("
    + "|".join(re.escape(s.label) for s in sorted(STATUSES.values(), key=lambda s: -len(s.label)))
    + r")(?!\w)",
    re.IGNORECASE,
)
_CODE_BY_LABEL = {status.label.casefold(): code for code, status in STATUSES.items()}
_ORDER = {code: index for index, code in enumerate(STATUSES)}

# How each term of TERMS shows in a digest's text (summaries, facts, titles).
_TERM_PATTERNS: dict[str, re.Pattern[str]] = {
    "phase": re.compile(r"\bphase\s*[1-4]\b", re.IGNORECASE),
    "enrollment": re.compile(r"\benrol?lment\b", re.IGNORECASE),
    "expected": re.compile(r"\b(?:expected|actual)\b", re.IGNORECASE),
    "primary_completion": re.compile(r"\bprimary completion\b", re.IGNORECASE),
    "eligibility": re.compile(r"\b(?:eligibility|inclusion|exclusion)\b", re.IGNORECASE),
    "results": re.compile(r"\bresults\b", re.IGNORECASE),
}


def describe_status(code: str) -> StatusInfo:
    """Return the label and explanation of an ``overallStatus`` value.

    A value the glossary does not know gets a readable label made from the code
    and no explanation, so it is shown but left out of the glossary.
    """
    known = STATUSES.get(code)
    if known is not None:
        return known
    return StatusInfo(code=code, label=status_label(code), explanation=None)


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


def terms_named_in(texts: Iterable[str]) -> frozenset[str]:
    """Return the keys of the :data:`~trialwatch.vocab.TERMS` that occur in ``texts``.

    >>> sorted(terms_named_in(["Primary completion: expected March 2027 → expected May 2028"]))
    ['expected', 'primary_completion']
    """
    found: set[str] = set()
    for text in texts:
        found.update(key for key, pattern in _TERM_PATTERNS.items() if pattern.search(text))
    return frozenset(found)


def term_glossary(keys: Iterable[str]) -> tuple[GlossaryTerm, ...]:
    """Return the terms named by ``keys`` (unknown keys ignored), in :data:`TERMS` order."""
    wanted = set(keys)
    return tuple(term for key, term in TERMS.items() if key in wanted)
