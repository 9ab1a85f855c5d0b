"""A watchlist's criteria as CTIS searches. Pure.

CTIS search criteria combine with AND and cannot say "this condition OR that
drug", while a watchlist matches a trial on *any* of its conditions,
interventions or terms. So a watchlist is several searches whose union is its
membership: one ``medicalCondition`` search per condition, one ``containAll``
search (the phrase's words, in the whole dossier) per intervention or term, and
one ``number`` search per EU CT number the watchlist names. Each carries the
watchlist's status filter as CTIS public status codes.

Countries and phases have no verified CTIS search key: they are not sent, and
the caller filters the retrieved trials by their summary (:func:`in_countries`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from trialwatch.identity import registry_ids
from trialwatch.registries.ctis.summary import NEUTRAL_STATUS
from trialwatch.trial import TrialSummary
from trialwatch.watchlists import Criteria

Search = dict[str, Any]
"""The ``searchCriteria`` of one ``POST /search``."""


def status_codes(statuses: Iterable[str]) -> list[int]:
    """The CTIS public status codes a trial in any of the neutral ``statuses`` may have.

    >>> status_codes(["RECRUITING"])
    [3, 4]
    """
    wanted = set(statuses)
    return sorted(code for code, neutral in NEUTRAL_STATUS.items() if neutral in wanted)


def ct_numbers(ids: Iterable[str]) -> list[str]:
    """The EU CT numbers among ``ids`` (NCT IDs and other text left out), each once."""
    found: list[str] = []
    for text in ids:
        for rid in registry_ids(text):
            if rid.registry == "ctis" and rid.id not in found:
                found.append(rid.id)
    return found


def build_searches(criteria: Criteria, *, ids: Sequence[str] = ()) -> list[Search]:
    """The searches whose union is the watchlist's membership in CTIS, in a stable order.

    ``ids`` are the watchlist's always-watched IDs of any registry: the EU CT numbers
    among them are searched by number, without the status filter (always watched).
    A watchlist with no condition, intervention, term or EU CT number has no search.
    """
    statuses = status_codes(criteria.statuses)
    if criteria.statuses and not statuses:
        topical: list[Search] = []  # statuses CTIS never gives: nothing can match
    else:
        topical = [{"medicalCondition": c} for c in _phrases(criteria.conditions)]
        topical += [{"containAll": p} for p in _phrases((*criteria.interventions, *criteria.terms))]
        if statuses:
            topical = [{**search, "status": statuses} for search in topical]
    return topical + [{"number": number} for number in ct_numbers(ids)]


def in_countries(trial: TrialSummary, countries: Iterable[str]) -> bool:
    """Whether the trial runs in any of ``countries`` (all of them when none is given)."""
    wanted = {c.casefold() for c in countries}
    return not wanted or any(c.casefold() in wanted for c in trial.countries)


def _phrases(values: Iterable[str]) -> list[str]:
    """Each value once, its whitespace collapsed; empty values left out."""
    seen: list[str] = []
    for value in values:
        phrase = " ".join(value.split())
        if phrase and phrase.casefold() not in (s.casefold() for s in seen):
            seen.append(phrase)
    return seen
