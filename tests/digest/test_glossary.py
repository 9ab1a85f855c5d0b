"""The glossary: every status a trial or a site can have, and the registry terms, explained."""

from __future__ import annotations

import pytest

from trialwatch.digest import glossary
from trialwatch.digest.glossary import term_glossary, terms_named_in
from trialwatch.vocab import SITE_STATUSES, STATUSES, TERMS

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
