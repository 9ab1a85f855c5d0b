"""The Content-Security-Policy breaks nothing in real Chromium: every page, every form.

Chromium reports each blocked style, script, image or form target on the console;
the test walks the public pages, subscribes, confirms, manages, unsubscribes, and
uses every admin page and form, and asserts that no such report was made. A message
with a tracking image shows the reports are seen: its image is blocked, and said so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.factories import T0, prepare_due
from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import ARDA
from tests.web.test_admin import HASH, PASSWORD
from tests.web.test_admin_actions import _queued_message
from trialwatch.jobs.runner import Jobs
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest
from trialwatch.web import auth

pytestmark = pytest.mark.slow

CSP_WORDS = ("Content Security Policy", "Content-Security-Policy", "violates")


@pytest.fixture
def site(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov, monkeypatch: Any
) -> Iterator[LiveApp]:
    """The admin over MMN (syncing from the fake registry), ann's digest queued."""
    monkeypatch.setattr(auth, "FAILURE_DELAY", 0.0)
    prepare_due(engine, fake, ["ann@example.org"])
    port = _free_port()
    settings = web_settings(
        database_url,
        tmp_path,
        port,
        TRIALWATCH_ADMIN_PASSWORD_HASH=HASH,
        TRIALWATCH_API_URL=fake.base_url,
    )
    assert Jobs(settings, engine).build_digests().queued == 1
    yield from serve(settings, engine, port)


class Watched:
    """A Chromium page whose console reports and failed answers are kept."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page()
        self.reports: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.reports.append(f"pageerror: {error}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.reports.append(f"{message.type}: {message.text}")

    def open(self, url: str, heading: str | None = None) -> None:
        answer = self.page.goto(url)
        assert answer is not None
        assert answer.status == 200, (url, answer.status)
        if heading is not None:
            assert heading in self.page.locator("h1").inner_text(), url

    def csp_reports(self) -> list[str]:
        return [r for r in self.reports if any(word in r for word in CSP_WORDS)]


def _outbox_link(engine: Engine, kind: str, path: str) -> str:
    with session_scope(make_sessionmaker(engine)) as session:
        raw = session.scalars(
            select(Digest.message).where(Digest.kind == kind).order_by(Digest.id.desc())
        ).first()
    assert raw is not None
    from email import message_from_string, policy

    parsed = message_from_string(raw, policy=policy.default)
    body = parsed.get_body(("plain",))
    assert body is not None
    found = re.search(rf"http://\S+/{path}/[A-Za-z0-9_.\-]+", str(body.get_content()))
    assert found is not None
    return found.group(0)


def test_every_public_page_and_form_renders_under_the_policy(
    site: LiveApp, engine: Engine, browser: Any
) -> None:
    """Pages, filters, subscribe, confirm, manage and unsubscribe: no CSP report."""
    watched = Watched(browser)
    try:
        watched.open(f"{site.url}/", "Watchlists")
        watched.open(f"{site.url}/w/mmn")
        watched.page.locator("#status").select_option("RECRUITING")
        watched.page.get_by_role("button", name="Filter").click()
        assert "status=RECRUITING" in watched.page.url
        watched.open(f"{site.url}/study/{ARDA}")
        watched.open(f"{site.url}/subscribe")
        watched.page.get_by_label("Your email address").fill("bea@example.org")
        watched.page.get_by_label("Multifocal motor neuropathy").check()
        watched.page.get_by_role("button", name="Subscribe").click()
        assert watched.page.locator("h1").inner_text() == "Check your email"
        watched.open(_outbox_link(engine, "confirm", "confirm"), "Confirm your subscription")
        watched.page.get_by_role("button", name="Confirm my subscription").click()
        assert "Your subscription is active" in watched.page.locator("h1").inner_text()
        watched.open(_outbox_link(engine, "digest", "manage"), "Your subscription")
        watched.page.get_by_label("Once a week").check()
        watched.page.get_by_role("button", name="Save my choices").click()
        assert watched.page.get_by_role("status").inner_text() == "Your choices are saved."
        watched.page.get_by_role("button", name="Unsubscribe from everything").click()
        assert watched.page.locator("h1").inner_text() == "You are unsubscribed"
        watched.page.goto(f"{site.url}/no/such/page")
        assert watched.page.locator("h1").inner_text() == "Not Found"
        assert watched.csp_reports() == []
    finally:
        watched.page.close()


def test_every_admin_page_and_form_renders_under_the_policy(
    site: LiveApp, engine: Engine, browser: Any
) -> None:
    """Login, watchlists, subscribers, outbox, a digest's message, preview, logout."""
    with session_scope(make_sessionmaker(engine)) as session:
        session.add(
            Digest(
                kind="digest",
                status="queued",
                message_id="<csp@trialwatch.example>",
                recipient="ann@example.org",
                subject="A plain digest",
                message=(
                    "Subject: A plain digest\nMIME-Version: 1.0\n"
                    'Content-Type: multipart/alternative; boundary="b"\n\n'
                    '--b\nContent-Type: text/plain; charset="utf-8"\n\nHello\n'
                    '--b\nContent-Type: text/html; charset="utf-8"\n\n'
                    '<html><body style="font-family: sans-serif"><p>Hello</p></body></html>\n'
                    "--b--\n"
                ),
                covered={},
                next_attempt_at=T0,
                created_at=T0,
            )
        )
    watched = Watched(browser)
    try:
        page = watched.page
        watched.open(f"{site.url}/admin/login")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        assert "Wrong password." in page.content()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        assert page.locator("h1").inner_text() == "Watchlists"
        page.get_by_role("button", name=re.compile(r"^Sync .* now$")).first.click()
        assert "started" in page.get_by_role("status").first.inner_text()
        watched.open(f"{site.url}/admin/subscribers", "Subscribers")
        watched.open(f"{site.url}/admin/outbox", "Outbox")
        page.get_by_role("link", name=re.compile(r"\(open\)")).first.click()
        assert page.locator("h1").inner_text().startswith("Message")
        assert page.frame_locator("iframe").locator("p").inner_text() == "Hello"
        watched.open(f"{site.url}/admin/preview?email=ann%40example.org", "Digest preview")
        page.get_by_role("button", name="Log out").click()
        assert "/admin/login" in page.url
        assert watched.csp_reports() == []
    finally:
        watched.page.close()


def test_the_policy_blocks_a_tracking_image_in_a_message(
    site: LiveApp, engine: Engine, browser: Any
) -> None:
    """The reports are seen: a message's remote image is blocked and reported."""
    digest_id = _queued_message(engine)
    watched = Watched(browser)
    try:
        page = watched.page
        watched.open(f"{site.url}/admin/login")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        watched.open(f"{site.url}/admin/outbox/{digest_id}")
        page.wait_for_timeout(300)
        reports = watched.csp_reports()
        assert any("tracker.example" in r for r in reports), watched.reports
    finally:
        watched.page.close()
