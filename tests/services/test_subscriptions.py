"""Unsubscribe links in mailed digests: opaque, signed, and resolvable by the store."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import Engine, select

from tests.factories import MAIL, T0, build, prepare_due
from tests.support.fakeapi import FakeCtgov
from trialwatch.errors import InvalidToken
from trialwatch.mail.signing import (
    SALT,
    ExpiredToken,
    make_confirm_token,
    make_unsubscribe_token,
)
from trialwatch.mail.templates import make_environment
from trialwatch.services import subscriptions, watchlist_files
from trialwatch.services.subscriptions import find_by_token
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import ConfirmationRequest, Digest, Subscriber
from trialwatch.store.subscribers import NearSpec, SubscriptionRequest, subscribe
from trialwatch.watchlists import Criteria, WatchlistSpec

OTHER_SECRET = "another-key-of-at-least-thirty-two-bytes"


def _add_subscriber(engine: Engine, email: str) -> tuple[int, str]:
    """A watchlist and one subscriber to it: (subscriber id, opaque token)."""
    with session_scope(make_sessionmaker(engine)) as session:
        spec = WatchlistSpec(slug="mmn", name="MMN", criteria=Criteria(conditions=("mmn",)))
        watchlist_files.save(session, [spec], T0)
        subscriber = subscribe(session, SubscriptionRequest(email=email, watchlists=("mmn",)), T0)
        return subscriber.id, subscriber.token


def _old_token(secret: str, subscriber_id: int, email: str) -> str:
    """A token as mailed before links became opaque: the signed [id, email] pair."""
    return URLSafeSerializer(secret, salt=SALT).dumps([subscriber_id, email])


def _b64_forms(text: str) -> set[str]:
    """What any base64 of ``text`` contains, whatever its byte alignment in the input."""
    data = text.encode()
    forms = set()
    for skip in range(3):
        chunk = data[skip:]
        forms.add(base64.urlsafe_b64encode(chunk[: len(chunk) // 3 * 3]).decode())
    return forms


def _scalars(payload: object) -> list[object]:
    """Every number and string inside a decoded token payload."""
    if isinstance(payload, dict):
        return [*payload, *(s for v in payload.values() for s in _scalars(v))]
    if isinstance(payload, list):
        return [s for v in payload for s in _scalars(v)]
    return [payload]


def _resolve(engine: Engine, secret: str, token: str) -> int | None:
    with session_scope(make_sessionmaker(engine)) as session:
        found = find_by_token(session, secret, token)
        return None if found is None else found.id


def test_a_mailed_unsubscribe_link_does_not_reveal_the_address(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Neither the address nor its base64 appears in the link; the store resolves the token."""
    email = "eve@example.org"
    prepare_due(engine, fake, [email])
    assert build(engine) == 1
    with session_scope(make_sessionmaker(engine)) as session:
        digest = session.scalars(select(Digest)).one()
        raw = digest.message
        subscriber = session.scalars(select(Subscriber)).one()
        subscriber_id = subscriber.id
    parsed = message_from_string(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    parts = [str(parsed["List-Unsubscribe"])]
    for kind in ("plain", "html"):
        body = parsed.get_body(preferencelist=(kind,))
        assert body is not None
        parts.append(str(body.get_content()))
    tokens = {t for part in parts for t in re.findall(r"/unsubscribe/([A-Za-z0-9_.-]+)", part)}
    assert len(tokens) == 1
    token = tokens.pop()
    payload = URLSafeSerializer(MAIL.secret, salt=SALT).loads(token)
    assert email not in repr(payload)
    assert subscriber_id not in _scalars(payload)
    for form in _b64_forms(email):
        assert form not in raw
        assert form not in token
    assert _resolve(engine, MAIL.secret, token) == subscriber_id


def test_a_new_token_resolves_to_its_subscriber(engine: Engine) -> None:
    """A token signing the subscriber's opaque token finds that subscriber."""
    subscriber_id, opaque = _add_subscriber(engine, "ana@example.org")
    token = make_unsubscribe_token(MAIL.secret, opaque)
    assert _resolve(engine, MAIL.secret, token) == subscriber_id


def test_an_old_format_token_still_resolves_to_its_subscriber(engine: Engine) -> None:
    """Links mailed before the change ([id, email] payload) keep working."""
    subscriber_id, _ = _add_subscriber(engine, "ana@example.org")
    token = _old_token(MAIL.secret, subscriber_id, "ana@example.org")
    assert _resolve(engine, MAIL.secret, token) == subscriber_id


def test_an_old_format_token_whose_address_no_longer_matches_resolves_to_nobody(
    engine: Engine,
) -> None:
    """An old token names an id and an address: both must still match the row."""
    subscriber_id, _ = _add_subscriber(engine, "ana@example.org")
    token = _old_token(MAIL.secret, subscriber_id, "someone-else@example.org")
    assert _resolve(engine, MAIL.secret, token) is None
    assert _resolve(engine, MAIL.secret, _old_token(MAIL.secret, 9999, "ana@example.org")) is None


def test_a_token_of_a_removed_subscriber_resolves_to_nobody(engine: Engine) -> None:
    """A well-signed token naming no subscriber gives None, not an error."""
    _add_subscriber(engine, "ana@example.org")
    token = make_unsubscribe_token(MAIL.secret, "no-such-subscriber-token")
    assert _resolve(engine, MAIL.secret, token) is None


def test_a_tampered_token_or_one_of_another_key_is_refused(engine: Engine) -> None:
    """Tampered tokens and tokens signed with another key raise InvalidToken, old or new."""
    subscriber_id, opaque = _add_subscriber(engine, "ana@example.org")
    for token in (
        make_unsubscribe_token(OTHER_SECRET, opaque),
        _old_token(OTHER_SECRET, subscriber_id, "ana@example.org"),
    ):
        with pytest.raises(InvalidToken):
            _resolve(engine, MAIL.secret, token)
    good = make_unsubscribe_token(MAIL.secret, opaque)
    index = len(good) // 3
    tampered = good[:index] + ("A" if good[index] != "A" else "B") + good[index + 1 :]
    with pytest.raises(InvalidToken):
        _resolve(engine, MAIL.secret, tampered)


# --- self-service: double opt-in, manage, unsubscribe -----------------------------------------


def _outbox(engine: Engine) -> list[tuple[str, str]]:
    with make_sessionmaker(engine)() as session:
        return [
            (kind, to)
            for kind, to in session.execute(
                select(Digest.kind, Digest.recipient).order_by(Digest.id)
            ).tuples()
        ]


def _request(engine: Engine, email: str, now: datetime, **prefs: Any) -> bool:
    with session_scope(make_sessionmaker(engine)) as session:
        return subscriptions.request_subscription(
            session,
            make_environment(),
            MAIL,
            email,
            subscriptions.Preferences(watchlists=("mmn",), **prefs),
            now,
        )


def _status(engine: Engine, email: str) -> str:
    with make_sessionmaker(engine)() as session:
        status = session.scalar(select(Subscriber.status).where(Subscriber.email == email))
        assert status is not None
        return status


def test_a_request_is_pending_with_one_confirmation_per_ten_minutes(engine: Engine) -> None:
    _add_subscriber(engine, "someone@example.org")
    assert _request(engine, "ana@example.org", T0)
    assert not _request(engine, "ana@example.org", T0 + timedelta(minutes=9), frequency="weekly")
    assert _status(engine, "ana@example.org") == "pending"
    assert _outbox(engine) == [("confirm", "ana@example.org")]
    assert _request(engine, "ana@example.org", T0 + timedelta(minutes=10))
    assert len(_outbox(engine)) == 2


def test_a_request_for_an_active_address_changes_and_sends_nothing(engine: Engine) -> None:
    _add_subscriber(engine, "ana@example.org")
    assert not _request(engine, "ana@example.org", T0, frequency="weekly")
    assert _status(engine, "ana@example.org") == "active"
    assert _outbox(engine) == []


def test_confirmation_activates_and_expires_after_seven_days(engine: Engine) -> None:
    _add_subscriber(engine, "someone@example.org")
    _request(engine, "ana@example.org", T0)
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email == "ana@example.org"))
        assert row is not None
        nonce = session.scalars(select(ConfirmationRequest.nonce)).one()
        token = make_confirm_token(MAIL.secret, nonce, T0)
        with pytest.raises(ExpiredToken):
            subscriptions.confirm(session, MAIL.secret, token, T0 + timedelta(days=7, seconds=1))
        with pytest.raises(InvalidToken):
            subscriptions.confirm(session, OTHER_SECRET, token, T0)
        # An unsubscribe token is not a confirmation token.
        with pytest.raises(InvalidToken):
            subscriptions.confirm(
                session, MAIL.secret, make_unsubscribe_token(MAIL.secret, row.token), T0
            )
        assert subscriptions.confirm(session, MAIL.secret, token, T0 + timedelta(days=6)) == (
            "confirmed"
        )
        assert subscriptions.confirm(session, MAIL.secret, token, T0) == "already"
    assert _status(engine, "ana@example.org") == "active"


