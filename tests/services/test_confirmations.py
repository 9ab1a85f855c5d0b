"""Confirmation links confirm exactly what their mail described, whoever asks later."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine, select

from tests.factories import MAIL, T0
from trialwatch.mail.signing import make_unsubscribe_token
from trialwatch.mail.templates import make_environment
from trialwatch.services import subscriptions, watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Subscriber, Subscription
from trialwatch.store.subscribers import SubscriptionRequest, subscribe
from trialwatch.watchlists import Criteria, WatchlistSpec

OWNER = "ana@example.org"


def _watchlist(engine: Engine) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        spec = WatchlistSpec(slug="mmn", name="MMN", criteria=Criteria(conditions=("mmn",)))
        watchlist_files.save(session, [spec], T0)


def _request(engine: Engine, when: timedelta, **prefs: Any) -> bool:
    with session_scope(make_sessionmaker(engine)) as session:
        return subscriptions.request_subscription(
            session,
            make_environment(),
            MAIL,
            OWNER,
            subscriptions.Preferences(watchlists=("mmn",), **prefs),
            T0 + when,
        )


def _mails(engine: Engine) -> list[EmailMessage]:
    with make_sessionmaker(engine)() as session:
        raws = session.scalars(select(Digest.message).where(Digest.kind == "confirm"))
        parsed = [message_from_string(raw, policy=policy.default) for raw in raws]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def _parts(message: EmailMessage) -> list[str]:
    parts = [message.get_body((kind,)) for kind in ("plain", "html")]
    return [str(part.get_content()) for part in parts if part is not None]


def _links(engine: Engine) -> list[str]:
    """The confirmation token of every queued confirmation, oldest first."""
    tokens = []
    for message in _mails(engine):
        found = re.search(r"/confirm/([A-Za-z0-9_.\-]+)", _parts(message)[0])
        assert found is not None
        tokens.append(found.group(1))
    return tokens


def _confirm(engine: Engine, token: str, when: timedelta) -> str:
    with session_scope(make_sessionmaker(engine)) as session:
        return subscriptions.confirm(session, MAIL.secret, token, T0 + when)


def _state(engine: Engine) -> tuple[str, list[tuple[str, str, str | None]]]:
    """The owner's status and (frequency, significance, near) of each subscription."""
    with make_sessionmaker(engine)() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == OWNER)).one()
        subs = session.scalars(select(Subscription).where(Subscription.subscriber_id == row.id))
        return row.status, [(s.frequency, s.min_significance, s.near_label) for s in subs]


def test_a_strangers_later_request_never_changes_what_the_owners_link_confirms(
    engine: Engine,
) -> None:
    """Owner asks weekly/major; a stranger re-posts immediate/minor within 1 km of Leiden."""
    _watchlist(engine)
    assert _request(engine, timedelta(0), frequency="weekly", significance="major")
    stranger = {"frequency": "immediate", "significance": "minor", "near": "Leiden", "within": "1"}
    assert _request(engine, timedelta(minutes=11), **stranger)
    owners, strangers = _links(engine)
    assert _confirm(engine, owners, timedelta(minutes=12)) == "confirmed"
    assert _state(engine) == ("active", [("weekly", "major", None)])
    # The stranger's link went to the owner's mailbox: it stays theirs to use or ignore.
    assert _confirm(engine, strangers, timedelta(minutes=13)) == "already"
    assert _state(engine) == ("active", [("weekly", "major", None)])


def test_an_old_link_after_an_unsubscribe_does_not_confirm_a_strangers_choices(
    engine: Engine,
) -> None:
    """Confirmed, unsubscribed, a stranger re-subscribes: the old link confirms nothing."""
    _watchlist(engine)
    _request(engine, timedelta(0), frequency="weekly")
    (owners,) = _links(engine)
    assert _confirm(engine, owners, timedelta(minutes=1)) == "confirmed"
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == OWNER)).one()
        link = make_unsubscribe_token(MAIL.secret, row.token)
        assert subscriptions.unsubscribe(session, MAIL.secret, link, T0 + timedelta(hours=1))
    assert _request(engine, timedelta(hours=2), frequency="immediate", significance="minor")
    assert _confirm(engine, owners, timedelta(hours=3)) != "confirmed"
    status, subs = _state(engine)
    assert status != "active"
    assert ("immediate", "minor", None) not in subs
    # The mail that described "immediate" confirms "immediate", if its reader wants it.
    assert _confirm(engine, _links(engine)[1], timedelta(hours=4)) == "confirmed"
    assert _state(engine) == ("active", [("immediate", "minor", None)])


