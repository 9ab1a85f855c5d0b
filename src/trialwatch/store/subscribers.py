"""Subscribers and their subscriptions.

Over 400 lines because subscribers, subscriptions and their cursors are written
together under the same claims; splitting would scatter one row's rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from sqlalchemy import String, delete, func, or_, select, update
from sqlalchemy.orm import Session

from trialwatch.errors import ConfigError, NotFoundError
from trialwatch.store.changes import newest_change_id
from trialwatch.store.db import insert_or_skip
from trialwatch.store.models import (
    Study,
    Subscriber,
    Subscription,
    Watchlist,
    WatchlistStudy,
)
from trialwatch.store.watchlists import get_watchlist
from trialwatch.vocab import FREQUENCIES, MAILED_SIGNIFICANCES


def _column_length(name: str) -> int:
    column_type = Subscriber.__table__.c[name].type
    if not isinstance(column_type, String) or not column_type.length:
        raise TypeError(f"subscriber.{name} is not a sized string column")
    return column_type.length


# The sizes of the subscriber columns: longer values are refused before they reach
# the database (PostgreSQL would fail the whole transaction; SQLite would store them).
MAX_EMAIL = _column_length("email")  # 320
MAX_NAME = _column_length("name")  # 200
MAX_TIMEZONE = _column_length("timezone")  # 64


MAX_NEAR_LABEL = 200


@dataclass(frozen=True)
class NearSpec:
    """A resolved "near me" filter: the place as shown, its coordinates, a radius in km."""

    label: str
    lat: float
    lon: float
    within_km: float


@dataclass(frozen=True)
class SubscriptionRequest:
    """What an admin (or an import row) asks for; validated by :func:`validate_request`."""

    email: str
    watchlists: tuple[str, ...]
    name: str | None = None
    frequency: str = "daily"
    significance: str = "major"
    countries: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    timezone: str = "UTC"
    status: str = "active"
    near: NearSpec | None = None
    """Resolved by the caller (:func:`trialwatch.services.subscriptions.near_spec`);
    None = anywhere."""


def normalise_email(email: str) -> str:
    """The address in canonical form (ASCII, lower case), or ConfigError naming the problem.

    Local parts are case-sensitive in theory, never in practice: lower-casing keeps
    "Ana@x.org" and "ana@x.org" from becoming two subscribers. An international domain
    is kept in its ASCII (punycode) form, which every mail server accepts; a non-ASCII
    local part is refused: it cannot be delivered without SMTPUTF8, which we do not use.
    """
    valid = _validated(email)
    if valid.ascii_email is None:
        raise ConfigError(
            f"email: '{email}' has non-ASCII characters before the @,"
            " which cannot be delivered without SMTPUTF8"
        )
    address = str(valid.ascii_email).lower()
    if len(address) > MAX_EMAIL:
        raise ConfigError(f"email: {len(address)} characters, at most {MAX_EMAIL}")
    return address


def _validated(email: str) -> ValidatedEmail:
    try:
        return validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ConfigError(f"email: '{email}' is not a valid address: {exc}") from exc


def _stored_forms(email: str) -> set[str]:
    """Every form an address may be stored in, older releases' non-ASCII ones included."""
    valid = _validated(email)
    forms = {str(valid.normalized).lower()}
    if valid.ascii_email is not None:
        forms.add(str(valid.ascii_email).lower())
    return forms


