"""Registry IDs in free text, and the links a record asserts (never on a sponsor's code)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from trialwatch.identity import RegistryId, links_of, registry_ids
from trialwatch.registries.ctgov.summary import summarise
from trialwatch.trial import OtherId

FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"


def test_it_finds_each_registrys_id_with_its_prefixes_and_spacing() -> None:
    """Prefixes, case and a space are forgiven; each ID comes back as its registry writes it."""
    text = "EudraCT No. 2009-011277-33, nct 01234567, EU CT 2023-505613-24-00, ISRCTN 12345678"
    assert registry_ids(text) == [
        RegistryId("eudract", "2009-011277-33"),
        RegistryId("ctgov", "NCT01234567"),
        RegistryId("ctis", "2023-505613-24-00"),
        RegistryId("isrctn", "ISRCTN12345678"),
    ]


def test_an_eu_ct_number_is_not_also_read_as_an_eudract_number() -> None:
    """2024-510663-34-00 is one CTIS ID, not an EudraCT number plus a tail."""
    assert registry_ids("2024-510663-34-00") == [RegistryId("ctis", "2024-510663-34-00")]


def test_text_without_a_registry_id_links_nothing() -> None:
    """A sponsor's protocol code or a grant number is never a link."""
    own = RegistryId("ctgov", "NCT05225675")
    others = [OtherId("ARGX-117-2002"), OtherId("R01 NS123456", type="NIH"), OtherId("2023-5")]
    assert links_of(own, others) == []


def test_a_record_never_links_to_itself_and_names_each_link_once() -> None:
    """Its own ID among its secondary IDs, or one ID given twice, is one link at most."""
    own = RegistryId("ctgov", "NCT05225675")
    others = [
        OtherId("NCT05225675"),
        OtherId("2022-000123-45", type="EUDRACT_NUMBER"),
        OtherId("EudraCT: 2022-000123-45"),
    ]
    assert links_of(own, others) == [RegistryId("eudract", "2022-000123-45")]


def test_the_recorded_ctgov_records_link_only_on_registry_ids() -> None:
    """The recorded records' EudraCT numbers link; NIH grants and sponsor codes do not."""
    found: dict[str, list[RegistryId]] = {}
    for path in sorted(FIXTURES.glob("NCT*.json")):
        summary = summarise(json.loads(path.read_text()))
        own = RegistryId("ctgov", summary.ref.id)
        found[summary.ref.id] = links_of(own, summary.other_ids)
    assert found["NCT02513394"] == [RegistryId("eudract", "2014-005181-30")]  # + "ABCSG 42"
    assert found["NCT04431453"] == [RegistryId("eudract", "2020-001803-17")]
    assert found["NCT00763412"] == []  # an NIH grant, P60DK020579
    assert found["NCT06171568"] == []  # "2023-A00386-39", a French ID-RCB, not EudraCT


@given(st.text())
def test_any_text_gives_ids_that_read_back_as_themselves(text: str) -> None:
    """Whatever the text, each ID found is found again, alone, in its own text."""
    for rid in registry_ids(text):
        assert registry_ids(rid.id) == [rid]
