"""Housekeeping: deleting what is no longer needed (run by the scheduler once a day)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine

from trialwatch.store import outbox, ratelimits, web_sessions
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


WEB_STATE_KEPT = timedelta(days=1)
"""How long a finished rate-limit window or an expired admin session is kept."""


def prune_web_state(engine: Engine, *, now: datetime) -> int:
    """Delete rate-limit windows and admin sessions over a day past; how many rows went."""
    with session_scope(make_sessionmaker(engine)) as session:
        windows = ratelimits.prune(session, now - WEB_STATE_KEPT)
        sessions = web_sessions.prune(session, now - WEB_STATE_KEPT)
    if windows or sessions:
        log.info("web state pruned rate_limit_windows=%d sessions=%d", windows, sessions)
    return windows + sessions
