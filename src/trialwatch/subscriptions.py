"""Subscriptions as people manage them: what the command line and the web both call.

A link in an email carries a signed token (:mod:`trialwatch.mail.signing`); this
module turns one back into the subscriber it names, through the store.

Self-service subscriptions are double opt-in: :func:`request_subscription` makes a
*pending* subscriber and queues one confirmation email (at most one per address per
:data:`~trialwatch.store.subscribers.CONFIRM_INTERVAL`); :func:`confirm` activates
them. Digests go to active subscribers only, so nothing but the confirmation email
ever reaches an address that has not confirmed. Whether an address was already
subscribed is never told to whoever typed it: the caller shows the same page.
:func:`manage` and :func:`unsubscribe` take the signed link of a digest.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import jinja2
from sqlalchemy.orm import Session

from trialwatch import places
from trialwatch.diff.model import KINDS
from trialwatch.digest.model import Recipient
from trialwatch.digest.render import render_confirmation
from trialwatch.errors import ConfigError, DeliveryError, NotFoundError
from trialwatch.jobs.digests import MailSettings
from trialwatch.mail.message import build_message
from trialwatch.mail.signing import (
    OpaqueRef,
    confirm_url,
    make_confirm_token,
    read_confirm_token,
    read_unsubscribe_token,
)
from trialwatch.store import outbox
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.models import Subscriber
from trialwatch.store.subscribers import NearSpec, SubscriptionRequest

log = logging.getLogger("trialwatch.subscriptions")

ConfirmOutcome = Literal["confirmed", "already", "gone"]


@dataclass(frozen=True)
class Preferences:
    """What a subscriber chooses: watchlists (slugs), how often, how important, where."""

    watchlists: tuple[str, ...]
    frequency: str = "daily"
    significance: str = "major"
    countries: tuple[str, ...] = ()
    near: str = ""
    """A place as typed ("Leiden, Netherlands"), or "" for anywhere."""
    within: str = ""
    """The radius in km as typed; "" is :data:`~trialwatch.places.DEFAULT_WITHIN_KM`."""


@dataclass(frozen=True)
class Choices:
    """What a subscription form offers: enabled watchlists and the countries of their sites."""

    watchlists: tuple[tuple[str, str], ...]  # (slug, name)
    countries: tuple[str, ...]


def find_by_token(session: Session, secret: str, token: str) -> Subscriber | None:
    """The subscriber a signed link token names, or None if there is none (any more).

    New tokens sign the subscriber's opaque ``token``; old ones (``[id, email]``)
    resolve to that id only while its address is still the one in the token.
    Raises :class:`~trialwatch.errors.InvalidToken` for a forged, tampered or
    malformed token.
    """
    ref = read_unsubscribe_token(secret, token)
    if isinstance(ref, OpaqueRef):
        return subscriber_store.subscriber_by_token(session, ref.token)
    return subscriber_store.subscriber_by_id_and_email(session, ref.subscriber_id, ref.email)


def choices(session: Session) -> Choices:
    """The enabled watchlists, and the countries where their current studies have sites.

    Countries are in the registry's current spelling (an old record's "Turkey" is
    offered as "Türkiye"), each once.
    """
    enabled = [wl for wl in watchlist_store.list_watchlists(session) if wl.enabled]
    found = subscriber_store.watchlist_countries(session, [wl.id for wl in enabled])
    spelled = {_spelling(c) for c in found}
    return Choices(
        watchlists=tuple((wl.slug, wl.name) for wl in enabled),
        countries=tuple(sorted(spelled, key=str.casefold)),
    )


def _spelling(country: str) -> str:
    code = places.country_code(country)
    return places.country_name(code) if code is not None else country


def check_countries(values: Iterable[str]) -> tuple[str, ...]:
    """Countries in the registry's spelling, or ConfigError ("country: ...") with close names."""
    try:
        return places.normalise_countries(values)
    except ConfigError as exc:
        raise ConfigError(f"country: {exc}") from exc


NEVER_MAILED_KINDS = frozenset({"bookkeeping", "other"})
"""Kinds of :data:`~trialwatch.diff.model.KINDS` that are always noise, so never mailed."""
MAILED_KINDS = tuple(kind for kind in KINDS if kind not in NEVER_MAILED_KINDS)
"""The kinds a subscription can ask for."""


