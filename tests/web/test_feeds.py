"""The Atom feed of a watchlist's changes: one entry per study per sync run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(document: bytes) -> ET.Element:
    """Our own app's feed (trusted: the test server on loopback)."""
    return ET.fromstring(document)  # noqa: S314


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    seed_mmn(engine, fake, title="<b>bold</b> & co")
    port = _free_port()
    yield from serve(web_settings(database_url, tmp_path, port), engine, port)


def test_the_feed_is_atom_with_an_entry_per_study_and_run(site: LiveApp) -> None:
    response = site.client.get("/w/mmn/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = parse(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert (feed.findtext(f"{ATOM}id") or "").startswith("tag:127.0.0.1,2026:trialwatch/mmn")
    assert feed.findtext(f"{ATOM}updated")
    entries = feed.findall(f"{ATOM}entry")
    assert entries
    for entry in entries:
        assert (entry.findtext(f"{ATOM}id") or "").startswith("tag:127.0.0.1,2026:trialwatch/mmn/")
        assert entry.findtext(f"{ATOM}title")
        assert entry.findtext(f"{ATOM}updated")
        link = entry.find(f"{ATOM}link")
        assert link is not None
        assert "/study/NCT" in link.attrib["href"]
        assert entry.findtext(f"{ATOM}content")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(ids) == len(set(ids))
    newest = entries[0]
    assert ARDA in (newest.findtext(f"{ATOM}id") or "")  # the status change is the newest
    assert "Completed" in (newest.findtext(f"{ATOM}content") or "")


def test_entry_ids_are_stable_across_fetches(site: LiveApp) -> None:
    def ids() -> list[str | None]:
        feed = parse(site.client.get("/w/mmn/feed.atom").content)
        return [e.findtext(f"{ATOM}id") for e in feed.findall(f"{ATOM}entry")]

    assert ids() == ids()


def test_registry_markup_in_the_feed_is_text(site: LiveApp) -> None:
    text = site.client.get("/w/mmn/feed.atom").text
    assert "<b>bold</b>" not in text
    parse(text.encode())
