"""Public pages: the watchlists, a watchlist's studies and changes, a study's history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn

XSS = "<script>alert('x')</script> & more"


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    """The app over the synced MMN watchlist (one study titled with markup)."""
    seed_mmn(engine, fake, title=XSS)
    port = _free_port()
    yield from serve(web_settings(database_url, tmp_path, port), engine, port)


def test_the_index_lists_the_watchlists(site: LiveApp) -> None:
    page = site.client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Multifocal motor neuropathy" in page.text
    assert 'href="/w/mmn"' in page.text
    assert "<caption>" in page.text
    assert '<th scope="col">' in page.text


def test_a_watchlist_page_lists_its_studies_changes_and_feed(site: LiveApp) -> None:
    page = site.client.get("/w/mmn")
    assert page.status_code == 200
    assert f'href="/study/{ARDA}"' in page.text
    assert "argenx" in page.text  # the sponsor, from the record
    assert "Netherlands" in page.text  # a country, from the record
    assert re.search(
        r'<link rel="alternate" type="application/atom\+xml"[^>]*href="[^"]*/w/mmn/feed\.atom"',
        page.text,
    )
    assert "COMPLETED" in page.text or "Completed" in page.text
    assert '<label for="status"' in page.text
    assert '<label for="country"' in page.text


def test_the_filters_narrow_the_studies(site: LiveApp) -> None:
    by_country = studies_of(site.client.get("/w/mmn", params={"country": "belgium"}).text)
    assert f'href="/study/{ARDA}"' in by_country
    assert 'href="/study/NCT06742190"' not in by_country  # Canada, Italy, Netherlands
    by_status = studies_of(site.client.get("/w/mmn", params={"status": "RECRUITING"}).text)
    assert 'href="/study/NCT06742190"' in by_status
    assert f'href="/study/{ARDA}"' not in by_status


def studies_of(page: str) -> str:
    """The studies section of a watchlist page (before its recent changes)."""
    return page.split('<h2 id="changes"')[0]


def test_registry_text_is_escaped(site: LiveApp) -> None:
    for path in ("/w/mmn", "/study/NCT06537999"):
        text = site.client.get(path).text
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(" in text


def test_a_study_page_shows_its_summary_history_and_changes(site: LiveApp) -> None:
    page = site.client.get(f"/study/{ARDA}")
    assert page.status_code == 200
    assert f'href="https://clinicaltrials.gov/study/{ARDA}"' in page.text
    assert "argenx" in page.text
    assert "Multifocal Motor Neuropathy" in page.text  # a condition
    assert "Version history" in page.text
    assert re.search(r"Completed|COMPLETED", page.text)
    assert site.client.get(f"/study/{ARDA.lower()}").status_code == 200


def test_unknown_watchlists_and_studies_are_404_pages(site: LiveApp) -> None:
    for path in ("/w/nope", "/study/NCT00000000", "/w/nope/feed.atom"):
        response = site.client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]


def test_a_long_watchlist_pages_by_50(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov
) -> None:
    seed_mmn(engine, fake, extra=55)
    port = _free_port()
    for app in serve(web_settings(database_url, tmp_path, port), engine, port):
        first = app.client.get("/w/mmn").text
        assert len(re.findall(r'<tr>\s*<th scope="row"><a href="/study/', first)) == 50
        assert 'rel="next"' in first
        assert 'rel="prev"' not in first
        second = app.client.get("/w/mmn", params={"page": 2}).text
        assert 'rel="prev"' in second
        assert 'rel="next"' not in second
        rows = len(re.findall(r'<tr>\s*<th scope="row"><a href="/study/', second))
        assert rows >= 5
        assert app.client.get("/w/mmn", params={"page": "x"}).status_code == 200
