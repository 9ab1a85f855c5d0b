"""What every answer carries: security headers, checked hosts, relative redirects, HEAD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    """The app over the synced MMN watchlist."""
    seed_mmn(engine, fake)
    port = _free_port()
    yield from serve(web_settings(database_url, tmp_path, port), engine, port)


PATHS = ["/", "/w/mmn", f"/study/{ARDA}", "/w/mmn/feed.atom", "/api/watchlists", "/subscribe"]


def test_every_answer_carries_the_security_headers(site: LiveApp) -> None:
    """A CSP without inline script, no framing, nosniff and a same-origin referrer."""
    for path in [*PATHS, *PATHS, "/admin/login", "/no/such/page", "/healthz"]:
        # each public page twice: the second answer comes from the cache
        answer = site.client.get(path)
        csp = answer.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp, (path, csp)
        assert "frame-ancestors 'none'" in csp
        assert "script-src" not in csp or "'unsafe-inline'" not in csp.split("script-src")[1]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in answer.headers  # plain http


def test_hsts_is_sent_when_the_public_url_is_https(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Behind a TLS proxy the public URL is https: browsers are told to stay on it."""
    port = _free_port()
    settings = web_settings(
        database_url,
        tmp_path,
        port,
        TRIALWATCH_PUBLIC_URL="https://trials.example.org",
    )
    for live in serve(settings, engine, port):
        answer = live.client.get("/", headers={"Host": "trials.example.org"})
        assert answer.status_code == 200
        assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_docs_are_off_and_the_openapi_document_stays(live: LiveApp) -> None:
    """/docs would load its script from a CDN; /openapi.json stays; /healthz answers any host."""
    assert live.client.get("/docs").status_code == 404
    assert live.client.get("/redoc").status_code == 404
    assert live.client.get("/openapi.json").status_code == 200
    assert live.client.get("/healthz", headers={"Host": "web:8000"}).status_code == 200
    assert live.client.get("/", headers={"Host": "web:8000"}).status_code == 400


def test_a_foreign_host_is_refused_and_redirects_are_relative(site: LiveApp) -> None:
    """Host: evil.example never reaches a page, and no Location names a host."""
    for path in ("/w/mmn/", "/w/mmn", "/admin", "/api/watchlists"):
        answer = site.client.get(path, headers={"Host": "evil.example"})
        assert answer.status_code == 400
        assert "evil.example" not in answer.headers.get("location", "")
        own = site.client.get(path)
        assert own.status_code in (200, 303, 307)
        location = own.headers.get("location", "/")
        assert location.startswith("/"), location
        assert not location.startswith("//"), location


def test_head_works_on_every_get_route(site: LiveApp) -> None:
    """HEAD answers like GET, without a body, cached or not."""
    for path in [*PATHS, "/admin/login", "/w/mmn?status=RECRUITING"]:
        head_first = site.client.head(path)
        got = site.client.get(path)
        head = site.client.head(path)
        assert head_first.status_code == head.status_code == got.status_code == 200, path
        assert head.content == head_first.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]


def test_head_works_without_the_cache(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov
) -> None:
    """TRIALWATCH_WEB_CACHE=false: HEAD still answers 200."""
    seed_mmn(engine, fake)
    port = _free_port()
    settings = web_settings(database_url, tmp_path, port, TRIALWATCH_WEB_CACHE="false")
    for live in serve(settings, engine, port):
        for path in ("/", "/w/mmn", "/api/watchlists", "/subscribe"):
            assert live.client.head(path).status_code == 200, path