def check_kinds(values: Iterable[str]) -> tuple[str, ...]:
    """Change kinds of the vocabulary (:data:`MAILED_KINDS`), or ConfigError with close ones.

    A kind no change ever has (or one never mailed) would leave the subscriber with
    nothing, silently.
    """
    kinds = tuple(dict.fromkeys(v.strip().lower() for v in values if v.strip()))
    for kind in kinds:
        if kind in NEVER_MAILED_KINDS:
            raise ConfigError(f"kind: '{kind}' changes are never mailed (they are noise)")
        if kind not in MAILED_KINDS:
            close = difflib.get_close_matches(kind, MAILED_KINDS, n=3, cutoff=0.6)
            hint = (
                f"closest: {', '.join(close)}"
                if close
                else "e.g. new_study, overall_status, results_posted, site_added;"
                " trialwatch subscriber add --help lists them all"
            )
            raise ConfigError(f"kind: '{kind}' is not a change kind ({hint})")
    return kinds


def near_spec(near: str | None, within: str | float | None) -> NearSpec | None:
    """A "near me" filter from what was typed, resolved offline; None when no place is given.

    ``within`` is in km, :data:`~trialwatch.places.DEFAULT_WITHIN_KM` when not given.
    Raises ConfigError ("near: ..." listing candidates, or "within: ...").
    """
    text = (near or "").strip()
    given = within is not None and str(within).strip() != ""
    if not text:
        if given:
            raise ConfigError("within: needs --near (a place to measure from)")
        return None
    try:
        radius = float(within) if given else places.DEFAULT_WITHIN_KM  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"within: '{within}' is not a number of kilometres") from exc
    places.check_within(radius)
    try:
        place = places.resolve_place(text)
    except ConfigError as exc:
        raise ConfigError(f"near: {exc}") from exc
    return NearSpec(label=place.label, lat=place.lat, lon=place.lon, within_km=radius)


def check_filters(req: SubscriptionRequest) -> SubscriptionRequest:
    """The request with its countries in the registry's spelling and its kinds checked."""
    return dataclasses.replace(
        req, countries=check_countries(req.countries), kinds=check_kinds(req.kinds)
    )


def _request(session: Session, email: str, prefs: Preferences) -> SubscriptionRequest:
    """Preferences as a store request, checked against what the form offers."""
    offered = choices(session)
    slugs = {slug for slug, _ in offered.watchlists}
    unknown = [slug for slug in prefs.watchlists if slug not in slugs]
    if unknown:
        raise ConfigError(f"watchlist: '{unknown[0]}' is not one you can subscribe to")
    return SubscriptionRequest(
        email=email,
        watchlists=tuple(dict.fromkeys(prefs.watchlists)),
        frequency=prefs.frequency,
        significance=prefs.significance,
        countries=check_countries(prefs.countries),
        near=near_spec(prefs.near, prefs.within if prefs.near.strip() else None),
    )


def request_subscription(
    session: Session,
    env: jinja2.Environment,
    mail: MailSettings,
    email: str,
    prefs: Preferences,
    now: datetime,
) -> bool:
    """Ask for a subscription: a pending subscriber and one confirmation email.

    A new address, or one that is pending, unsubscribed or bounced, becomes pending
    with exactly these preferences; an active one is left as it is. A confirmation
    email is queued unless one was queued in the last ten minutes. Returns whether
    one was queued, which a public page must not show. Raises
    :class:`~trialwatch.errors.ConfigError` for an invalid address or preference.
    """
    req = _request(session, email, prefs)
    subscriber = subscriber_store.request_pending(session, req, now)
    if subscriber.status != "pending":
        return False
    if not subscriber_store.claim_confirmation(session, subscriber, now):
        return False
    names = [watchlist_store.get_watchlist(session, slug).name for slug in req.watchlists]
    return _queue_confirmation(session, env, mail, subscriber, names, now)


def resend_confirmation(
    session: Session,
    env: jinja2.Environment,
    mail: MailSettings,
    subscriber_token: str,
    now: datetime,
) -> bool:
    """A new confirmation email for a pending subscriber (same rate limit); whether queued."""
    subscriber = subscriber_store.subscriber_by_token(session, subscriber_token)
    if subscriber is None or subscriber.status != "pending":
        return False
    if not subscriber_store.claim_confirmation(session, subscriber, now):
        return False
    names = [wl.name for _, wl in subscriber_store.subscriptions_of(session, subscriber)]
    return _queue_confirmation(session, env, mail, subscriber, names, now)


