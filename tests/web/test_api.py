"""The JSON API: watchlists, their studies and changes, one study with its history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    seed_mmn(engine, fake, extra=7)
    port = _free_port()
    yield from serve(web_settings(database_url, tmp_path, port), engine, port)


def get(site: LiveApp, path: str, **params: Any) -> Any:
    response = site.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_watchlists_list_their_counts(site: LiveApp) -> None:
    body = get(site, "/api/watchlists")
    (mmn,) = [w for w in body["items"] if w["slug"] == "mmn"]
    assert mmn["name"] == "Multifocal motor neuropathy"
    assert mmn["study_count"] >= 10
    assert mmn["last_synced_at"]
    assert "next_cursor" in body


def test_studies_page_with_an_opaque_cursor(site: LiveApp) -> None:
    first = get(site, "/api/watchlists/mmn/studies", limit=4)
    assert len(first["items"]) == 4
    study = first["items"][0]
    assert set(study) >= {"nct_id", "title", "status", "phases", "sponsor", "countries", "url"}
    seen = [s["nct_id"] for s in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = get(site, "/api/watchlists/mmn/studies", limit=4, cursor=cursor)
        seen += [s["nct_id"] for s in page["items"]]
        cursor = page["next_cursor"]
    everything = get(site, "/api/watchlists/mmn/studies", limit=200)
    assert everything["next_cursor"] is None
    assert seen == [s["nct_id"] for s in everything["items"]]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    arda = next(s for s in everything["items"] if s["nct_id"] == ARDA)
    assert arda["sponsor"] == "argenx"
    assert "Belgium" in arda["countries"]


def test_changes_filter_by_significance_and_since(site: LiveApp) -> None:
    everything = get(site, "/api/watchlists/mmn/changes", significance="all", limit=200)["items"]
    major = get(site, "/api/watchlists/mmn/changes", significance="major", limit=200)["items"]
    assert major
    assert {c["significance"] for c in major} == {"major"}
    assert len(major) <= len(everything)
    times = [c["detected_at"] for c in everything]
    assert times == sorted(times, reverse=True)
    assert get(site, "/api/watchlists/mmn/changes", since="2999-01-01")["items"] == []
    assert get(site, "/api/watchlists/mmn/changes", since="2000-01-01", limit=200)["items"]


def test_changes_page_with_a_cursor(site: LiveApp) -> None:
    everything = get(site, "/api/watchlists/mmn/changes", significance="all", limit=200)["items"]
    assert len(everything) > 3
    seen: list[int] = []
    cursor: str | None = ""
    while cursor is not None:
        params: dict[str, Any] = {"significance": "all", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = get(site, "/api/watchlists/mmn/changes", **params)
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [c["id"] for c in everything]


def test_a_study_comes_with_its_versions_and_changes(site: LiveApp) -> None:
    body = get(site, f"/api/studies/{ARDA}")
    assert body["nct_id"] == ARDA
    assert body["status"] == "COMPLETED"
    assert body["url"] == f"https://clinicaltrials.gov/study/{ARDA}"
    assert [v["version"] for v in body["versions"]] == [2, 1]
    assert any("Completed" in c["summary"] for c in body["changes"])
    assert "Multifocal Motor Neuropathy" in body["conditions"]


_ERRORS = [
    ("/api/watchlists/nope/studies", 404),
    ("/api/watchlists/nope/changes", 404),
    ("/api/studies/NCT00000000", 404),
    ("/api/watchlists/mmn/studies?limit=0", 422),
    ("/api/watchlists/mmn/studies?limit=201", 422),
    ("/api/watchlists/mmn/studies?limit=x", 422),
    ("/api/watchlists/mmn/studies?cursor=garbage!", 400),
    ("/api/watchlists/mmn/changes?since=yesterday", 422),
    ("/api/watchlists/mmn/changes?significance=huge", 422),
    ("/api/watchlists?cursor=%00", 400),
]


def test_errors_are_json_with_a_message(site: LiveApp) -> None:
    """Unknown things are 404, bad parameters 422, foreign cursors 400: JSON, one message."""
    for path, status in _ERRORS:
        response = site.client.get(path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("application/json"), path
        body = response.json()
        assert set(body) == {"error"}, path
        assert isinstance(body["error"], str), path
        assert body["error"], path


def test_the_openapi_document_describes_the_api(site: LiveApp) -> None:
    document = site.client.get("/openapi.json").json()
    for path in (
        "/api/watchlists",
        "/api/watchlists/{slug}/studies",
        "/api/watchlists/{slug}/changes",
        "/api/studies/{nct_id}",
    ):
        assert "get" in document["paths"][path], path
    schemas = document["components"]["schemas"]
    assert {"StudyPage", "ChangePage", "StudyDetail", "ApiError"} <= set(schemas)
