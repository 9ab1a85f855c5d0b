"""Filters and NCT IDs as people type them: known values work, unknown ones say so (422)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn
from tests.web.test_pages import studies_of

OTHER = "NCT06742190"  # recruiting; sites in Canada, Italy, the Netherlands


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    seed_mmn(engine, fake)
    port = _free_port()
    yield from serve(web_settings(database_url, tmp_path, port), engine, port)


def _api_ids(site: LiveApp, **params: str) -> list[str]:
    answer = site.client.get("/api/watchlists/mmn/studies", params=params)
    assert answer.status_code == 200, answer.text
    return [item["nct_id"] for item in answer.json()["items"]]


def test_a_misspelt_status_is_422_naming_the_closest(site: LiveApp) -> None:
    """?status=RECRUTING is a mistake, not an empty list."""
    api = site.client.get("/api/watchlists/mmn/studies", params={"status": "RECRUTING"})
    assert api.status_code == 422
    assert "RECRUITING" in api.json()["error"]
    page = site.client.get("/w/mmn", params={"status": "RECRUTING"})
    assert page.status_code == 422
    assert "RECRUITING" in page.text


@pytest.mark.parametrize("status", ["recruiting", "Recruiting", " RECRUITING "])
def test_a_status_in_any_case_is_the_status(site: LiveApp, status: str) -> None:
    ids = _api_ids(site, status=status)
    assert OTHER in ids
    assert ARDA not in ids
    assert ids == _api_ids(site, status="RECRUITING")
    page = site.client.get("/w/mmn", params={"status": status})
    assert page.status_code == 200
    assert f'href="/study/{OTHER}"' in studies_of(page.text)
    assert f'href="/study/{ARDA}"' not in studies_of(page.text)


def test_a_country_alias_works_as_in_the_cli(site: LiveApp) -> None:
    """NL is the Netherlands; an unknown country is 422 naming the closest."""
    assert OTHER in _api_ids(site, country="NL")
    assert ARDA not in _api_ids(site, country="Canada")
    assert OTHER in _api_ids(site, country="ca")
    page = site.client.get("/w/mmn", params={"country": "NL"})
    assert f'href="/study/{OTHER}"' in studies_of(page.text)
    wrong = site.client.get("/api/watchlists/mmn/studies", params={"country": "Belgum"})
    assert wrong.status_code == 422
    assert "Belgium" in wrong.json()["error"]
    assert site.client.get("/w/mmn", params={"country": "Belgum"}).status_code == 422


@pytest.mark.parametrize("written", ["nct6742190", "NCT6742190", "nct06742190"])
def test_an_nct_id_is_read_as_people_write_it(site: LiveApp, written: str) -> None:
    """/study/<id> and /api/studies/<id> find the study under a loose spelling."""
    page = site.client.get(f"/study/{written}")
    assert page.status_code == 200
    assert OTHER in page.text
    api = site.client.get(f"/api/studies/{written}")
    assert api.status_code == 200
    assert api.json()["nct_id"] == OTHER
