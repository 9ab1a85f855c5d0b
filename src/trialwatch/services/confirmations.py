"""Confirmation requests as :mod:`trialwatch.services.subscriptions` uses them: the email,
the lines that describe what a link confirms, and what a link names.

The mail and the page its link opens describe the same choices in the same words
(:func:`trialwatch.words.mail.describe_choices`), so what a person reads is what the
button confirms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jinja2
from sqlalchemy.orm import Session

from trialwatch.errors import DeliveryError
from trialwatch.mail.outbox_rows import (
    MailSettings,
    OutboxRow,
    confirmation_row,
    render_confirmation,
)
from trialwatch.mail.signing import (
    CONFIRM_MAX_AGE,
    ConfirmRef,
    OpaqueRef,
    confirm_url,
    make_confirm_token,
)
from trialwatch.store import confirmations as confirmation_store
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.models import ConfirmationRequest, Subscriber
from trialwatch.store.subscribers import NearSpec, SubscriptionRequest
from trialwatch.words.mail import describe_choices

log = logging.getLogger("trialwatch.services.subscriptions")

LinkState = Literal["already", "used", "gone"]
"""Why a confirmation link stands for nothing to confirm."""


@dataclass(frozen=True)
class ConfirmationMail:
    """A confirmation email's outbox row, and its subject."""

    subject: str
    row: OutboxRow


def confirmation_mail(
    env: jinja2.Environment,
    mail: MailSettings,
    subscriber: Subscriber,
    nonce: str,
    lines: Sequence[str],
    watchlist_names: Sequence[str],
    now: datetime,
) -> ConfirmationMail | None:
    """The email whose link confirms the request ``nonce`` (described by ``lines``).

    None when the message cannot be built (logged): the request is then not stored.
    """
    token = make_confirm_token(mail.secret, nonce, now)
    rendered = render_confirmation(
        env,
        subscriber,
        confirm_url(mail.public_url, token),
        watchlist_names=watchlist_names,
        choices=lines,
        expires_days=CONFIRM_MAX_AGE.days,
        locale=subscriber.locale,
    )
    try:
        row = confirmation_row(
            rendered,
            mail=mail,
            subscriber=(subscriber.id, subscriber.email, subscriber.name),
            now=now,
        )
    except DeliveryError as exc:
        log.warning("confirmation skipped subscriber=%d error=%s", subscriber.id, exc)
        return None
    return ConfirmationMail(subject=rendered.subject, row=row)


def current_choices(session: Session, subscriber: Subscriber) -> dict[str, Any] | None:
    """The choices a subscriber's subscriptions make now (taken from the first), or None."""
    subs = subscriber_store.subscriptions_of(session, subscriber)
    if not subs:
        return None
    first = subs[0][0]
    near = (
        NearSpec(first.near_label, first.near_lat, first.near_lon, first.near_within_km)
        if first.near_label
        and first.near_lat is not None
        and first.near_lon is not None
        and first.near_within_km
        else None
    )
    req = SubscriptionRequest(
        email=subscriber.email,
        watchlists=tuple(wl.slug for _, wl in subs),
        frequency=first.frequency,
        significance=first.min_significance,
        countries=tuple(first.countries or ()),
        kinds=tuple(first.event_kinds or ()),
        near=near,
    )
    return confirmation_store.choices_of(req)


def watchlist_names(session: Session, choices: dict[str, Any]) -> dict[str, str]:
    """The names of the watchlists that ``choices`` names and that still exist, by slug."""
    wanted = set(choices.get("watchlists") or ())
    return {
        wl.slug: wl.name for wl in watchlist_store.list_watchlists(session) if wl.slug in wanted
    }


def mail_for(
    session: Session,
    env: jinja2.Environment,
    mail: MailSettings,
    subscriber: Subscriber,
    nonce: str,
    choices: dict[str, Any],
    now: datetime,
) -> ConfirmationMail | None:
    """The confirmation email of the request ``nonce`` (None if it cannot be built)."""
    names = watchlist_names(session, choices)
    lines = describe_choices(choices, names)
    listed = [names[slug] for slug in choices.get("watchlists") or () if slug in names]
    return confirmation_mail(env, mail, subscriber, nonce, lines, listed, now)


def resolve_link(
    session: Session, ref: ConfirmRef
) -> tuple[Subscriber, ConfirmationRequest | None, dict[str, Any]] | LinkState:
    """The subscriber, open request and choices a link names, or the state that stands instead.

    A link mailed before requests were kept names a subscriber: it confirms their
    subscriptions as they are, while no request was made for the address since.
    """
    if isinstance(ref, OpaqueRef):
        subscriber = subscriber_store.subscriber_by_token(session, ref.token)
        if subscriber is None:
            return "gone"
        if subscriber.status == "active":
            return "already"
        choices = current_choices(session, subscriber)
        if choices is None or confirmation_store.has_requests(session, subscriber.id):
            return "gone"
        return subscriber, None, choices
    request = confirmation_store.request_by_nonce(session, ref.nonce)
    subscriber = session.get(Subscriber, request.subscriber_id) if request else None
    if request is None or subscriber is None:
        return "gone"
    if request.confirmed_at is not None:
        return "already" if subscriber.status == "active" else "used"
    if subscriber.status == "active":
        return "already"
    return subscriber, request, request.choices


def legacy_request(
    session: Session, subscriber: Subscriber, now: datetime
) -> ConfirmationRequest | None:
    """For a subscriber left pending before requests were kept: one of their subscriptions."""
    if subscriber.status != "pending" or confirmation_store.has_requests(session, subscriber.id):
        return None
    choices = current_choices(session, subscriber)
    if choices is None:
        return None
    nonce = confirmation_store.new_nonce()
    return confirmation_store.add_request(session, subscriber.id, nonce, choices, now)