def test_manage_and_unsubscribe_by_link_are_idempotent(engine: Engine) -> None:
    _, opaque = _add_subscriber(engine, "ana@example.org")
    link = make_unsubscribe_token(MAIL.secret, opaque)
    with session_scope(make_sessionmaker(engine)) as session:
        prefs = subscriptions.Preferences(watchlists=("mmn",), frequency="weekly")
        subscriptions.manage(session, MAIL.secret, link, prefs, T0)
        subscriptions.manage(session, MAIL.secret, link, prefs, T0)
        row = session.scalar(select(Subscriber).where(Subscriber.email == "ana@example.org"))
        assert row is not None
        assert subscriptions.current_preferences(session, row).frequency == "weekly"
        assert subscriptions.unsubscribe(session, MAIL.secret, link, T0)
        assert not subscriptions.unsubscribe(session, MAIL.secret, link, T0)
    assert _status(engine, "ana@example.org") == "unsubscribed"


def test_a_digest_carries_the_manage_link(engine: Engine, fake: FakeCtgov) -> None:
    prepare_due(engine, fake, ["ana@example.org"])
    assert build(engine) == 1
    with make_sessionmaker(engine)() as session:
        raw = session.scalars(select(Digest.message)).one()
    message = message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for kind in ("plain", "html"):
        part = message.get_body((kind,))
        assert part is not None
        assert "https://tw.example/manage/" in str(part.get_content())


