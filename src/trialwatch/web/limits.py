"""How often the subscribe form (and its "send me a new link") may be used.

Counted in the database (:mod:`trialwatch.store.ratelimits`, keys ``subscribe:…``),
so the limits hold across web processes and restarts. Every post counts, whatever
becomes of it; a client over its own limit does not use up the overall one. Place
lookups on the manage form count too. Over a limit, the page is a 429 that says
when to try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session
from starlette.requests import Request

from trialwatch.store import ratelimits


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits of ``key`` per fixed ``window``."""

    key: str
    limit: int
    window: timedelta


PER_CLIENT = Limit("subscribe:client:{}", 10, timedelta(minutes=10))
"""Posts per client address: enough for a person who mistypes, too few for a flood."""
OVERALL = Limit("subscribe:all", 300, timedelta(hours=1))
"""Posts from everyone together: what a small site sees in a busy hour, several times over."""


def client_of(request: Request) -> str:
    """The client's address, from ``X-Forwarded-For`` only behind a trusted proxy.

    The admin's login limiter reads it the same way (``TRIALWATCH_TRUSTED_PROXIES``).
    """
    from trialwatch.web.auth import client_of as trusted_client_of

    return trusted_client_of(request)


def admit(session: Session, client: str, now: datetime) -> timedelta | None:
    """Count one post of ``client``: None if it may go on, else how long until it may."""
    for limit, key in ((PER_CLIENT, PER_CLIENT.key.format(client)), (OVERALL, OVERALL.key)):
        if ratelimits.hit(session, key, now, limit.window) > limit.limit:
            start = ratelimits.window_start(now, limit.window)
            return start + limit.window - now
    return None
