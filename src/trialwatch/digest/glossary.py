"""Which statuses and registry terms a digest's glossary explains, found from codes.

A change carries its message and parameters (:mod:`trialwatch.words.changes`):
the statuses it names are among its parameters (:func:`statuses_of`), and so are
the terms it uses (:func:`terms_of`: a phase, an expected date...). The words of
the statuses and terms, and their order, are in :mod:`trialwatch.words.digest`.

A change stored before changes had messages has only its English summary: its
statuses are then found in those words (:func:`statuses_named_in`), as they were.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from trialwatch.vocab import STATUS_CODES
from trialwatch.words.changes import SUMMARY_ONLY
from trialwatch.words.digest import STATUSES as _WORDS
from trialwatch.words.digest import TERMS, GlossaryTerm, StatusInfo, describe_status

__all__ = [
    "describe_status",
    "glossary_for",
    "statuses_named_in",
    "statuses_of",
    "term_glossary",
    "terms_named_in",
    "terms_of",
]

_ORDER = {code: index for index, code in enumerate(STATUS_CODES)}

_STATUS_PARAMS: Mapping[str, tuple[str, ...]] = {
    "status_changed": ("from", "to", "last_known"),
    "last_known_status_changed": ("from", "to"),
    "expanded_access_status": ("from", "to"),
    "new_study": ("status",),
    "site_added": ("status",),
    "site_status_changed": ("from", "to"),
    "sites_status_changed": ("to",),
}
"""The parameters that hold status codes, per message."""


def statuses_of(
    message: str | None, params: Mapping[str, Any] | None, summary: str
) -> tuple[str, ...]:
    """The status codes a change names, in the order it names them.

    >>> statuses_of("status_changed", {"from": "NOT_YET_RECRUITING", "to": "RECRUITING"}, "")
    ('NOT_YET_RECRUITING', 'RECRUITING')
    """
    if message is None or message == SUMMARY_ONLY:
        return statuses_named_in(summary)
    given = params or {}
    names = _STATUS_PARAMS.get(message, ())
    return tuple(given[name] for name in names if isinstance(given.get(name), str))


def _date_terms(params: Mapping[str, Any]) -> set[str]:
    found = {"primary_completion"} if params.get("which") == "primary_completion" else set()
    for side in ("from", "to"):
        value = params.get(side)
        if not isinstance(value, Mapping) or value.get("type") not in ("ESTIMATED", "ACTUAL"):
            continue
        if value.get("count") is not None or value.get("date") is not None:
            found.add("expected")
    return found


_MESSAGE_TERMS: Mapping[str, str] = {
    "phase_changed": "phase",
    "enrollment_changed": "enrollment",
    "criteria_changed": "eligibility",
    "criteria_added": "eligibility",
    "criteria_removed": "eligibility",
    "criteria_reformatted": "eligibility",
    "results_posted": "results",
    "results_removed": "results",
    "results_publication_added": "results",
    "results_publication_removed": "results",
}


def terms_of(message: str | None, params: Mapping[str, Any] | None) -> frozenset[str]:
    """The keys of the registry terms a change's words use, from its message and params.

    >>> sorted(terms_of("date_changed", {"which": "primary_completion",
    ...     "from": {"date": "2027-03", "type": "ESTIMATED"}, "to": None}))
    ['expected', 'primary_completion']
    """
    if message is None:
        return frozenset()
    given = params or {}
    found = _date_terms(given) if message in ("date_changed", "enrollment_changed") else set()
    if message in _MESSAGE_TERMS:
        found.add(_MESSAGE_TERMS[message])
    return frozenset(found)


def glossary_for(codes: Iterable[str]) -> tuple[StatusInfo, ...]:
    """Return the glossary entries for ``codes``: known statuses only, once each, in life order."""
    known = {code for code in codes if code in _WORDS}
    return tuple(_WORDS[code] for code in sorted(known, key=_ORDER.__getitem__))


def term_glossary(keys: Iterable[str]) -> tuple[GlossaryTerm, ...]:
    """Return the terms named by ``keys`` (unknown keys ignored), in glossary order."""
    wanted = set(keys)
    return tuple(term for key, term in TERMS.items() if key in wanted)


# --- from words: changes stored before messages, and text that is not a change ------------

# Longest label first, so "Not yet recruiting" wins over "Recruiting" at the same place.
_LABEL_RE = re.compile(
    r"(?<!\w)("
    + "|".join(re.escape(s.label) for s in sorted(_WORDS.values(), key=lambda s: -len(s.label)))
    + r")(?!\w)",
    re.IGNORECASE,
)
_CODE_BY_LABEL = {status.label.casefold(): code for code, status in _WORDS.items()}

# How each term shows in a digest's text (summaries, facts, titles).
_TERM_PATTERNS: dict[str, re.Pattern[str]] = {
    "phase": re.compile(r"\bphase\s*[1-4]\b", re.IGNORECASE),
    "enrollment": re.compile(r"\benrol?lment\b", re.IGNORECASE),
    "expected": re.compile(r"\b(?:expected|actual)\b", re.IGNORECASE),
    "primary_completion": re.compile(r"\bprimary completion\b", re.IGNORECASE),
    "eligibility": re.compile(r"\b(?:eligibility|inclusion|exclusion)\b", re.IGNORECASE),
    "results": re.compile(r"\bresults\b", re.IGNORECASE),
}


@functools.lru_cache(maxsize=4096)  # the same summaries go to many subscribers
def statuses_named_in(text: str) -> tuple[str, ...]:
    """Return the codes of the status labels that occur in ``text``, in order of occurrence.

    >>> statuses_named_in("Status: Not yet recruiting → Recruiting")
    ('NOT_YET_RECRUITING', 'RECRUITING')
    """
    return tuple(_CODE_BY_LABEL[match.casefold()] for match in _LABEL_RE.findall(text))


def terms_named_in(texts: Iterable[str]) -> frozenset[str]:
    """Return the keys of the registry terms that occur in ``texts`` (titles, facts, summaries).

    >>> sorted(terms_named_in(["Primary completion: expected March 2027 → expected May 2028"]))
    ['expected', 'primary_completion']
    """
    found: set[str] = set()
    for text in texts:
        found.update(key for key, pattern in _TERM_PATTERNS.items() if pattern.search(text))
    return frozenset(found)
