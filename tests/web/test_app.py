"""The web app answers on loopback; unknown pages are a page, unknown API paths are JSON."""

from __future__ import annotations

from tests.web.conftest import LiveApp


def test_the_app_serves_its_health_and_openapi_document(live: LiveApp) -> None:
    """/healthz is ok and /openapi.json describes the app."""
    assert live.client.get("/healthz").json() == {"status": "ok"}
    document = live.client.get("/openapi.json").json()
    assert document["info"]["title"] == "TrialWatch"


def test_an_unknown_page_is_an_html_404_and_an_unknown_api_path_json(live: LiveApp) -> None:
    """Errors are a readable page for people and JSON with a message for programs."""
    page = live.client.get("/no/such/page")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "<h1>Not Found</h1>" in page.text
    api = live.client.get("/api/no/such/thing")
    assert api.status_code == 404
    assert api.json() == {"error": "Not Found"}
