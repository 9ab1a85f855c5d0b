"""Results publications, posted documents, outcome measures and officials: once noise."""

from __future__ import annotations

from typing import Any

import pytest

from tests.diff.conftest import assert_values_match, bump, load_pair, module, not_noise, of_kind
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.registries.ctgov.differ.documents import document_params
from trialwatch.words.items import citation_words, document_words

ARDA = "constructed/NCT05225675.json"
AXSPA = "NCT02552212.json"  # RESULT references, a protocol and a SAP posted
GLIOMA = "NCT06171568.json"  # a principal investigator and a study director
REFERENCES = "protocolSection.referencesModule.references"
DOCS = "documentSection.largeDocumentModule.largeDocs"


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def _references(record: dict[str, Any]) -> list[dict[str, Any]]:
    found = module(record, "referencesModule")["references"]
    assert isinstance(found, list)
    return found


def _docs(record: dict[str, Any]) -> list[dict[str, Any]]:
    found = record["documentSection"]["largeDocumentModule"]["largeDocs"]
    assert isinstance(found, list)
    return found


# --- results publications ----------------------------------------------------------------


def test_it_reports_a_results_publication_with_author_title_and_pmid() -> None:
    """The 3-year results paper added to the record: first author, title, PMID."""
    new, old = load_pair(AXSPA)
    paper = _references(old).pop(0)
    bump(new)
    assert not_noise(_diff(old, new)) == [
        Change(
            "results_publication",
            f"{REFERENCES}[35296532]",
            None,
            paper,
            "Results publication: van der Heijde D, et al. Long-term safety and clinical"
            " outcomes of certolizumab… (PMID 35296532)",
            "minor",
        )
    ]


def test_it_counts_a_derived_reference_becoming_a_result() -> None:
    """A PubMed-derived reference reclassed as a results publication is one."""
    old, new = load_pair(AXSPA)
    derived = _references(old)[2]
    _references(new)[2] = dict(derived, type="RESULT")
    change = of_kind(_diff(old, new), "results_publication")
    assert (change.old, change.significance) == (derived, "minor")
    assert change.summary.startswith("Results publication: Maksymowych WP, et al. Predictors")
    assert change.summary.endswith(" (PMID 34715908)")


def test_it_keeps_other_references_and_removed_results_out_of_the_mail() -> None:
    """A background reference is noise; a results paper removed is noise with a clear line."""
    old, new = load_pair(AXSPA)
    _references(new).append({"pmid": "1", "type": "BACKGROUND", "citation": "Doe J. Review."})
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "other",
        "References updated",
        "noise",
    )
    old, new = load_pair(AXSPA)
    del _references(new)[1]
    [change] = _diff(old, new)
    assert (change.kind, change.significance) == ("results_publication", "noise")
    assert change.summary.startswith("Results publication removed: Robinson PC, et al.")


def test_it_words_citations_it_cannot_split() -> None:
    """One author, no sentence break, nothing at all."""
    assert citation_words("Smith J. Efficacy of X. Lancet.", 60) == "Smith J. Efficacy of X"
    assert citation_words("Consortium report", 60) == "Consortium report"
    assert citation_words("", 60) == "untitled"


# --- documents ---------------------------------------------------------------------------


def test_it_reports_a_protocol_posted() -> None:
    """The protocol and SAP document appearing: "Document posted: …", minor."""
    new, old = load_pair(AXSPA)
    _docs(old).pop(0)
    doc = _docs(new)[0]
    doc.update(hasSap=True, label="Study Protocol and Statistical Analysis Plan")
    assert _diff(old, new) == [
        Change(
            "document_added",
            f"{DOCS}[Prot_000.pdf]",
            None,
            doc,
            "Document posted: Study protocol and statistical analysis plan",
            "minor",
        )
    ]


def test_it_reports_a_document_section_appearing_and_a_document_removed() -> None:
    """A record without documents getting its informed consent form, and losing it again."""
    old, new = load_pair(ARDA)
    new["documentSection"] = {
        "largeDocumentModule": {
            "largeDocs": [
                {
                    "typeAbbrev": "ICF",
                    "hasProtocol": False,
                    "hasSap": False,
                    "hasIcf": True,
                    "label": "Informed Consent Form",
                    "date": "2022-01-10",
                    "uploadDate": "2025-09-01T10:12",
                    "filename": "ICF_000.pdf",
                    "size": 402113,
                }
            ]
        }
    }
    [change] = _diff(old, new)
    assert change.summary == "Study documents updated"  # a new section: noise, as before
    old["documentSection"] = {"largeDocumentModule": {"largeDocs": []}}
    [change] = _diff(old, new)
    assert (change.summary, change.significance) == (
        "Document posted: Informed consent form",
        "minor",
    )
    assert of_kind(_diff(new, old), "document_removed").summary == (
        "Document removed: Informed consent form"
    )


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (
            {"hasProtocol": True, "hasSap": True, "hasIcf": True},
            "Study protocol, statistical analysis plan and informed consent form",
        ),
        ({"hasSap": True}, "Statistical analysis plan"),
        ({"label": "Data dictionary"}, "Data dictionary"),
        ({}, "Document"),
    ],
)
def test_it_words_document_types(flags: dict[str, Any], words: str) -> None:
    """The flags the registry sets, in the order it lists them; else the label."""
    assert document_words(document_params(flags)) == words


