"""The manage page of a bounced subscriber says so and offers to send again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, update

from tests.web.conftest import LiveApp
from tests.web.helpers_subscribe import subscriber
from tests.web.test_unsubscribe import _active
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Subscriber


def _bounce(engine: Engine) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        session.execute(update(Subscriber).values(status="bounced", bounced_at=datetime.now(UTC)))


def test_a_bounced_subscriber_is_told_and_can_reactivate(live: LiveApp, engine: Engine) -> None:
    token = _active(engine)
    _bounce(engine)
    page = live.client.get(f"/manage/{token}")
    assert page.status_code == 200
    assert "refused" in page.text
    assert f'action="/manage/{token}/reactivate"' in page.text

    saved = live.client.post(f"/manage/{token}", data={"watchlist": "mmn", "frequency": "weekly"})
    assert saved.status_code == 200
    assert "Your choices are saved." not in saved.text  # not while nothing is sent
    assert "paused" in saved.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "bounced"

    done = live.client.post(f"/manage/{token}/reactivate")
    assert done.status_code == 200
    assert "will be sent again" in done.text
    assert f'action="/manage/{token}/reactivate"' not in done.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert (row.status, row.bounced_at) == ("active", None)


def test_reactivating_a_forged_link_changes_nothing(live: LiveApp, engine: Engine) -> None:
    token = _active(engine)
    _bounce(engine)
    assert live.client.post(f"/manage/{token}x/reactivate").status_code == 400
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "bounced"
