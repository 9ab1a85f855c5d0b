"""Whether the outbox holds mail due now: the cheap question asked before a delivery pass.

The continuous senders (``trialwatch run`` between cycles, the web's mailer) ask it
every few seconds and start a pass only when the answer is yes. Rows in, rows out.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from trialwatch.store.models import Digest


def mail_due(session: Session, now: datetime, kinds: Collection[str] | None = None) -> bool:
    """True when a queued message (of ``kinds``, or any) is due at ``now``."""
    query = (
        select(Digest.id)
        .where(Digest.status == "queued", Digest.next_attempt_at <= now)
        .where(Digest.kind.in_(list(kinds)) if kinds is not None else true())
        .limit(1)
    )
    return session.scalar(query) is not None
