"""The sync's plan: the always-watched-ID rule, written once."""

from __future__ import annotations

from trialwatch.jobs.sync_plan import unfiltered_ids
from trialwatch.watchlists import Criteria

IDS = ("NCT05225675", "NCT06742190")


def test_listed_ids_are_asked_again_only_when_a_filter_could_hide_them() -> None:
    """Without status, phase or country filters the search holds the listed IDs already."""
    assert unfiltered_ids(Criteria(conditions=("mmn",), nct_ids=IDS)) == ()
    for filters in ({"statuses": ("RECRUITING",)}, {"phases": ("PHASE2",)}, {"countries": ("BE",)}):
        criteria = Criteria(conditions=("mmn",), nct_ids=IDS, **filters)
        assert unfiltered_ids(criteria) == IDS
    assert unfiltered_ids(Criteria(conditions=("mmn",), statuses=("RECRUITING",))) == ()
