"""The subscribe path as strangers use it: prefetched links, timing, floods, forged forms."""

from __future__ import annotations

import re
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from itsdangerous import Signer
from sqlalchemy import Engine, delete, select

from tests.factories import send
from tests.support.smtpserver import SmtpServer
from tests.web.conftest import SECRET, LiveApp, serve, web_settings
from tests.web.helpers_subscribe import FORM, link, outbox_kinds, post_subscribe, seed, subscriber
from trialwatch.mail.outbox_rows import MailSettings
from trialwatch.mail.templates import make_environment
from trialwatch.services import subscriptions
from trialwatch.store import ratelimits
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.models import Digest, RateLimit
from trialwatch.store.subscribers import SubscriptionRequest


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _confirms(engine: Engine) -> int:
    return sum(1 for kind, _ in outbox_kinds(engine) if kind == "confirm")


def test_opening_the_confirmation_link_shows_the_choices_and_only_the_button_confirms(
    live: LiveApp, engine: Engine, smtp: SmtpServer
) -> None:
    """A mail scanner's GET confirms nothing; the page says what the button confirms."""
    seed(engine)
    assert post_subscribe(live.client, FORM).status_code == 200
    send(engine, smtp.url, now=datetime.now(UTC) + timedelta(seconds=5))
    url = link(smtp.messages[0].message, "confirm")
    path = url.removeprefix(live.url)
    page = live.client.get(url)
    assert page.status_code == 200
    assert "Once a week" in page.text
    assert "Every change, small ones too" in page.text
    assert f'<form method="post" action="{path}">' in page.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "pending"
    done = live.client.post(url)
    assert done.status_code == 200
    assert "Your subscription is active" in done.text
    row = subscriber(engine, "ana@example.org")
    assert row is not None
    assert row.status == "active"


def _token(client: httpx.Client) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', client.get("/subscribe").text)
    return found.group(1) if found else ""


@pytest.mark.slow
def test_the_answer_takes_as_long_for_an_active_address_as_for_a_new_one(
    live: LiveApp, engine: Engine
) -> None:
    """30 new and 30 active addresses, in pairs: the times are close, the spreads overlap.

    It was 12 ms for an active address and 27 ms for a new one (79/80 told apart).
    """
    seed(engine)
    active = [f"member{i}@example.org" for i in range(30)]
    fresh = [f"new{i}-{uuid.uuid4().hex[:8]}@example.org" for i in range(30)]
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as session:
        for email in active:
            request = SubscriptionRequest(email=email, watchlists=("mmn",))
            subscriber_store.subscribe(session, request, datetime.now(UTC))
    token = _token(live.client)

    def timed(email: str) -> float:
        with session_scope(sessions) as session:  # not timed: the limits are not the subject
            session.execute(delete(RateLimit))
        start = time.perf_counter()
        reply = live.client.post("/subscribe", data={**FORM, "email": email, "form_token": token})
        elapsed = time.perf_counter() - start
        assert reply.status_code == 200, reply.text
        return elapsed

    for email in ("warm1@example.org", "member0@example.org") * 2:
        timed(email)
    times: dict[str, list[float]] = {"new": [], "active": []}
    for i in range(30):
        pair = [("new", fresh[i]), ("active", active[i])]
        for kind, email in pair if i % 2 else reversed(pair):
            times[kind].append(timed(email))
    new, old = (statistics.quantiles(times[k], n=4) for k in ("new", "active"))
    # Each pair ran back to back, so a burst of load elsewhere slows both alike.
    ratio = statistics.median(n / a for n, a in zip(times["new"], times["active"], strict=True))
    summary = {k: [round(t * 1000, 1) for t in sorted(v)] for k, v in times.items()}
    assert 1 / 1.5 < ratio < 1.5, (ratio, summary)
    assert new[0] <= old[2], summary  # the middle halves overlap
    assert old[0] <= new[2], summary
    assert _confirms(engine) == 30 + 1  # and warm1@, once in ten minutes


