"""Screenshots of the main pages at desktop and phone widths, in real Chromium.

They are saved under ``tests/artefacts/screenshots/`` to be looked at; the test checks
that each page renders its heading and has no horizontal scroll on a phone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import ARTEFACTS, LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn
from tests.web.test_admin import HASH, PASSWORD
from trialwatch.mail.signing import make_unsubscribe_token
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.subscribers import SubscriptionRequest

pytestmark = pytest.mark.slow

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def _manage_path(live: LiveApp) -> str:
    with session_scope(make_sessionmaker(live.engine)) as session:
        request = SubscriptionRequest(email="ana@example.org", watchlists=("mmn",))
        subscriber = subscriber_store.subscribe(session, request, datetime.now(UTC))
        token = make_unsubscribe_token(live.settings.secret_key, subscriber.token)
    return f"/manage/{token}"


def _shoot(page: Any, base: str, pages: dict[str, str], size: str) -> None:
    """Open each page: 200, a heading, a screenshot; on a phone, no sideways scroll."""
    folder = ARTEFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in pages.items():
        response = page.goto(base + path)
        assert response is not None
        assert response.status == 200, (name, response.status)
        assert page.locator("h1").first.inner_text().strip(), name
        page.screenshot(path=str(folder / f"{name}-{size}.png"), full_page=True)
        if size == "phone":
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (name, overflow)


def test_the_main_pages_render_at_desktop_and_phone_widths(
    engine: Engine, fake: FakeCtgov, live: LiveApp, browser: Any
) -> None:
    """Home, watchlist, study, subscribe and manage: a heading, no sideways scroll on a phone."""
    seed_mmn(engine, fake)
    pages = {
        "home": "/",
        "watchlist": "/w/mmn",
        "study": f"/study/{ARDA}",
        "subscribe": "/subscribe",
        "manage": _manage_path(live),
    }
    for size, (width, height) in SIZES.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            _shoot(page, live.url, pages, size)
        finally:
            context.close()


def test_the_admin_pages_render_at_desktop_and_phone_widths(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov, browser: Any
) -> None:
    """An admin logs in through the form; watchlists, subscribers and outbox render."""
    seed_mmn(engine, fake)
    port = _free_port()
    settings = web_settings(database_url, tmp_path, port, TRIALWATCH_ADMIN_PASSWORD_HASH=HASH)
    for live in serve(settings, engine, port):
        _manage_path(live)  # one subscriber to list
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            try:
                page = context.new_page()
                page.goto(live.url + "/admin")
                assert page.url.endswith("/admin/login"), page.url
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(live.url + "/admin")
                pages = {
                    "admin": "/admin",
                    "admin-subscribers": "/admin/subscribers",
                    "admin-outbox": "/admin/outbox",
                }
                _shoot(page, live.url, pages, size)
            finally:
                context.close()
