"""Shared steps of the subscription tests: seed a watchlist, read the outbox, mail links."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import Engine, select

from tests.factories import T0, sync_mmn
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import ConfirmationRequest, Digest, Subscriber, Subscription
from trialwatch.watchlists import load_watchlists

FORM = {
    "email": "ana@example.org",
    "watchlist": "mmn",
    "frequency": "weekly",
    "significance": "minor",
}


def seed(engine: Engine, fake: FakeCtgov | None = None) -> None:
    """The shipped watchlists, and the MMN studies when ``fake`` is given."""
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)
    if fake is not None:
        sync_mmn(engine, fake)


def subscriber(engine: Engine, email: str) -> Subscriber | None:
    with make_sessionmaker(engine)() as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if row is not None:
            session.expunge(row)
        return row


def frequencies(engine: Engine, email: str) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return list(
            session.scalars(
                select(Subscription.frequency)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscriber.email == email)
            )
        )


def outbox_kinds(engine: Engine) -> list[tuple[str, str]]:
    """(kind, recipient) of every outbox row, oldest first."""
    with make_sessionmaker(engine)() as session:
        return [
            (kind, recipient)
            for kind, recipient in session.execute(
                select(Digest.kind, Digest.recipient).order_by(Digest.id)
            ).tuples()
        ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, path: str) -> str:
    """The first ``http://.../<path>/<token>`` link of the plain-text part."""
    found = re.search(rf"http://\S+/{path}/[A-Za-z0-9_.\-]+", text_of(message))
    assert found is not None, text_of(message)
    return found.group(0)


def post_subscribe(client: httpx.Client, data: Mapping[str, Any]) -> httpx.Response:
    """Post the subscribe form as a browser does: with the form token of the page first got."""
    page = client.get("/subscribe")
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    fields = {**data, "form_token": found.group(1)} if found else dict(data)
    return client.post("/subscribe", data=fields)


def nonce_of(engine: Engine, email: str) -> str:
    """The nonce of the newest confirmation request for ``email``."""
    with make_sessionmaker(engine)() as session:
        found = session.scalars(
            select(ConfirmationRequest.nonce)
            .join(Subscriber, Subscriber.id == ConfirmationRequest.subscriber_id)
            .where(Subscriber.email == email)
            .order_by(ConfirmationRequest.id.desc())
        ).first()
        assert found is not None
        return found


def asked(engine: Engine) -> dict[str, Any]:
    """The choices of the newest confirmation request."""
    with make_sessionmaker(engine)() as session:
        found = session.scalars(
            select(ConfirmationRequest.choices).order_by(ConfirmationRequest.id.desc())
        ).first()
        assert found is not None
        return dict(found)
