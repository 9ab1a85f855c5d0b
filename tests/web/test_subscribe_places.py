"""The subscribe and manage forms: countries are checked, and "near me" is offered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from tests.web.conftest import SECRET, LiveApp
from tests.web.helpers_subscribe import FORM, asked, outbox_kinds, post_subscribe, seed
from trialwatch.mail.signing import make_unsubscribe_token
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Subscription
from trialwatch.store.subscribers import SubscriptionRequest
from trialwatch.web.limits import PER_CLIENT


def _subscription(engine: Engine) -> tuple[list[str], str | None, float | None]:
    with make_sessionmaker(engine)() as session:
        sub = session.scalars(select(Subscription)).one()
        return list(sub.countries), sub.near_label, sub.near_within_km


def _active(engine: Engine) -> str:
    seed(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        request = SubscriptionRequest(email="ana@example.org", watchlists=("mmn",))
        row = subscriber_store.subscribe(session, request, datetime.now(UTC))
        return make_unsubscribe_token(SECRET, row.token)


def test_the_form_offers_a_place_and_a_distance(live: LiveApp, engine: Engine) -> None:
    """Both fields, labelled, the distance at its default of 100 km."""
    seed(engine)
    page = live.client.get("/subscribe")
    assert '<input id="near" name="near" type="text"' in page.text
    assert '<input id="within" name="within" type="number" min="1" max="5000"' in page.text
    assert 'value="100"' in page.text
    assert '<label for="near">' in page.text


def test_a_posted_country_is_spelled_as_the_registry_does(live: LiveApp, engine: Engine) -> None:
    """Holland is stored as Netherlands."""
    seed(engine)
    reply = post_subscribe(live.client, {**FORM, "country": ["Holland"]})
    assert reply.status_code == 200
    assert asked(engine)["countries"] == ["Netherlands"]


def test_a_posted_unknown_country_is_refused_not_dropped(live: LiveApp, engine: Engine) -> None:
    """Narnia was silently dropped, leaving a subscriber who thought they filtered: now 400."""
    seed(engine)
    reply = post_subscribe(live.client, {**FORM, "country": ["Narnia"]})
    assert reply.status_code == 400
    assert "Country: &#39;Narnia&#39; is not a country the registry knows" in reply.text
    assert outbox_kinds(engine) == []


def test_a_request_near_a_place_stores_it(live: LiveApp, engine: Engine) -> None:
    """Leiden within 40 km, as typed on the form."""
    seed(engine)
    data = {**FORM, "near": "Leiden, Netherlands", "within": "40"}
    assert post_subscribe(live.client, data).status_code == 200
    choices = asked(engine)
    assert (choices["near"]["label"], choices["near"]["within_km"]) == ("Leiden, Netherlands", 40)


def test_an_ambiguous_place_shows_the_form_again_with_the_candidates(
    live: LiveApp, engine: Engine
) -> None:
    """Paris: 400, the candidates listed, what was typed kept in the field."""
    seed(engine)
    reply = post_subscribe(live.client, {**FORM, "near": "Paris", "within": "100"})
    assert reply.status_code == 400
    assert "Near: &#39;Paris&#39; is ambiguous: Paris, France; Paris, United States" in reply.text
    assert 'name="near" type="text"' in reply.text
    assert 'value="Paris"' in reply.text
    assert outbox_kinds(engine) == []


def test_the_distance_alone_is_ignored_without_a_place(live: LiveApp, engine: Engine) -> None:
    """The default 100 in the distance field does not need a place."""
    seed(engine)
    assert post_subscribe(live.client, {**FORM, "within": "100"}).status_code == 200
    assert asked(engine)["near"] is None


def test_the_manage_page_shows_and_changes_the_place(live: LiveApp, engine: Engine) -> None:
    """Saved near Leiden, shown again as "Leiden, Netherlands"; cleared by an empty field."""
    token = _active(engine)
    data = {"watchlist": "mmn", "frequency": "daily", "significance": "major"}
    saved = live.client.post(f"/manage/{token}", data={**data, "near": "leiden", "within": "25"})
    assert saved.status_code == 200
    assert _subscription(engine) == ([], "Leiden, Netherlands", 25.0)
    page = live.client.get(f"/manage/{token}")
    assert 'value="Leiden, Netherlands"' in page.text
    assert 'value="25"' in page.text
    bad = live.client.post(f"/manage/{token}", data={**data, "near": "Leiden", "within": "x"})
    assert bad.status_code == 400
    assert "Within: &#39;x&#39; is not a number of kilometres" in bad.text
    assert live.client.post(f"/manage/{token}", data={**data, "near": ""}).status_code == 200
    assert _subscription(engine) == ([], None, None)


@pytest.mark.usefixtures("still_clock")
def test_place_lookups_count_against_the_subscribe_limits(live: LiveApp, engine: Engine) -> None:
    """Unknown places on the form, then a place on the manage form: 429 once over the limit."""
    token = _active(engine)
    codes = [
        post_subscribe(live.client, {**FORM, "near": f"Xyzzyville {n}"}).status_code
        for n in range(PER_CLIENT.limit + 1)
    ]
    assert codes == [400] * PER_CLIENT.limit + [429]
    data = {"watchlist": "mmn", "frequency": "daily", "significance": "major"}
    assert live.client.post(f"/manage/{token}", data={**data, "near": "Leiden"}).status_code == 429
    assert live.client.post(f"/manage/{token}", data=data).status_code == 200