def validate_request(req: SubscriptionRequest) -> SubscriptionRequest:
    email = normalise_email(req.email)
    if not req.watchlists:
        raise ConfigError("watchlist: at least one is required")
    if req.frequency not in FREQUENCIES:
        raise ConfigError(f"frequency: '{req.frequency}' is not one of {', '.join(FREQUENCIES)}")
    if req.significance not in MAILED_SIGNIFICANCES:
        raise ConfigError(f"significance: '{req.significance}' is not major or minor")
    if len(req.timezone) > MAX_TIMEZONE:
        raise ConfigError(
            f"timezone: {len(req.timezone)} characters, at most {MAX_TIMEZONE}"
            " (an IANA name such as Europe/Amsterdam)"
        )
    try:
        ZoneInfo(req.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone: '{req.timezone}' is not a known time zone") from exc
    name = " ".join(req.name.split()) if req.name else None
    if name and len(name) > MAX_NAME:
        raise ConfigError(f"name: {len(name)} characters, at most {MAX_NAME}")
    _check_near(req.near)
    return SubscriptionRequest(
        email=email,
        watchlists=req.watchlists,
        name=name or None,
        frequency=req.frequency,
        significance=req.significance,
        countries=tuple(c.strip() for c in req.countries if c.strip()),
        kinds=tuple(k.strip() for k in req.kinds if k.strip()),
        timezone=req.timezone,
        status=req.status,
        near=req.near,
    )


def _check_near(near: NearSpec | None) -> None:
    if near is None:
        return
    if not near.label.strip() or len(near.label) > MAX_NEAR_LABEL:
        raise ConfigError(f"near: the place's name must be 1 to {MAX_NEAR_LABEL} characters")
    if not (-90 <= near.lat <= 90 and -180 <= near.lon <= 180):
        raise ConfigError(f"near: ({near.lat}, {near.lon}) are not coordinates")
    if not near.within_km > 0:
        raise ConfigError(f"within: {near.within_km:g} km is not a distance")


def subscribe(session: Session, req: SubscriptionRequest, now: datetime) -> Subscriber:
    """Create or update a subscriber and their subscriptions to the named watchlists.

    New subscriptions start at the newest change, so a subscriber is told about what
    happens from now on, not about the whole history of a watchlist.
    """
    req = validate_request(req)
    watchlists = [get_watchlist(session, slug) for slug in req.watchlists]
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == req.email))
    if subscriber is None:
        subscriber = _insert_subscriber(session, req, now)
    else:
        subscriber.name = req.name or subscriber.name
        subscriber.timezone = req.timezone
        if subscriber.status in ("unsubscribed", "bounced") and req.status == "active":
            subscriber.status = "active"
            subscriber.confirmed_at = now
    start = newest_change_id(session)
    for wl in watchlists:
        sub = session.scalar(
            select(Subscription).where(
                Subscription.subscriber_id == subscriber.id, Subscription.watchlist_id == wl.id
            )
        )
        if sub is None:
            sub = _insert_subscription(session, req, (subscriber.id, wl.id), start, now)
        sub.frequency = req.frequency
        sub.min_significance = req.significance
        sub.countries = list(req.countries)
        sub.event_kinds = list(req.kinds)
        near = req.near
        sub.near_label = near.label if near else None
        sub.near_lat = near.lat if near else None
        sub.near_lon = near.lon if near else None
        sub.near_within_km = near.within_km if near else None
    session.flush()
    return subscriber


def get_subscriber(session: Session, email: str) -> Subscriber:
    """The subscriber of an address, also one stored before non-ASCII ones were refused."""
    forms = _stored_forms(email)
    row = session.scalars(
        select(Subscriber).where(Subscriber.email.in_(forms)).order_by(Subscriber.id)
    ).first()
    if row is None:
        raise NotFoundError(f"no subscriber {min(forms, key=lambda f: (not f.isascii(), f))}")
    return row


def list_subscribers(
    session: Session, watchlist: str | None = None
) -> list[tuple[Subscriber, list[tuple[Subscription, Watchlist]]]]:
    query = select(Subscriber).order_by(Subscriber.email)
    if watchlist:
        wl = get_watchlist(session, watchlist)
        query = query.where(
            Subscriber.id.in_(
                select(Subscription.subscriber_id).where(Subscription.watchlist_id == wl.id)
            )
        )
    subscribers = list(session.scalars(query))
    subs: dict[int, list[tuple[Subscription, Watchlist]]] = {}
    for sub, wl in session.execute(
        select(Subscription, Watchlist)
        .join(Watchlist, Watchlist.id == Subscription.watchlist_id)
        .where(Subscription.subscriber_id.in_([s.id for s in subscribers]))
        .order_by(Watchlist.slug)
    ).tuples():
        subs.setdefault(sub.subscriber_id, []).append((sub, wl))
    return [(s, subs.get(s.id, [])) for s in subscribers]


def unsubscribe(
    session: Session, subscriber: Subscriber, now: datetime, watchlists: Sequence[str] = ()
) -> int:
    """Drop the named subscriptions, or all of them (the subscriber is then unsubscribed)."""
    query = delete(Subscription).where(Subscription.subscriber_id == subscriber.id)
    if watchlists:
        ids = [get_watchlist(session, slug).id for slug in watchlists]
        query = query.where(Subscription.watchlist_id.in_(ids))
    removed = int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]
    remaining = session.scalar(
        select(Subscription.id).where(Subscription.subscriber_id == subscriber.id).limit(1)
    )
    if remaining is None and subscriber.status != "bounced":
        subscriber.status = "unsubscribed"
        subscriber.unsubscribed_at = now
    return removed


def purge(session: Session, subscriber: Subscriber) -> None:
    """Delete the subscriber, their subscriptions and their messages."""
    session.delete(subscriber)


def subscriber_by_token(session: Session, token: str) -> Subscriber | None:
    """The subscriber whose opaque ``token`` this is, or None."""
    return session.scalar(select(Subscriber).where(Subscriber.token == token))


def subscriber_by_id_and_email(
    session: Session, subscriber_id: int, email: str
) -> Subscriber | None:
    """The subscriber with this id while their address is still ``email`` (any case), or None."""
    row = session.get(Subscriber, subscriber_id)
    if row is None or row.email.lower() != email.lower():
        return None
    return row


