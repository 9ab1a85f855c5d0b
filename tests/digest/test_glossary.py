"""The glossary: every status a trial or a site can have, and the registry terms, explained."""

from __future__ import annotations

import pytest

from tests.diff.conftest import RECORDS, load_record
from trialwatch.digest import glossary
from trialwatch.digest.glossary import (
    glossary_for,
    statuses_named_in,
    statuses_of,
    term_glossary,
    terms_named_in,
    terms_of,
)
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.vocab import SITE_STATUSES, STATUS_CODES, TERM_KEYS
from trialwatch.words.digest import STATUSES, TERMS

# The RecruitmentStatus enum of the API v2 spec (ctg-oas-v2.yaml 2.0.5): a site's status.
SPEC_RECRUITMENT_STATUS = {
    "ACTIVE_NOT_RECRUITING",
    "COMPLETED",
    "ENROLLING_BY_INVITATION",
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "WITHDRAWN",
    "AVAILABLE",
}


def test_every_site_status_of_the_spec_is_explained() -> None:
    """Each location status has a label and an explanation, as overall statuses do."""
    assert set(SITE_STATUSES) == SPEC_RECRUITMENT_STATUS
    for code in SITE_STATUSES:
        assert STATUSES[code].explanation, code


@pytest.mark.parametrize("code", sorted(SPEC_RECRUITMENT_STATUS - {"AVAILABLE"}))
def test_site_status_explanations_read_right_for_a_site_too(code: str) -> None:
    """No explanation a site may get speaks of "the study"."""
    explanation = STATUSES[code].explanation or ""
    assert "the study" not in explanation.casefold(), explanation


def test_completed_says_nothing_about_results() -> None:
    """Beside "Results posted", Completed must not say results may come later."""
    assert "result" not in (STATUSES["COMPLETED"].explanation or "").casefold()


def test_every_term_has_a_pattern_and_only_terms_have_patterns() -> None:
    """A term without a pattern would never be explained; a pattern without a term, never shown."""
    assert set(glossary._TERM_PATTERNS) == set(TERMS)


@pytest.mark.parametrize(
    ("line", "keys"),
    [
        (
            "Primary completion: expected January 2027 → expected January 2028",
            {"expected", "primary_completion"},
        ),
        ("Enrollment: 40 expected → 44 actual", {"enrollment", "expected"}),
        ("Phase: Phase 2 → Phase 2/Phase 3", {"phase"}),
        ("New exclusion: Pregnancy", {"eligibility"}),
        ("Eligibility criteria changed", {"eligibility"}),
        ("Results posted", {"results"}),
        ("Status: Recruiting → Completed", set()),
        ("A phased roll-out of the unexpected", set()),
    ],
)
def test_terms_are_found_where_a_line_uses_them(line: str, keys: set[str]) -> None:
    """Whole words only: "phased" is not a phase, "unexpected" is not expected."""
    assert terms_named_in([line]) == keys


def test_term_glossary_keeps_the_order_of_terms_and_ignores_unknown_keys() -> None:
    """In TERMS order, once each."""
    assert [t.key for t in term_glossary(["results", "phase", "nope", "phase"])] == [
        "phase",
        "results",
    ]


def test_the_words_explain_every_status_and_term_code() -> None:
    """The statuses and terms explained are the codes of the vocabulary, in its order."""
    assert tuple(STATUSES) == STATUS_CODES
    assert tuple(TERMS) == TERM_KEYS


def test_statuses_come_from_a_change_s_codes() -> None:
    """From the parameters that hold statuses; an old row's from the words of its summary."""
    params = {"from": "RECRUITING", "to": "UNKNOWN", "last_known": "RECRUITING"}
    assert statuses_of("status_changed", params, "") == ("RECRUITING", "UNKNOWN", "RECRUITING")
    assert statuses_of("sites_status_changed", {"to": None, "count": 4}, "") == ()
    assert statuses_of("phase_changed", {"from": [], "to": ["PHASE2"]}, "") == ()
    old = "Status: Not yet recruiting → Recruiting"
    assert statuses_of(None, None, old) == ("NOT_YET_RECRUITING", "RECRUITING")
    assert statuses_of("summary_only", {"text": old}, old) == ("NOT_YET_RECRUITING", "RECRUITING")


def test_terms_come_from_a_change_s_codes() -> None:
    """A phase, an expected or actual date or count, primary completion, criteria, results."""
    dated = {"which": "primary_completion", "from": None, "to": {"date": "2027", "type": "ACTUAL"}}
    assert terms_of("date_changed", dated) == {"primary_completion", "expected"}
    assert terms_of("date_changed", {"which": "start", "from": None, "to": {"date": None}}) == set()
    counted = {"from": {"count": 40, "type": "ESTIMATED"}, "to": None}
    assert terms_of("enrollment_changed", counted) == {"enrollment", "expected"}
    assert terms_of("phase_changed", {"from": None, "to": ["PHASE2"]}) == {"phase"}
    assert terms_of("criteria_changed", {"added": [], "removed": []}) == {"eligibility"}
    assert terms_of("results_posted", {}) == {"results"}
    assert terms_of(None, None) == set()


@pytest.mark.parametrize("name", RECORDS)
def test_the_statuses_of_a_change_are_those_its_words_name(name: str) -> None:
    """For every status change the differ makes, the codes give the glossary the words gave."""
    record = load_record(name)
    status = record["protocolSection"]["statusModule"]
    for before, after in [("RECRUITING", "COMPLETED"), ("NOT_YET_RECRUITING", "UNKNOWN")]:
        old, new = load_record(name), load_record(name)
        old["protocolSection"]["statusModule"] = dict(status, overallStatus=before)
        new["protocolSection"]["statusModule"] = dict(
            status, overallStatus=after, lastKnownStatus="ACTIVE_NOT_RECRUITING"
        )
        for change in diff_records(old, new):
            codes = statuses_of(change.message, change.params, change.summary)
            assert glossary_for(codes) == glossary_for(statuses_named_in(change.summary))