# --- outcome measures --------------------------------------------------------------------


def test_it_reports_a_primary_outcome_time_frame() -> None:
    """ARDA's single primary outcome measured later: the time frames, minor."""
    old, new = load_pair(ARDA)
    outcomes = module(old, "outcomesModule")["primaryOutcomes"]
    outcomes[0]["timeFrame"] = "12 weeks"
    module(new, "outcomesModule")["primaryOutcomes"][0]["timeFrame"] = "24 weeks"
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "outcome_changed",
        "Primary outcome time frame: 12 weeks → 24 weeks",
        "minor",
    )
    assert change.field == (
        "protocolSection.outcomesModule.primaryOutcomes[Number of participants with adverse events]"
    )


def test_it_reports_secondary_outcomes_added_and_removed() -> None:
    """A new secondary outcome, and one dropped, in a record with many."""
    old, new = load_pair(AXSPA)
    secondary = module(new, "outcomesModule")["secondaryOutcomes"]
    dropped = secondary.pop(0)
    secondary.pop(0)
    secondary.append({"measure": "Change in MRI inflammation score", "timeFrame": "Week 48"})
    secondary.append({"measure": "Serum CRP", "timeFrame": "Week 48"})
    changes = _diff(old, new)
    assert [(c.kind, c.summary) for c in changes][:2] == [
        ("outcome_added", "New secondary outcome: Change in MRI inflammation score"),
        ("outcome_added", "New secondary outcome: Serum CRP"),
    ]
    removed = [c.summary for c in changes if c.kind == "outcome_removed"]
    assert len(removed) == 2
    assert any(
        s.startswith(f"Secondary outcome removed: {dropped['measure'][:40]}") for s in removed
    )
    assert {c.significance for c in changes} == {"minor"}


def test_it_reports_a_reworded_outcome_as_one_change() -> None:
    """One primary outcome out and one in: the outcome changed, named as it is now."""
    old, new = load_pair(ARDA)
    module(new, "outcomesModule")["primaryOutcomes"][0]["measure"] = "Treatment-emergent AEs"
    [change] = _diff(old, new)
    assert (change.kind, change.summary) == (
        "outcome_changed",
        "Primary outcome changed: Treatment-emergent AEs",
    )


def test_it_names_the_outcome_when_there_are_several() -> None:
    """With 11 primary outcomes, the time frame line says which one."""
    old, new = load_pair(AXSPA)
    outcome = module(new, "outcomesModule")["primaryOutcomes"][1]
    outcome["timeFrame"] = "Week 16"
    outcome2 = module(new, "outcomesModule")["primaryOutcomes"][2]
    outcome2["description"] = "Reworded."
    changes = _diff(old, new)
    assert [c.summary for c in changes] == [
        f"Primary outcome description updated: {outcome2['measure']}",
        "Primary outcome time frame: Week 12 → Week 16 (Percentage of Subjects With Axial…)",
    ]


# --- officials ---------------------------------------------------------------------------


def test_it_reports_a_new_principal_investigator_and_an_official_removed() -> None:
    """The PI replaced: "New principal investigator: …", "Official removed: …", minor."""
    old, new = load_pair(GLIOMA)
    officials = module(new, "contactsLocationsModule")["overallOfficials"]
    officials[0] = {
        "name": "Johan Pallud, MD, PhD",
        "affiliation": "GHU Paris Psychiatrie et Neurosciences",
        "role": "PRINCIPAL_INVESTIGATOR",
    }
    bump(new)
    assert [(c.kind, c.summary, c.significance) for c in not_noise(_diff(old, new))] == [
        (
            "official_added",
            "New principal investigator: Johan Pallud, MD, PhD"
            " (GHU Paris Psychiatrie et Neurosciences)",
            "minor",
        ),
        (
            "official_removed",
            "Official removed: Emmanuel Mandonnet, MD, PhD"
            " (Assistance Publique - Hôpitaux de Paris)",
            "minor",
        ),
    ]


def test_it_reports_an_officials_new_role_and_affiliation() -> None:
    """The study director becoming principal investigator at another hospital."""
    old, new = load_pair(GLIOMA)
    director = module(new, "contactsLocationsModule")["overallOfficials"][1]
    director.update(role="PRINCIPAL_INVESTIGATOR", affiliation="Hôpital Lariboisière")
    [change] = _diff(old, new)
    assert (change.kind, change.summary) == (
        "official_changed",
        "Official Alexis Schnitzler, MD, PhD: now principal investigator,"
        " new affiliation Hôpital Lariboisière",
    )
    del director["affiliation"], director["role"]
    director["name"] = "Alexis Schnitzler, MD, PhD"
    module(new, "contactsLocationsModule")["overallOfficials"].append({"name": "A. N. Other"})
    summaries = [c.summary for c in _diff(old, new)]
    assert summaries == [
        "New official: A. N. Other",
        "Official Alexis Schnitzler, MD, PhD: now no role, affiliation removed",
    ]