def due_candidates(
    session: Session, only_email: str | None = None
) -> list[tuple[Subscription, Subscriber, Watchlist]]:
    """Subscriptions to enabled watchlists of active subscribers (or of one address).

    Ordered by subscriber, then watchlist slug; whether each is due is the caller's
    decision (:func:`trialwatch.digest.schedule.is_due`).
    """
    query = (
        select(Subscription, Subscriber, Watchlist)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .join(Watchlist, Watchlist.id == Subscription.watchlist_id)
        .where(Watchlist.enabled.is_(True))
        .order_by(Subscriber.id, Watchlist.slug)
    )
    if only_email is not None:
        query = query.where(Subscriber.email == only_email)
    else:
        query = query.where(Subscriber.status == "active")
    return list(session.execute(query).tuples())


def advance_cursors(session: Session, read: Mapping[int, Sequence[int]], horizon: int) -> set[int]:
    """Move cursors to ``horizon`` from the value they were read at; return the ids moved.

    ``read`` maps a cursor value to the subscriptions read at it: one compare-and-set
    UPDATE per value, so a subscription another builder moved meanwhile stays as it is.
    """
    moved: set[int] = set()
    for cursor, ids in read.items():
        moved.update(
            session.scalars(
                update(Subscription)
                .where(Subscription.id.in_(list(ids)), Subscription.cursor == cursor)
                .values(cursor=horizon)
                .returning(Subscription.id)
                .execution_options(synchronize_session=False)
            )
        )
    return moved


def put_back_cursor(session: Session, subscription_id: int, cursor: int, horizon: int) -> None:
    """Undo :func:`advance_cursors` for one subscription (if still at ``horizon``)."""
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.cursor == horizon)
        .values(cursor=cursor)
        .execution_options(synchronize_session=False)
    )


def mark_mailed(session: Session, subscription_ids: Sequence[int], now: datetime) -> None:
    """Record that these subscriptions were sent a digest at ``now``."""
    if subscription_ids:
        session.execute(
            update(Subscription)
            .where(Subscription.id.in_(list(subscription_ids)))
            .values(last_digest_at=now)
            .execution_options(synchronize_session=False)
        )


# --- self-service (double opt-in) -----------------------------------------------------------