@pytest.mark.parametrize(
    ("prefs", "queued"),
    [
        ({"countries": ("Netherlands",)}, 1),
        ({"countries": ("Japan",)}, 0),
        ({"near": NearSpec("Leiden, Netherlands", 52.15833, 4.49306, 100.0)}, 1),
        ({"near": NearSpec("Leiden, Netherlands", 52.15833, 4.49306, 30.0)}, 0),
    ],
    ids=["netherlands", "japan", "leiden-100km", "leiden-30km"],
)
def test_where_filters_reach_the_digest_job(
    engine: Engine, fake: FakeCtgov, prefs: dict[str, Any], queued: int
) -> None:
    """ARDA (sites in Utrecht, Leuven, Paris, Boston) changes status: sent to whom it is near."""
    prepare_due(engine, fake, ["eve@example.org"], **prefs)
    assert build(engine) == queued


def test_two_requests_for_one_new_address_at_once_make_one_pending_subscriber(
    engine: Engine,
) -> None:
    """The second request waits for the first, then finds it: no error, one email."""
    import threading
    import time

    _add_subscriber(engine, "someone.else@example.org")  # the watchlist
    first = make_sessionmaker(engine)()
    outcome: dict[str, Any] = {}
    try:
        assert subscriptions.request_subscription(
            first,
            make_environment(),
            MAIL,
            "twice@example.org",
            subscriptions.Preferences(watchlists=("mmn",)),
            T0,
        )
        first.flush()  # the first request's subscriber is written, not yet committed

        def second() -> None:
            try:
                outcome["queued"] = _request(engine, "twice@example.org", T0)
            except Exception as exc:  # the defect: a unique violation reached the page
                outcome["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second request is now waiting on the first's row
        first.commit()
        thread.join(timeout=40)
    finally:
        first.close()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["queued"] is False  # one confirmation per ten minutes
    assert _status(engine, "twice@example.org") == "pending"
    assert [to for kind, to in _outbox(engine) if kind == "confirm"] == ["twice@example.org"]
