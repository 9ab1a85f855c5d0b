"""Subscriptions in the store: the "near me" place and radius are kept, replaced and cleared."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from trialwatch.errors import ConfigError
from trialwatch.services import watchlist_files
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.subscribers import NearSpec, SubscriptionRequest
from trialwatch.watchlists import Criteria, WatchlistSpec

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LEIDEN = NearSpec(label="Leiden, Netherlands", lat=52.15833, lon=4.49306, within_km=25.0)


def _request(near: NearSpec | None = None) -> SubscriptionRequest:
    return dataclasses.replace(
        SubscriptionRequest(email="ana@example.org", watchlists=("mmn",)), near=near
    )


def _near(engine: Engine) -> tuple[object, ...]:
    with session_scope(make_sessionmaker(engine)) as session:
        [(sub, _)] = subscriber_store.subscriptions_of(
            session, subscriber_store.get_subscriber(session, "ana@example.org")
        )
        return (sub.near_label, sub.near_lat, sub.near_lon, sub.near_within_km)


def test_a_near_place_is_stored_replaced_and_cleared(engine: Engine) -> None:
    """Each subscribe sets the place as asked; without one the filter is gone."""
    with session_scope(make_sessionmaker(engine)) as session:
        spec = WatchlistSpec(slug="mmn", name="MMN", criteria=Criteria(conditions=("mmn",)))
        watchlist_files.save(session, [spec], T0)
        subscriber_store.subscribe(session, _request(near=LEIDEN), T0)
    assert _near(engine) == ("Leiden, Netherlands", 52.15833, 4.49306, 25.0)

    with session_scope(make_sessionmaker(engine)) as session:
        wider = dataclasses.replace(LEIDEN, within_km=150.0)
        subscriber_store.subscribe(session, _request(near=wider), T0)
    assert _near(engine)[3] == 150.0

    with session_scope(make_sessionmaker(engine)) as session:
        subscriber_store.subscribe(session, _request(), T0)
    assert _near(engine) == (None, None, None, None)


@pytest.mark.parametrize(
    ("near", "message"),
    [
        (dataclasses.replace(LEIDEN, label="x" * 201), "near: the place's name must be 1 to 200"),
        (dataclasses.replace(LEIDEN, lat=95.0), "near: (95.0, 4.49306) are not coordinates"),
        (dataclasses.replace(LEIDEN, within_km=0.0), "within: 0 km is not a distance"),
    ],
)
def test_a_near_place_that_cannot_be_stored_is_refused(near: NearSpec, message: str) -> None:
    """The store checks what it keeps: a label that fits, real coordinates, a distance."""
    with pytest.raises(ConfigError) as caught:
        subscriber_store.validate_request(_request(near=near))
    assert str(caught.value).startswith(message)
