"""Digest links over HTTP: RFC 8058 one-click, the manage page, forged tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine

from tests.web.conftest import SECRET, LiveApp
from tests.web.helpers_subscribe import frequencies, seed, subscriber
from trialwatch.mail.signing import make_unsubscribe_token
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.subscribers import SubscriptionRequest

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _active(engine: Engine, email: str = "ana@example.org") -> str:
    """An active subscriber to MMN; their digest link token."""
    seed(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        request = SubscriptionRequest(email=email, watchlists=("mmn",), frequency="daily")
        row = subscriber_store.subscribe(session, request, datetime.now(UTC))
        return make_unsubscribe_token(SECRET, row.token)


def test_one_click_works_without_cookies_and_twice(live: LiveApp, engine: Engine) -> None:
    token = _active(engine)
    with httpx.Client(base_url=live.url, timeout=10) as bare:  # no cookies, no earlier GET
        first = bare.post(f"/unsubscribe/{token}", data=ONE_CLICK)
        second = bare.post(f"/unsubscribe/{token}", data=ONE_CLICK)
    assert first.status_code == 200
    assert second.status_code == 200
    assert "You are unsubscribed" in first.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "unsubscribed"
    assert frequencies(engine, "ana@example.org") == []


def test_the_unsubscribe_page_asks_first(live: LiveApp, engine: Engine) -> None:
    token = _active(engine)
    page = live.client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert f'action="/unsubscribe/{token}"' in page.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "active"


def test_the_manage_page_changes_preferences(live: LiveApp, engine: Engine) -> None:
    token = _active(engine)
    page = live.client.get(f"/manage/{token}")
    assert page.status_code == 200
    assert "ana@example.org" in page.text
    assert 'value="daily" checked' in page.text
    saved = live.client.post(
        f"/manage/{token}",
        data={"watchlist": "mmn", "frequency": "weekly", "significance": "major"},
    )
    assert saved.status_code == 200
    assert "saved" in saved.text
    assert frequencies(engine, "ana@example.org") == ["weekly"]
    empty = live.client.post(f"/manage/{token}", data={"frequency": "daily"})
    assert empty.status_code == 400
    assert frequencies(engine, "ana@example.org") == ["weekly"]


def test_forged_or_altered_tokens_change_nothing(live: LiveApp, engine: Engine) -> None:
    token = _active(engine)
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    altered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    other_key = make_unsubscribe_token("another-key-of-at-least-thirty-two-bytes", row.token)
    for bad in (altered, other_key, "garbage", token + "x"):
        assert live.client.post(f"/unsubscribe/{bad}", data=ONE_CLICK).status_code == 400
        assert live.client.get(f"/unsubscribe/{bad}").status_code == 400
        assert live.client.get(f"/manage/{bad}").status_code == 400
        changed = live.client.post(
            f"/manage/{bad}", data={"watchlist": "mmn", "frequency": "weekly"}
        )
        assert changed.status_code == 400
    after = subscriber(engine, "ana@example.org")
    assert after is not None
    assert after.status == "active"
    assert frequencies(engine, "ana@example.org") == ["daily"]