def _queue_confirmation(
    session: Session,
    env: jinja2.Environment,
    mail: MailSettings,
    subscriber: Subscriber,
    watchlist_names: list[str],
    now: datetime,
) -> bool:
    token = make_confirm_token(mail.secret, subscriber.token, now)
    recipient = Recipient(
        subscriber_id=subscriber.id,
        email=subscriber.email,
        name=subscriber.name,
        unsubscribe_url="",
    )
    rendered = render_confirmation(
        env, recipient, confirm_url(mail.public_url, token), watchlist_names=watchlist_names
    )
    message_id = f"<confirm.{uuid.uuid4().hex}@{mail.domain}>"
    try:
        message = build_message(
            rendered,
            sender=mail.sender,
            recipient_email=subscriber.email,
            recipient_name=subscriber.name,
            message_id=message_id,
            unsubscribe_url=None,
            date=now,
        )
    except DeliveryError as exc:
        log.warning("confirmation skipped for subscriber %d: %s", subscriber.id, exc)
        return False
    outbox.queue(
        session,
        [
            {
                "subscriber_id": subscriber.id,
                "kind": "confirm",
                "message_id": message_id,
                "recipient": subscriber.email,
                "subject": rendered.subject,
                "message": message.decode("utf-8", errors="surrogateescape"),
                "covered": {},
                "next_attempt_at": now,
                "created_at": now,
            }
        ],
    )
    log.info("confirmation queued for subscriber %d", subscriber.id)
    return True


def confirm(session: Session, secret: str, token: str, now: datetime) -> ConfirmOutcome:
    """Activate the pending subscriber a confirmation token names.

    ``"confirmed"`` (now active), ``"already"`` (was active), ``"gone"`` (no such
    subscriber, or they unsubscribed since). Raises
    :class:`~trialwatch.mail.signing.ExpiredToken` for a link older than seven days
    and :class:`~trialwatch.errors.InvalidToken` for a forged or tampered one.
    """
    subscriber = subscriber_store.subscriber_by_token(
        session, read_confirm_token(secret, token, now)
    )
    if subscriber is None:
        return "gone"
    if subscriber.status == "active":
        return "already"
    if subscriber.status != "pending":
        return "gone"
    subscriber_store.activate(session, subscriber, now)
    log.info("subscriber %d confirmed", subscriber.id)
    return "confirmed"


def current_preferences(session: Session, subscriber: Subscriber) -> Preferences:
    """The subscriber's preferences as a form shows them (taken from their first subscription)."""
    subs = subscriber_store.subscriptions_of(session, subscriber)
    if not subs:
        return Preferences(watchlists=())
    first = subs[0][0]
    return Preferences(
        watchlists=tuple(wl.slug for _, wl in subs),
        frequency=first.frequency,
        significance=first.min_significance,
        countries=tuple(first.countries or ()),
        near=first.near_label or "",
        within=f"{first.near_within_km:g}" if first.near_label and first.near_within_km else "",
    )


def manage(
    session: Session, secret: str, token: str, prefs: Preferences, now: datetime
) -> Subscriber:
    """Set the preferences of the subscriber a digest's link names.

    The link proves the mailbox, so an unsubscribed subscriber who saves
    preferences is subscribed again. Raises InvalidToken for a forged link,
    NotFoundError when its subscriber is gone, ConfigError for bad preferences.
    """
    subscriber = find_by_token(session, secret, token)
    if subscriber is None:
        raise NotFoundError("no such subscription")
    req = _request(session, subscriber.email, prefs)
    subscriber_store.set_subscriptions(session, subscriber, req, now)
    if subscriber.status in ("unsubscribed", "pending"):
        subscriber_store.activate(session, subscriber, now)
    return subscriber


def unsubscribe(session: Session, secret: str, token: str, now: datetime) -> bool:
    """Unsubscribe whoever a link names from everything; idempotent.

    Returns whether anything changed (False when already unsubscribed or gone).
    Raises InvalidToken for a forged or tampered link.
    """
    subscriber = find_by_token(session, secret, token)
    if subscriber is None or subscriber.status == "unsubscribed":
        return False
    subscriber_store.unsubscribe(session, subscriber, now)
    if subscriber.status != "unsubscribed":  # bounced: keep the status, drop the subscriptions
        return True
    log.info("subscriber %d unsubscribed", subscriber.id)
    return True
