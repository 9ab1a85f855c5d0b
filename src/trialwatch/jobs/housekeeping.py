"""Housekeeping: deleting what is no longer needed (run by the scheduler once a day)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine

from trialwatch.store import outbox
from trialwatch.store.db import make_sessionmaker, session_scope

log = logging.getLogger("trialwatch.jobs.housekeeping")


def purge_sent_outbox(engine: Engine, *, retention: timedelta, now: datetime) -> int:
    """Delete the copies of messages sent more than ``retention`` before ``now``.

    Only ``sent`` rows go: queued, sending and failed messages stay, and so do the
    changes a deleted digest covered. Returns the number of messages deleted.
    """
    with session_scope(make_sessionmaker(engine)) as session:
        deleted = outbox.purge_sent(session, now - retention)
    if deleted:
        log.info("sent messages purged deleted=%d retention=%s", deleted, retention)
    return deleted
