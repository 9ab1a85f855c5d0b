"""Watchlist criteria -> GET /studies parameters (trialwatch.registries.ctgov.query)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from trialwatch.registries.ctgov.query import build_ids_params, build_search_params, essie_literal
from trialwatch.watchlists import Criteria, load_watchlist_file

MMN_TOML = Path(__file__).resolve().parents[3] / "config" / "watchlists" / "mmn.toml"
SORT = {"sort": "LastUpdatePostDate:asc"}


def test_it_builds_the_shipped_mmn_watchlist_query() -> None:
    """The shipped MMN watchlist ORs its condition and interventions in one query.term."""
    criteria = load_watchlist_file(MMN_TOML).criteria

    assert build_search_params(criteria) == {
        "format": "json",
        "query.term": 'AREA[ConditionSearch]("multifocal motor neuropathy") '
        'OR AREA[InterventionSearch]("ARGX-117" OR empasiprubart)',
        **SORT,
    }


def test_it_puts_conditions_alone_in_query_cond() -> None:
    """Conditions alone go to query.cond, OR-ed, multi-word values quoted."""
    criteria = Criteria(conditions=("multifocal motor neuropathy", "CIDP"))

    assert build_search_params(criteria) == {
        "format": "json",
        "query.cond": '"multifocal motor neuropathy" OR CIDP',
        **SORT,
    }


def test_it_puts_interventions_alone_in_query_intr() -> None:
    """Interventions alone go to query.intr; a hyphenated name is quoted."""
    criteria = Criteria(interventions=("ARGX-117", "empasiprubart"))

    assert build_search_params(criteria) == {
        "format": "json",
        "query.intr": '"ARGX-117" OR empasiprubart',
        **SORT,
    }


def test_it_passes_a_single_term_through_as_essie() -> None:
    """A single term is an Essie expression and is sent unchanged in query.term."""
    criteria = Criteria(terms=('AREA[LeadSponsorName]"argenx" AND C2',))

    assert build_search_params(criteria) == {
        "format": "json",
        "query.term": 'AREA[LeadSponsorName]"argenx" AND C2',
        **SORT,
    }


def test_it_parenthesises_several_terms() -> None:
    """Several terms are OR-ed, each in parentheses so their own operators stay inside."""
    criteria = Criteria(terms=("anti-C2 AND antibody", "complement"))

    assert build_search_params(criteria) == {
        "format": "json",
        "query.term": "(anti-C2 AND antibody) OR (complement)",
        **SORT,
    }


def test_it_uses_filter_ids_when_only_nct_ids_are_set() -> None:
    """NCT IDs alone become filter.ids, so the status/phase/country filters still apply."""
    criteria = Criteria(nct_ids=("NCT05225675", "NCT06742190"), statuses=("RECRUITING",))

    assert build_search_params(criteria) == {
        "format": "json",
        "filter.ids": "NCT05225675,NCT06742190",
        "filter.overallStatus": "RECRUITING",
        **SORT,
    }


def test_it_ors_nct_ids_beside_a_condition_in_query_term() -> None:
    """NCT IDs beside another kind join the OR in query.term through AREA[NCTId]."""
    criteria = Criteria(conditions=("multifocal motor neuropathy",), nct_ids=("NCT06537999",))

    assert build_search_params(criteria) == {
        "format": "json",
        "query.term": 'AREA[ConditionSearch]("multifocal motor neuropathy") '
        "OR AREA[NCTId](NCT06537999)",
        **SORT,
    }


def test_it_ors_every_kind_in_one_query_term() -> None:
    """Conditions, interventions, terms and NCT IDs together make one OR expression."""
    criteria = Criteria(
        conditions=("MMN",),
        interventions=("IVIg", "efgartigimod alfa"),
        terms=("complement AND neuropathy",),
        nct_ids=("NCT05225675", "NCT06742190"),
    )

    assert build_search_params(criteria) == {
        "format": "json",
        "query.term": "AREA[ConditionSearch](MMN) "
        'OR AREA[InterventionSearch](IVIg OR "efgartigimod alfa") '
        "OR (complement AND neuropathy) "
        "OR AREA[NCTId](NCT05225675 OR NCT06742190)",
        **SORT,
    }


def test_it_ands_statuses_phases_countries_and_updated_since() -> None:
    """Filters are ANDed: statuses in filter.overallStatus, the rest in filter.advanced."""
    criteria = Criteria(
        conditions=("multifocal motor neuropathy",),
        statuses=("RECRUITING", "NOT_YET_RECRUITING"),
        phases=("PHASE2", "PHASE3"),
        countries=("Netherlands", "United States"),
    )

    params = build_search_params(criteria, updated_since=datetime.date(2025, 1, 31))

    assert params == {
        "format": "json",
        "query.cond": '"multifocal motor neuropathy"',
        "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING",
        "filter.advanced": "AREA[Phase](PHASE2 OR PHASE3) "
        'AND AREA[LocationCountry](Netherlands OR "United States") '
        "AND AREA[LastUpdatePostDate]RANGE[2025-01-31,MAX]",
        **SORT,
    }


def test_it_filters_on_updated_since_alone() -> None:
    """updated_since alone is the only part of filter.advanced."""
    params = build_search_params(
        Criteria(interventions=("empasiprubart",)), updated_since=datetime.date(2026, 11, 1)
    )

    assert params["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-11-01,MAX]"


def test_it_never_asks_for_a_subset_of_fields() -> None:
    """We store full records, so `fields` is never set."""
    criteria = Criteria(conditions=("a",), interventions=("b",), phases=("PHASE1",))

    assert "fields" not in build_search_params(criteria)


def test_it_refuses_criteria_that_would_match_the_whole_registry() -> None:
    """Filters without any of conditions, interventions, terms or NCT IDs are an error."""
    with pytest.raises(ValueError, match="at least one"):
        build_search_params(Criteria(statuses=("RECRUITING",)))


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("empasiprubart", "empasiprubart"),
        ("ARGX-117", '"ARGX-117"'),
        ("multifocal  motor\tneuropathy", '"multifocal motor neuropathy"'),
        ('the "so-called" MMN', '"the so-called MMN"'),
        ("OR", '"OR"'),
        ("or", "or"),
        ("Crohn's disease (CD)", '"Crohn\'s disease (CD)"'),
    ],
)
def test_it_quotes_literals_only_when_needed(value: str, literal: str) -> None:
    """Plain words stay bare; phrases, punctuation and operator words are quoted safely."""
    assert essie_literal(value) == literal


def test_it_builds_ids_params_for_an_existence_check() -> None:
    """build_ids_params asks for exactly the given IDs, upper-cased and de-duplicated."""
    assert build_ids_params(["NCT05225675", "nct06742190", "NCT05225675"]) == {
        "format": "json",
        "filter.ids": "NCT05225675,NCT06742190",
    }


def test_it_refuses_an_empty_id_list() -> None:
    """An empty filter.ids would return every study, so it is an error."""
    with pytest.raises(ValueError, match="at least one NCT ID"):
        build_ids_params([])
