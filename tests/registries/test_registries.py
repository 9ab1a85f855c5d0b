"""The registry seam: the map of registries and CT.gov behind the protocol."""

from __future__ import annotations

import pytest

from tests.support.fakeapi import FakeCtgov
from trialwatch import registries
from trialwatch.errors import ConfigError
from trialwatch.registries.base import Registry
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import IDS_PER_REQUEST, CtgovRegistry
from trialwatch.watchlists import Criteria


def test_an_unknown_registry_is_one_config_line_naming_the_known_ones() -> None:
    """get() of a name TrialWatch does not know raises ConfigError in one line."""
    with pytest.raises(ConfigError) as caught:
        registries.get("ctis-next")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert "'ctis-next'" in message
    assert "ctgov" in message


def test_ctgov_is_in_the_map_under_its_name() -> None:
    """REGISTRIES holds CT.gov under the name its registry gives itself."""
    assert registries.get("ctgov") is registries.REGISTRIES[CtgovRegistry.name]


def test_ctgov_plans_pages_and_reads_records_behind_the_protocol(fake: FakeCtgov) -> None:
    """CT.gov as a Registry: a plan, its pages, each record's ID and hash, the version."""
    with CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0)) as ctgov:
        registry: Registry = ctgov
        params = registry.plan(Criteria(conditions=("multifocal motor neuropathy",)))
        [page] = list(registry.iter_pages(params, page_size=registry.max_page_size))
        records = list(page.studies)
        assert page.total_count == len(records) > 0
        assert all(registry.problem(r) is None for r in records)
        ids = [registry.record_id(r) for r in records]
        assert all(i.startswith("NCT") for i in ids)
        canonical = registry.canonical(records[0])
        assert registry.content_hash(canonical) == registry.content_hash(canonical)
        [again] = list(registry.fetch(ids[:1]))
        assert [registry.record_id(r) for r in again.studies] == ids[:1]
        assert registry.data_version() == fake.data_timestamp
        assert registry.request_count == 3


def test_a_fetch_names_at_most_one_request_of_ids(fake: FakeCtgov) -> None:
    """More IDs than one request may name is a programming error, not a long URL."""
    with CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0)) as registry:
        ids = [f"NCT{n:08d}" for n in range(1, IDS_PER_REQUEST + 2)]
        with pytest.raises(ValueError, match="at most"):
            registry.fetch(ids)


def test_ctgov_summarises_links_and_diffs_a_record_behind_the_protocol(fake: FakeCtgov) -> None:
    """The record methods of the seam: a neutral summary, the trial's page, its changes."""
    with CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0)) as ctgov:
        registry: Registry = ctgov
        params = registry.plan(Criteria(conditions=("multifocal motor neuropathy",)))
        record = next(iter(next(iter(registry.iter_pages(params, page_size=100))).studies))
        trial_id = registry.record_id(record)
        summary = registry.summarise(record)
        assert (summary.ref.registry, summary.ref.id) == ("ctgov", trial_id)
        assert registry.study_url(trial_id) == f"https://clinicaltrials.gov/study/{trial_id}"
        assert [c.message for c in registry.diff(None, record)] == ["new_study"]
        assert registry.diff(record, record) == []
        status = record["protocolSection"]["statusModule"]["overallStatus"]
        moved = {
            **record,
            "protocolSection": {
                **record["protocolSection"],
                "statusModule": {
                    **record["protocolSection"]["statusModule"],
                    "overallStatus": "COMPLETED" if status != "COMPLETED" else "TERMINATED",
                },
            },
        }
        [change] = [c for c in registry.diff(record, moved) if c.kind != "bookkeeping"]
        assert change.message == "status_changed"
        assert change.params["from"] == status


def test_a_stored_record_of_either_registry_is_summarised_and_linked_by_name() -> None:
    """lookup gives CT.gov's and CTIS's summary and page by the registry's name alone."""
    import json
    from pathlib import Path

    from trialwatch.registries import lookup

    fixtures = Path(__file__).parents[1] / "fixtures"
    ctis_record = json.loads(
        (fixtures / "ctis" / "trajnovd_ctis_retrieve_sample_2025-523333-26-00.json").read_text()
    )
    summary = lookup.summarise("ctis", ctis_record)
    assert (summary.ref.registry, summary.ref.id) == ("ctis", "2025-523333-26-00")
    assert lookup.study_url("ctis", "2025-523333-26-00") == (
        "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT=2025-523333-26-00"
    )
    ctgov_record = json.loads((fixtures / "ctgov" / "NCT04431453.json").read_text())
    assert lookup.summarise("ctgov", ctgov_record).ref.id == "NCT04431453"