@pytest.mark.usefixtures("still_clock")
def test_address_variants_from_one_client_are_limited_then_answered_429(
    live: LiveApp, engine: Engine
) -> None:
    """30 posts of victim+N@example.org in a few seconds queued 30 confirmations."""
    seed(engine)
    replies = [
        post_subscribe(live.client, {**FORM, "email": f"victim+{n}@example.org"}) for n in range(30)
    ]
    codes = [r.status_code for r in replies]
    assert codes[:3] == [200, 200, 200]
    assert set(codes) == {200, 429}, codes
    busy = next(r for r in replies if r.status_code == 429)
    assert "try again later" in busy.text.lower()
    assert "Traceback" not in busy.text
    assert int(busy.headers["Retry-After"]) > 0
    assert _confirms(engine) <= 3


def test_the_limits_hold_across_web_processes(
    live: LiveApp, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A client turned away by one web process is turned away by another (a restart too)."""
    seed(engine)
    codes = []
    for n in range(40):
        codes.append(
            post_subscribe(live.client, {**FORM, "email": f"p{n}@example.org"}).status_code
        )
        if codes[-1] == 429:
            break
    assert codes[-1] == 429, codes
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    other_engine = make_engine(database_url)
    try:
        for other in serve(web_settings(database_url, tmp_path, port), other_engine, port):
            reply = post_subscribe(other.client, {**FORM, "email": "late@example.org"})
            assert reply.status_code == 429
    finally:
        other_engine.dispose()
    assert subscriber(engine, "late@example.org") is None


@pytest.mark.usefixtures("still_clock")
def test_the_overall_limit_turns_everyone_away(live: LiveApp, engine: Engine) -> None:
    """When the whole site has had its share, a 429 page for anyone."""
    from trialwatch.web.limits import OVERALL

    seed(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        ratelimits.hit(session, OVERALL.key, datetime.now(UTC), OVERALL.window, OVERALL.limit)
    reply = post_subscribe(live.client, FORM)
    assert reply.status_code == 429
    assert subscriber(engine, "ana@example.org") is None


def test_a_post_without_a_genuine_form_token_is_refused(live: LiveApp, engine: Engine) -> None:
    """No token, or one signed with another key: 403, the form again, nothing stored."""
    seed(engine)
    bare = live.client.post("/subscribe", data=FORM)
    assert bare.status_code == 403
    assert 'name="form_token"' in bare.text
    live.client.get("/subscribe")
    cookie = next(iter(live.client.cookies.values()), "x")
    forged = Signer("another-key-of-at-least-thirty-two-bytes", salt="subscribe-form").sign(cookie)
    reply = live.client.post("/subscribe", data={**FORM, "form_token": forged.decode()})
    assert reply.status_code == 403
    assert subscriber(engine, "ana@example.org") is None
    assert outbox_kinds(engine) == []


def test_asking_for_a_new_link_counts_against_the_same_limits(
    live: LiveApp, engine: Engine
) -> None:
    """The expired page's button cannot be pressed without end."""
    seed(engine)
    long_ago = datetime.now(UTC) - timedelta(days=8)
    mail = MailSettings(sender="TrialWatch <tw@example.org>", public_url=live.url, secret=SECRET)
    with session_scope(make_sessionmaker(engine)) as session:
        prefs = subscriptions.Preferences(watchlists=("mmn",))
        subscriptions.request_subscription(
            session, make_environment(), mail, "late@example.org", prefs, long_ago
        )
    with make_sessionmaker(engine)() as session:
        raw = session.scalars(select(Digest.message)).one()
    message = message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    page = live.client.get(link(message, "confirm"))
    assert page.status_code == 410
    found = re.search(r'action="(/confirm/[^"]+)"', page.text)
    assert found is not None
    codes = [live.client.post(found.group(1)).status_code for _ in range(25)]
    assert 429 in codes, codes
    assert _confirms(engine) <= 3