CONFIRM_INTERVAL = timedelta(minutes=10)
"""At most one confirmation email per address in this time."""


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber of an address (validated first: ConfigError if it is not one), or None."""
    try:
        return get_subscriber(session, email)
    except NotFoundError:
        return None


def _insert_subscriber(session: Session, req: SubscriptionRequest, now: datetime) -> Subscriber:
    """The new subscriber of ``req``, or the one another request inserted meanwhile.

    Two requests for one new address at once both find none and both insert: the
    second waits for the first's row and then skips (no unique-constraint error
    reaches the person) and reads that row, as it is.
    """
    session.execute(
        insert_or_skip(session, Subscriber).values(
            email=req.email,
            name=req.name,
            status=req.status,
            timezone=req.timezone,
            created_at=now,
            confirmed_at=now if req.status == "active" else None,
        )
    )
    # Inserted above, or by the request that won.
    return session.scalars(
        select(Subscriber)
        .where(Subscriber.email == req.email)
        .execution_options(populate_existing=True)
    ).one()


def _insert_subscription(
    session: Session, req: SubscriptionRequest, ids: tuple[int, int], start: int, now: datetime
) -> Subscription:
    """The new subscription (subscriber id, watchlist id) with its cursor at ``start``,
    or the one a request at the same time inserted; the caller sets its preferences."""
    subscriber_id, watchlist_id = ids
    session.execute(
        insert_or_skip(session, Subscription).values(
            subscriber_id=subscriber_id,
            watchlist_id=watchlist_id,
            frequency=req.frequency,
            min_significance=req.significance,
            cursor=start,
            created_at=now,
        )
    )
    return session.scalars(
        select(Subscription)
        .where(
            Subscription.subscriber_id == subscriber_id, Subscription.watchlist_id == watchlist_id
        )
        .execution_options(populate_existing=True)
    ).one()


def find_or_add_pending(session: Session, req: SubscriptionRequest, now: datetime) -> Subscriber:
    """The subscriber of ``req``'s address, added as pending (with no subscriptions) if new.

    An existing subscriber is returned as it is, whatever its state: what a
    request asks for is kept in its confirmation request
    (:mod:`trialwatch.store.confirmations`) and applied only when its link is
    used, so nobody changes another person's subscription by typing their address.
    The same statements run whether the address is new or not (the insert skips
    an existing row), so the time taken does not tell which it was.
    """
    req = validate_request(req)
    existing = find_subscriber(session, req.email)
    if existing is not None and existing.email != req.email:  # stored in an older form
        return existing
    return _insert_subscriber(session, dataclasses.replace(req, status="pending"), now)


def set_subscriptions(
    session: Session, subscriber: Subscriber, req: SubscriptionRequest, now: datetime
) -> Subscriber:
    """Make the subscriber's subscriptions exactly ``req``'s watchlists and preferences."""
    req = validate_request(dataclasses.replace(req, email=subscriber.email))
    keep = [get_watchlist(session, slug).id for slug in req.watchlists]
    session.execute(
        delete(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.watchlist_id.not_in(keep)
        )
    )
    status = subscriber.status
    subscribe(
        session,
        dataclasses.replace(req, name=subscriber.name, timezone=subscriber.timezone, status=status),
        now,
    )
    subscriber.status = status
    return subscriber


def claim_confirmation(session: Session, subscriber: Subscriber, now: datetime) -> bool:
    """Record that a confirmation email goes out now; False if one went out recently.

    Never for an active subscriber (the same one UPDATE, matching no row). A
    compare-and-set UPDATE, so two requests at once send one email between them.
    """
    result = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber.id,
            Subscriber.status != "active",
            or_(
                Subscriber.confirm_sent_at.is_(None),
                Subscriber.confirm_sent_at <= now - CONFIRM_INTERVAL,
            ),
        )
        .values(confirm_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = bool(result.rowcount)  # type: ignore[attr-defined]
    if claimed:
        subscriber.confirm_sent_at = now
    return claimed


def activate(session: Session, subscriber: Subscriber, now: datetime) -> None:
    """A subscriber becomes active; their subscriptions start at the newest change.

    A bounced one too: activating follows a link they opened, so mail reaches them.
    """
    subscriber.status = "active"
    subscriber.confirmed_at = now
    subscriber.bounced_at = None
    session.execute(
        update(Subscription)
        .where(Subscription.subscriber_id == subscriber.id)
        .values(cursor=newest_change_id(session))
        .execution_options(synchronize_session=False)
    )
    session.flush()


def reactivate(session: Session, subscriber_id: int, now: datetime) -> bool:
    """A bounced subscriber becomes active again (an admin's or the owner's decision).

    False when the subscriber is not bounced (nothing changes). Their subscriptions
    keep their cursors, so the next digest carries what the bounce held back.
    """
    result = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.status == "bounced")
        .values(status="active", bounced_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def subscriptions_of(
    session: Session, subscriber: Subscriber
) -> list[tuple[Subscription, Watchlist]]:
    """The subscriber's subscriptions with their watchlists, by watchlist slug."""
    return list(
        session.execute(
            select(Subscription, Watchlist)
            .join(Watchlist, Watchlist.id == Subscription.watchlist_id)
            .where(Subscription.subscriber_id == subscriber.id)
            .order_by(Watchlist.slug)
        ).tuples()
    )


def watchlist_countries(session: Session, watchlist_ids: Sequence[int]) -> list[str]:
    """The countries of the sites of the current studies of these watchlists, sorted.

    Read from the studies' listing column (``study.countries``, which the sync writes
    from each current version's trial summary), never from a record.
    """
    query = (
        select(Study.countries)
        .join(WatchlistStudy, WatchlistStudy.study_id == Study.id)
        .where(
            WatchlistStudy.watchlist_id.in_(list(watchlist_ids)), WatchlistStudy.left_at.is_(None)
        )
        .execution_options(yield_per=200)
    )
    countries: set[str] = set()
    for listed in session.scalars(query):
        for country in listed or ():
            if isinstance(country, str) and country.strip():
                countries.add(" ".join(country.split()))
    return sorted(countries, key=str.casefold)


# --- the admin's listing --------------------------------------------------------------------


def subscriber_page(
    session: Session, *, offset: int, limit: int
) -> tuple[list[tuple[Subscriber, list[str]]], int]:
    """One page of subscribers by address, each with its watchlists' slugs; and the total."""
    total = session.scalar(select(func.count()).select_from(Subscriber)) or 0
    rows = list(
        session.scalars(
            select(Subscriber).order_by(Subscriber.email, Subscriber.id).offset(offset).limit(limit)
        )
    )
    slugs: dict[int, list[str]] = {}
    for subscriber_id, slug in session.execute(
        select(Subscription.subscriber_id, Watchlist.slug)
        .join(Watchlist, Watchlist.id == Subscription.watchlist_id)
        .where(Subscription.subscriber_id.in_([s.id for s in rows]))
        .order_by(Watchlist.slug)
    ).tuples():
        slugs.setdefault(subscriber_id, []).append(slug)
    return [(s, slugs.get(s.id, [])) for s in rows], int(total)


def state_counts(session: Session) -> dict[str, int]:
    """How many subscribers are in each state."""
    rows = session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    ).tuples()
    return {status: int(count) for status, count in rows}