def test_a_request_never_changes_an_active_subscribers_choices(engine: Engine) -> None:
    """The form post for an active address queues nothing and changes nothing."""
    _watchlist(engine)
    _request(engine, timedelta(0), frequency="weekly")
    _confirm(engine, _links(engine)[0], timedelta(minutes=1))
    assert not _request(engine, timedelta(hours=1), frequency="immediate")
    assert _state(engine) == ("active", [("weekly", "major", None)])
    assert len(_links(engine)) == 1


def test_the_confirmation_mail_describes_the_choices_and_says_it_expires_in_7_days(
    engine: Engine,
) -> None:
    """Both parts: what will be confirmed, and for how long the link works."""
    _watchlist(engine)
    _request(engine, timedelta(0), frequency="weekly", countries=("Holland",))
    (message,) = _mails(engine)
    for part in _parts(message):
        assert "expires in 7 days" in part
        assert "Once a week" in part
        assert "Netherlands" in part


def test_a_link_mailed_before_requests_were_kept_confirms_until_a_new_request(
    engine: Engine,
) -> None:
    """A pending subscriber of an older release: its link confirms what it was asked then."""
    _watchlist(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        request = SubscriptionRequest(
            email=OWNER, watchlists=("mmn",), frequency="weekly", status="pending"
        )
        opaque = subscribe(session, request, T0).token
    old = URLSafeTimedSerializer(MAIL.secret, salt="confirm").dumps({"c": opaque})
    with session_scope(make_sessionmaker(engine)) as session:
        shown = subscriptions.preview(session, MAIL.secret, old, datetime.now(UTC))
    assert shown.outcome == "pending"
    assert "How often: Once a week" in shown.lines
    _request(engine, timedelta(0), frequency="immediate")  # a stranger, after the upgrade
    with session_scope(make_sessionmaker(engine)) as session:
        assert subscriptions.confirm(session, MAIL.secret, old, datetime.now(UTC)) == "gone"
    assert _state(engine) == ("pending", [("weekly", "major", None)])


def test_a_link_mailed_before_requests_were_kept_still_confirms(engine: Engine) -> None:
    """Its subscriber pending as the older release left them: confirmed as they are."""
    _watchlist(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        request = SubscriptionRequest(
            email=OWNER, watchlists=("mmn",), frequency="weekly", status="pending"
        )
        opaque = subscribe(session, request, T0).token
    old = URLSafeTimedSerializer(MAIL.secret, salt="confirm").dumps({"c": opaque})
    with session_scope(make_sessionmaker(engine)) as session:
        assert subscriptions.confirm(session, MAIL.secret, old, datetime.now(UTC)) == "confirmed"
        assert subscriptions.confirm(session, MAIL.secret, old, datetime.now(UTC)) == "already"
    assert _state(engine) == ("active", [("weekly", "major", None)])


def test_a_resent_confirmation_confirms_the_same_request(engine: Engine) -> None:
    """The admin's "resend confirmation": the newest open request, again, once per ten minutes."""
    _watchlist(engine)
    _request(engine, timedelta(0), frequency="weekly")
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == OWNER)).one()
        args = (session, make_environment(), MAIL, row.token)
        assert not subscriptions.resend_confirmation(*args, T0 + timedelta(minutes=5))
        assert subscriptions.resend_confirmation(*args, T0 + timedelta(minutes=11))
    first, again = _links(engine)
    assert first != again
    assert _confirm(engine, again, timedelta(minutes=12)) == "confirmed"
    assert _confirm(engine, first, timedelta(minutes=13)) == "already"
    assert _state(engine) == ("active", [("weekly", "major", None)])
