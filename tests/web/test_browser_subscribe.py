"""A person subscribes in real Chromium, confirms from the email, manages, unsubscribes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import change_status, sync_mmn
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer
from tests.web.conftest import LiveApp, serve, web_settings
from tests.web.helpers_subscribe import frequencies, link, seed, subscriber
from trialwatch.jobs.runner import Jobs

pytestmark = pytest.mark.slow


@pytest.fixture
def mailing_app(
    engine: Engine, database_url: str, tmp_path: Path
) -> Iterator[tuple[LiveApp, SmtpServer]]:
    """The app, mailing through a loopback aiosmtpd."""
    with SmtpServer() as smtp:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        settings = web_settings(
            database_url, tmp_path, port, TRIALWATCH_MAIL="smtp", TRIALWATCH_SMTP_URL=smtp.url
        )
        for app in serve(settings, engine, port):
            yield app, smtp


def test_subscribe_confirm_manage_and_unsubscribe_in_chromium(
    mailing_app: tuple[LiveApp, SmtpServer], engine: Engine, fake: FakeCtgov, browser: Any
) -> None:
    live, smtp = mailing_app
    seed(engine, fake)
    jobs = Jobs(live.settings, engine)
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    try:
        page.goto(f"{live.url}/subscribe")
        page.get_by_label("Your email address").fill("ana@example.org")
        page.get_by_label("Multifocal motor neuropathy").check()
        page.get_by_label("As soon as something changes").check()
        page.get_by_label("Every change, small ones too").check()
        page.get_by_role("button", name="Subscribe").click()
        assert page.locator("h1").inner_text() == "Check your email"
        row = subscriber(engine, "ana@example.org")
        assert row is not None
        assert row.status == "pending"

        jobs.deliver()
        assert len(smtp.messages) == 1
        page.goto(link(smtp.messages[0].message, "confirm"))
        assert page.locator("h1").inner_text() == "Confirm your subscription"
        assert "As soon as something changes" in page.locator("main").inner_text()
        row = subscriber(engine, "ana@example.org")
        assert row is not None
        assert row.status == "pending"  # opening the link (a mail scanner may) confirms nothing
        page.get_by_role("button", name="Confirm my subscription").click()
        assert page.locator("h1").inner_text() == "Your subscription is active"
        row = subscriber(engine, "ana@example.org")
        assert row is not None
        assert row.status == "active"

        change_status(fake, "NCT05225675", "COMPLETED", "2026-11-28")
        sync_mmn(engine, fake)
        assert jobs.build_digests().queued == 1
        jobs.deliver()
        assert len(smtp.messages) == 2
        page.goto(link(smtp.messages[1].message, "manage"))
        page.get_by_label("Once a week").check()
        page.get_by_role("button", name="Save my choices").click()
        assert page.get_by_role("status").inner_text() == "Your choices are saved."
        assert frequencies(engine, "ana@example.org") == ["weekly"]

        page.get_by_role("button", name="Unsubscribe from everything").click()
        assert page.locator("h1").inner_text() == "You are unsubscribed"
        row = subscriber(engine, "ana@example.org")
        assert row is not None
        assert row.status == "unsubscribed"
    finally:
        page.close()
