"""Turn watchlist criteria into query parameters of ``GET /studies`` (pure, no I/O).

A study belongs to a watchlist when it matches *any* of conditions, interventions,
terms and NCT IDs, and *all* of the filters that are set (statuses, phases,
countries)::

    conditions only            query.cond = "multifocal motor neuropathy"
    interventions only         query.intr = "ARGX-117" OR empasiprubart
    terms only                 query.term = (term one) OR (term two)
    NCT IDs only               filter.ids = NCT05225675,NCT06742190
    several of the above       query.term = AREA[ConditionSearch](...)
                                            OR AREA[InterventionSearch](...)
                                            OR (term) OR AREA[NCTId](NCT... OR NCT...)
    statuses                   filter.overallStatus = RECRUITING,NOT_YET_RECRUITING
    phases, countries, since   filter.advanced = AREA[Phase](PHASE2 OR PHASE3)
                                            AND AREA[LocationCountry]("United States" OR Belgium)
                                            AND AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]

The filters apply to the NCT IDs in this query too; the sync job then asks for any
listed NCT ID the filters hid with :func:`build_ids_params` (no filters), because a
listed NCT ID is always watched.

Values of conditions, interventions and countries are *literals*: each becomes a
bare word when it is a plain word (letters and digits) and a quoted phrase
otherwise. Terms are *Essie expressions* written by the admin (the watchlist file
documents "Essie syntax allowed"), so they are passed through, parenthesised.

Parameter names and syntax follow the OpenAPI spec of API v2 (``GET /studies``:
``query.cond``, ``query.intr``, ``query.term``, ``filter.ids``,
``filter.overallStatus``, ``filter.advanced``, ``sort``, ``format``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence

from trialwatch.watchlists import Criteria

# The spec documents ``sort`` with date fields ("Currently, only date and numeric
# fields are allowed for sorting", example ``LastUpdatePostDate``) and the
# ``:asc``/``:desc`` suffix. We sort oldest update first so that (1) paging order
# is deterministic and (2) the sync cursor (newest lastUpdatePostDate seen) only
# moves forward while pages arrive: an interrupted sync can resume from it, and a
# study updated while we page moves to the end, where we still see it.
SORT_OLDEST_UPDATE_FIRST = "LastUpdatePostDate:asc"

_PLAIN_WORD = re.compile(r"[A-Za-z0-9]+")
# Upper-case words Essie reads as operators; a value spelled like one is quoted.
_ESSIE_OPERATORS = frozenset({"AND", "OR", "NOT"})


def build_search_params(
    criteria: Criteria, *, updated_since: datetime.date | None = None
) -> dict[str, str]:
    """Return the ``GET /studies`` query parameters that find the studies of ``criteria``.

    ``updated_since`` keeps only studies whose ``LastUpdatePostDate`` is on or after
    that day (an incremental sync). ``fields`` is not set here: see :func:`listing_params`.

    Raises ``ValueError`` when none of conditions, interventions, terms or NCT IDs
    is set, because such a query would return the whole registry.
    """
    kinds = [kind for kind in (criteria.conditions, criteria.interventions, criteria.terms) if kind]
    if not kinds and not criteria.nct_ids:
        raise ValueError(
            "criteria need at least one of conditions, interventions, terms or NCT IDs"
        )

    params: dict[str, str] = {"format": "json"}
    if not kinds:
        params["filter.ids"] = ",".join(criteria.nct_ids)
    elif len(kinds) == 1 and not criteria.nct_ids:
        if criteria.conditions:
            params["query.cond"] = _any_of(criteria.conditions)
        elif criteria.interventions:
            params["query.intr"] = _any_of(criteria.interventions)
        else:
            params["query.term"] = _any_term(criteria.terms)
    else:
        params["query.term"] = _combined_query(criteria)

    if criteria.statuses:
        params["filter.overallStatus"] = ",".join(criteria.statuses)

    advanced: list[str] = []
    if criteria.phases:
        advanced.append(f"AREA[Phase]({' OR '.join(criteria.phases)})")
    if criteria.countries:
        advanced.append(f"AREA[LocationCountry]({_any_of(criteria.countries)})")
    if updated_since is not None:
        advanced.append(_since(updated_since))
    if advanced:
        params["filter.advanced"] = " AND ".join(advanced)

    params["sort"] = SORT_OLDEST_UPDATE_FIRST
    return params


def build_ids_params(
    nct_ids: Sequence[str], *, updated_since: datetime.date | None = None
) -> dict[str, str]:
    """Return the ``GET /studies`` parameters that fetch exactly these studies.

    Use it to check which known studies still exist, and to fetch the NCT IDs a
    watchlist lists (always watched, whatever its filters). The API also matches
    ``NCTIdAlias``, so a merged study comes back under its current NCT ID. Keep
    batches modest (a few hundred IDs) so that the URL stays short.
    ``updated_since`` keeps only those updated on or after that day.

    Raises ``ValueError`` for an empty list: without ``filter.ids`` the API would
    return every study in the registry.
    """
    ids = [nct.strip().upper() for nct in nct_ids if nct.strip()]
    if not ids:
        raise ValueError("build_ids_params needs at least one NCT ID")
    params = {"format": "json", "filter.ids": ",".join(dict.fromkeys(ids))}
    if updated_since is not None:
        params["filter.advanced"] = _since(updated_since)
    return params


def listing_params(params: dict[str, str], fields: Sequence[str]) -> dict[str, str]:
    """The same search, asking only for ``fields`` of each study (a membership listing).

    ``fields`` is the spec's comma-separated list of piece names (``NCTId``,
    ``LastUpdatePostDate``); the API answers with records that hold only those
    pieces, nested as in a full record.
    """
    if not fields:
        raise ValueError("listing_params needs at least one field")
    return {**params, "fields": ",".join(fields)}


def essie_literal(value: str) -> str:
    """Return ``value`` as an Essie literal: a bare plain word, else a quoted phrase.

    Essie has no escape for a double quote inside a phrase, and search treats
    punctuation as a word break anyway, so embedded quotes become spaces.
    """
    text = " ".join(value.replace('"', " ").split())
    if _PLAIN_WORD.fullmatch(text) and text not in _ESSIE_OPERATORS:
        return text
    return f'"{text}"'


def _since(day: datetime.date) -> str:
    return f"AREA[LastUpdatePostDate]RANGE[{day.isoformat()},MAX]"


def _any_of(values: Iterable[str]) -> str:
    return " OR ".join(essie_literal(value) for value in values)


def _any_term(terms: Sequence[str]) -> str:
    if len(terms) == 1:
        return terms[0]
    return " OR ".join(f"({term})" for term in terms)


def _combined_query(criteria: Criteria) -> str:
    parts: list[str] = []
    if criteria.conditions:
        parts.append(f"AREA[ConditionSearch]({_any_of(criteria.conditions)})")
    if criteria.interventions:
        parts.append(f"AREA[InterventionSearch]({_any_of(criteria.interventions)})")
    parts.extend(f"({term})" for term in criteria.terms)
    if criteria.nct_ids:
        parts.append(f"AREA[NCTId]({' OR '.join(criteria.nct_ids)})")
    return " OR ".join(parts)
