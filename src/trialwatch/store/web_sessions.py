"""Admin sessions kept in the database, so a logout holds in every web process.

A row's id is the SHA-256 of the session id the cookie carries: the table alone
signs nobody in. A session is valid while it has not expired and was not revoked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from trialwatch.store.models import WebSession


@dataclass(frozen=True)
class SessionRow:
    """A valid session: its row id and its CSRF token."""

    id: str
    csrf: str


def session_key(sid: str) -> str:
    """The row id of the session id ``sid``."""
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(
    session: Session, sid: str, csrf: str, now: datetime, lifetime: timedelta
) -> SessionRow:
    """Store a new session; expired rows go at the same time."""
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    row = WebSession(
        id=session_key(sid), csrf=csrf, created_at=now, expires_at=now + lifetime, revoked_at=None
    )
    session.add(row)
    session.flush()
    return SessionRow(row.id, csrf)


def find_session(session: Session, sid: str, now: datetime) -> SessionRow | None:
    """The session ``sid`` if it exists, has not expired and was not revoked."""
    row = session.get(WebSession, session_key(sid))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return SessionRow(row.id, row.csrf)


def revoke(session: Session, key: str, now: datetime) -> bool:
    """End the session with row id ``key`` (a logout); whether it was valid."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.id == key, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def prune(session: Session, before: datetime) -> int:
    """Delete sessions that expired before ``before``; how many went."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
