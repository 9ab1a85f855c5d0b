"""Subscriptions as people manage them: what the command line and the web both call.

A link in an email carries a signed token (:mod:`trialwatch.mail.signing`); this
module turns one back into the subscriber it names, through the store.

Self-service subscriptions are double opt-in: :func:`request_subscription` keeps
the choices asked for in a confirmation request (a new address becomes a *pending*
subscriber) and queues one confirmation email (at most one per address per
:data:`~trialwatch.store.subscribers.CONFIRM_INTERVAL`) whose link names that
request; :func:`preview` shows what a link would confirm and :func:`confirm`
applies exactly that and activates. Digests go to active subscribers only, so
nothing but the confirmation email ever reaches an address that has not confirmed.
Whether an address was already subscribed is never told to whoever typed it: the
caller shows the same page, after the same work.
:func:`manage` and :func:`unsubscribe` take the signed link of a digest.

Over 400 lines because every way a person subscribes, changes and leaves (CLI and
web alike) is checked here, in one place, so the two faces cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import jinja2
from sqlalchemy.orm import Session

from trialwatch import places
from trialwatch.diff.model import KINDS
from trialwatch.errors import ConfigError, NotFoundError
from trialwatch.mail.outbox_rows import MailSettings
from trialwatch.mail.signing import (
    OpaqueRef,
    read_confirm_token,
    read_unsubscribe_token,
)
from trialwatch.services import confirmations
from trialwatch.store import confirmations as confirmation_store
from trialwatch.store import outbox, ratelimits
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.models import Subscriber
from trialwatch.store.subscribers import NearSpec, SubscriptionRequest
from trialwatch.words.mail import describe_choices

log = logging.getLogger("trialwatch.services.subscriptions")

ConfirmOutcome = Literal["confirmed", "already", "used", "gone"]
PreviewOutcome = Literal["pending", "already", "used", "gone"]


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


def check_request(session: Session, req: SubscriptionRequest) -> SubscriptionRequest:
    """The one check of a subscription request, whoever makes it (command line, import, web).

    Every watchlist must exist and be enabled, countries are put in the registry's
    spelling, kinds must be mailed ones, then the store's checks (address,
    frequency, significance, time zone, name, place). Raises
    :class:`~trialwatch.errors.ConfigError` naming the first bad value.
    """
    check_watchlists(session, req.watchlists)
    req = dataclasses.replace(
        req,
        watchlists=tuple(dict.fromkeys(req.watchlists)),
        countries=check_countries(req.countries),
        kinds=check_kinds(req.kinds),
    )
    return subscriber_store.validate_request(req)


def check_watchlists(session: Session, slugs: Iterable[str]) -> None:
    """ConfigError for a slug that is no watchlist, or one that is disabled (not offered)."""
    rows = {wl.slug: wl for wl in watchlist_store.list_watchlists(session)}
    enabled = [slug for slug, wl in rows.items() if wl.enabled]
    for slug in slugs:
        row = rows.get(slug)
        if row is None:
            close = difflib.get_close_matches(slug, enabled, n=3, cutoff=0.6)
            hint = f"closest: {', '.join(close)}; " if close else ""
            raise ConfigError(
                f"unknown watchlist '{slug}' ({hint}known: {', '.join(enabled) or 'none'})"
            )
        if not row.enabled:
            raise ConfigError(f"watchlist '{slug}' is disabled: it takes no subscribers")


def _request(session: Session, email: str, prefs: Preferences) -> SubscriptionRequest:
    """Preferences from a form as a checked store request (:func:`check_request`)."""
    return check_request(
        session,
        SubscriptionRequest(
            email=email,
            watchlists=prefs.watchlists,
            frequency=prefs.frequency,
            significance=prefs.significance,
            countries=prefs.countries,
            near=near_spec(prefs.near, prefs.within if prefs.near.strip() else None),
        ),
    )


ADDRESS_LIMIT = 3
"""Confirmation emails per address per hour, its ``+tag`` variants counted as one."""
ADDRESS_WINDOW = timedelta(hours=1)


def request_subscription(
    session: Session,
    env: jinja2.Environment,
    mail: MailSettings,
    email: str,
    prefs: Preferences,
    now: datetime,
) -> bool:
    """Ask for a subscription: a confirmation request and one email whose link confirms it.

    The request keeps exactly these preferences; confirming its link applies them,
    and nothing else does, so a later request for the same address never changes
    what an earlier link confirms. A new address becomes a pending subscriber; an
    existing one is not changed at all. No email for an active address, or when
    one went to the address in the last ten minutes, or to :data:`ADDRESS_LIMIT`
    of its variants in the last hour. The work is the same whatever the address's
    state (the email is rendered in every case), so the time taken does not tell.
    Returns whether an email was queued, which a public page must not show.
    Raises :class:`~trialwatch.errors.ConfigError` for an invalid address or preference.
    """
    req = _request(session, email, prefs)
    subscriber = subscriber_store.find_or_add_pending(session, req, now)
    nonce = confirmation_store.new_nonce()
    choices = confirmation_store.choices_of(req)
    message = confirmations.mail_for(session, env, mail, subscriber, nonce, choices, now)
    variants = ratelimits.hit(session, _address_key(req.email), now, ADDRESS_WINDOW)
    claimed = subscriber_store.claim_confirmation(session, subscriber, now)
    if message is None:
        return False
    # The rows are written in every case and kept only when the email goes out.
    kept = claimed and variants <= ADDRESS_LIMIT
    savepoint = session.begin_nested()
    confirmation_store.add_request(session, subscriber.id, nonce, choices, now)
    outbox.queue(session, [message.row])
    if not kept:
        savepoint.rollback()
        return False
    savepoint.commit()
    log.info("confirmation queued subscriber=%d", subscriber.id)
    return True


def _address_key(email: str) -> str:
    """The rate-limit key of an address: ``victim+7@x.org`` counts as ``victim@x.org``."""
    local, _, domain = email.rpartition("@")
    return f"subscribe:to:{local.split('+', 1)[0]}@{domain}"


def resend_confirmation(
    session: Session,
    env: jinja2.Environment,
    mail: MailSettings,
    subscriber_token: str,
    now: datetime,
    nonce: str | None = None,
) -> bool:
    """A new email for a subscriber's open request (same limits); whether one was queued.

    The request is the one ``nonce`` names (an expired link's), else the newest
    one not confirmed yet. Nothing for an active subscriber or one without an open
    request.
    """
    subscriber = subscriber_store.subscriber_by_token(session, subscriber_token)
    if subscriber is None or subscriber.status == "active":
        return False
    request = confirmation_store.request_by_nonce(session, nonce) if nonce else None
    if request is None or request.subscriber_id != subscriber.id or request.confirmed_at:
        request = confirmation_store.latest_open_request(session, subscriber.id)
    if request is None:
        request = confirmations.legacy_request(session, subscriber, now)
    if request is None:
        return False
    message = confirmations.mail_for(
        session, env, mail, subscriber, request.nonce, request.choices, now
    )
    variants = ratelimits.hit(session, _address_key(subscriber.email), now, ADDRESS_WINDOW)
    claimed = subscriber_store.claim_confirmation(session, subscriber, now)
    if message is None or not claimed or variants > ADDRESS_LIMIT:
        return False
    outbox.queue(session, [message.row])
    log.info("confirmation queued again subscriber=%d", subscriber.id)
    return True


@dataclass(frozen=True)
class Pending:
    """What a confirmation link stands for, as its page shows it before the button."""

    outcome: PreviewOutcome
    lines: tuple[str, ...] = ()


def preview(session: Session, secret: str, token: str, now: datetime) -> Pending:
    """What the link would confirm (``"pending"`` with the choices), or why it would not.

    Changes nothing: a mail scanner may open the link. Raises ExpiredToken and
    InvalidToken as :func:`confirm` does.
    """
    found = confirmations.resolve_link(session, read_confirm_token(secret, token, now))
    if isinstance(found, str):
        return Pending(found)
    _, _, choices = found
    lines = describe_choices(choices, confirmations.watchlist_names(session, choices))
    return Pending("pending", tuple(lines))


def confirm(session: Session, secret: str, token: str, now: datetime) -> ConfirmOutcome:
    """Apply the choices of the request a confirmation token names, and activate.

    ``"confirmed"``; ``"already"`` (the link was used, or the subscriber is active:
    nothing changes); ``"used"`` (the link was used and the subscriber has left
    since: it does not subscribe them again); ``"gone"`` (no such request,
    subscriber or watchlist any more). Raises
    :class:`~trialwatch.mail.signing.ExpiredToken` for a link older than seven days
    and :class:`~trialwatch.errors.InvalidToken` for a forged or tampered one.
    """
    found = confirmations.resolve_link(session, read_confirm_token(secret, token, now))
    if isinstance(found, str):
        return found
    subscriber, request, choices = found
    known = set(confirmations.watchlist_names(session, choices))
    req = confirmation_store.request_of(subscriber.email, choices)
    req = dataclasses.replace(req, watchlists=tuple(s for s in req.watchlists if s in known))
    if not req.watchlists:
        return "gone"
    if request is None:  # a link mailed before requests were kept
        request = confirmation_store.add_request(
            session, subscriber.id, confirmation_store.new_nonce(), choices, now
        )
    if not confirmation_store.mark_confirmed(session, request, now):
        return "already"
    subscriber_store.set_subscriptions(session, subscriber, req, now)
    subscriber_store.activate(session, subscriber, now)
    log.info("subscriber confirmed subscriber=%d request=%d", subscriber.id, request.id)
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


def owner_of_request(session: Session, nonce: str) -> str | None:
    """The opaque token of the subscriber who made the request ``nonce``, or None."""
    request = confirmation_store.request_by_nonce(session, nonce)
    subscriber = session.get(Subscriber, request.subscriber_id) if request else None
    return subscriber.token if subscriber else None
