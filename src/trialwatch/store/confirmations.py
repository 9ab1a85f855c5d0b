"""Confirmation requests: each subscribe request as its confirmation mail described it.

A request's ``choices`` are a plain JSON copy of a
:class:`~trialwatch.store.subscribers.SubscriptionRequest` (watchlist slugs, how
often, how important, where); its random ``nonce`` is what the signed link
carries. Confirming applies exactly those choices, once; a later request for the
same address is a row of its own and never changes an earlier one.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trialwatch.store.models import ConfirmationRequest
from trialwatch.store.subscribers import NearSpec, SubscriptionRequest


def new_nonce() -> str:
    """A fresh random nonce for a request (URL-safe, 24 characters)."""
    return secrets.token_urlsafe(18)


def choices_of(req: SubscriptionRequest) -> dict[str, Any]:
    """The choices of a (validated) request as they are stored."""
    near = req.near
    return {
        "watchlists": list(req.watchlists),
        "frequency": req.frequency,
        "significance": req.significance,
        "countries": list(req.countries),
        "kinds": list(req.kinds),
        "near": (
            {"label": near.label, "lat": near.lat, "lon": near.lon, "within_km": near.within_km}
            if near
            else None
        ),
    }


def request_of(email: str, choices: dict[str, Any]) -> SubscriptionRequest:
    """The subscription request stored ``choices`` describe, for ``email``."""
    near = choices.get("near")
    return SubscriptionRequest(
        email=email,
        watchlists=tuple(choices.get("watchlists") or ()),
        frequency=str(choices.get("frequency") or "daily"),
        significance=str(choices.get("significance") or "major"),
        countries=tuple(choices.get("countries") or ()),
        kinds=tuple(choices.get("kinds") or ()),
        near=(
            NearSpec(
                label=str(near["label"]),
                lat=float(near["lat"]),
                lon=float(near["lon"]),
                within_km=float(near["within_km"]),
            )
            if isinstance(near, dict)
            else None
        ),
    )


def add_request(
    session: Session, subscriber_id: int, nonce: str, choices: dict[str, Any], now: datetime
) -> ConfirmationRequest:
    """Store one request (its mail is queued in the same transaction)."""
    row = ConfirmationRequest(
        subscriber_id=subscriber_id, nonce=nonce, choices=choices, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def request_by_nonce(session: Session, nonce: str) -> ConfirmationRequest | None:
    return session.scalar(select(ConfirmationRequest).where(ConfirmationRequest.nonce == nonce))


def latest_open_request(session: Session, subscriber_id: int) -> ConfirmationRequest | None:
    """The subscriber's newest request not confirmed yet, or None."""
    return session.scalars(
        select(ConfirmationRequest)
        .where(
            ConfirmationRequest.subscriber_id == subscriber_id,
            ConfirmationRequest.confirmed_at.is_(None),
        )
        .order_by(ConfirmationRequest.id.desc())
        .limit(1)
    ).first()


def has_requests(session: Session, subscriber_id: int) -> bool:
    """Whether any request was ever stored for the subscriber."""
    found = session.scalar(
        select(ConfirmationRequest.id)
        .where(ConfirmationRequest.subscriber_id == subscriber_id)
        .limit(1)
    )
    return found is not None


def mark_confirmed(session: Session, request: ConfirmationRequest, now: datetime) -> bool:
    """Record that the request was confirmed now; False if it already was (compare-and-set)."""
    result = session.execute(
        update(ConfirmationRequest)
        .where(ConfirmationRequest.id == request.id, ConfirmationRequest.confirmed_at.is_(None))
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    done = bool(result.rowcount)  # type: ignore[attr-defined]
    if done:
        request.confirmed_at = now
    return done
