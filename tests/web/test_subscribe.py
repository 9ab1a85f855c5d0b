"""Subscribing over HTTP: the form, one confirmation email, the confirmation link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.factories import T0, send
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer
from tests.web.conftest import SECRET, LiveApp
from tests.web.helpers_subscribe import (
    FORM,
    link,
    nonce_of,
    outbox_kinds,
    post_subscribe,
    seed,
    subscriber,
)
from trialwatch.mail.outbox_rows import MailSettings
from trialwatch.mail.signing import make_confirm_token
from trialwatch.mail.templates import make_environment
from trialwatch.services import subscriptions
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.subscribers import SubscriptionRequest


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def test_the_form_offers_watchlists_and_their_countries(
    live: LiveApp, engine: Engine, fake: FakeCtgov
) -> None:
    seed(engine, fake)
    page = live.client.get("/subscribe")
    assert page.status_code == 200
    assert 'name="watchlist" value="mmn"' in page.text
    assert 'name="frequency" value="immediate"' in page.text
    assert 'name="significance" value="major"' in page.text
    assert 'name="country" value="United States"' in page.text
    assert '<label for="email">' in page.text


def test_a_request_makes_a_pending_subscriber_and_one_confirmation(
    live: LiveApp, engine: Engine
) -> None:
    seed(engine)
    reply = post_subscribe(live.client, FORM)
    assert reply.status_code == 200
    assert "Check your email" in reply.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "pending"
    assert row.confirm_sent_at is not None
    assert outbox_kinds(engine) == [("confirm", "ana@example.org")]


def test_two_requests_send_one_confirmation_email(
    live: LiveApp, engine: Engine, smtp: SmtpServer
) -> None:
    seed(engine)
    first = post_subscribe(live.client, FORM)
    second = post_subscribe(live.client, {**FORM, "frequency": "daily"})
    assert first.text == second.text
    send(engine, smtp.url, now=datetime.now(UTC) + timedelta(seconds=5))
    assert len(smtp.messages) == 1
    assert smtp.messages[0].message["To"] == "ana@example.org"
    assert "/confirm/" in link(smtp.messages[0].message, "confirm")


def test_the_page_does_not_reveal_an_existing_subscription(live: LiveApp, engine: Engine) -> None:
    seed(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        request = SubscriptionRequest(email="old@example.org", watchlists=("mmn",))
        subscriber_store.subscribe(session, request, datetime.now(UTC))
    new = post_subscribe(live.client, FORM)
    existing = post_subscribe(live.client, {**FORM, "email": "Old@Example.org"})
    assert (new.status_code, new.text) == (existing.status_code, existing.text)
    old = subscriber(engine, "old@example.org")
    assert old is not None
    assert old.status == "active"
    # The active subscriber's preferences are not changed by whoever typed the address.
    assert outbox_kinds(engine) == [("confirm", "ana@example.org")]


def test_an_invalid_address_shows_the_form_again_escaped(live: LiveApp, engine: Engine) -> None:
    seed(engine)
    reply = post_subscribe(live.client, {**FORM, "email": "<b>not-an-address"})
    assert reply.status_code == 400
    assert "<b>not-an-address" not in reply.text
    assert "&lt;b&gt;not-an-address" in reply.text
    assert outbox_kinds(engine) == []


def test_the_confirmation_link_activates(live: LiveApp, engine: Engine, smtp: SmtpServer) -> None:
    seed(engine)
    post_subscribe(live.client, FORM)
    send(engine, smtp.url, now=datetime.now(UTC) + timedelta(seconds=5))
    url = link(smtp.messages[0].message, "confirm")
    page = live.client.post(url)
    assert page.status_code == 200
    assert "Your subscription is active" in page.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "active"
    assert row.confirmed_at is not None
    for again in (live.client.get(url), live.client.post(url)):
        assert again.status_code == 200
        assert "already active" in again.text


def test_a_tampered_confirmation_link_changes_nothing(live: LiveApp, engine: Engine) -> None:
    seed(engine)
    post_subscribe(live.client, FORM)
    nonce = nonce_of(engine, "ana@example.org")
    token = make_confirm_token(SECRET, nonce, datetime.now(UTC))
    for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "x" + token, "nonsense"):
        for page in (live.client.get(f"/confirm/{bad}"), live.client.post(f"/confirm/{bad}")):
            assert page.status_code == 400
            assert "not valid" in page.text
    forged = make_confirm_token("another-key-of-at-least-thirty-two-bytes", nonce, T0)
    assert live.client.post(f"/confirm/{forged}").status_code == 400
    after = subscriber(engine, "ana@example.org")
    assert after is not None
    assert after.status == "pending"


def test_an_expired_confirmation_says_so_and_offers_a_new_email(
    live: LiveApp, engine: Engine, tmp_path: Path
) -> None:
    seed(engine)
    long_ago = datetime.now(UTC) - timedelta(days=8)
    mail = MailSettings(sender="TrialWatch <tw@example.org>", public_url=live.url, secret=SECRET)
    with session_scope(make_sessionmaker(engine)) as session:
        prefs = subscriptions.Preferences(watchlists=("mmn",))
        subscriptions.request_subscription(
            session, make_environment(), mail, "late@example.org", prefs, long_ago
        )
    token = make_confirm_token(SECRET, nonce_of(engine, "late@example.org"), long_ago)
    for page in (live.client.get(f"/confirm/{token}"), live.client.post(f"/confirm/{token}")):
        assert page.status_code == 410
        assert "expired" in page.text
        assert f'action="/confirm/{token}/resend"' in page.text
    still = subscriber(engine, "late@example.org")
    assert still is not None
    assert still.status == "pending"
    resent = live.client.post(f"/confirm/{token}/resend")
    assert resent.status_code == 200
    assert "Check your email" in resent.text
    assert outbox_kinds(engine) == [("confirm", "late@example.org")] * 2
