"""Timestamps in the future, found at start and at every cycle: clamped, logged, alerted.

:func:`clamp_future_timestamps` brings them back to now (see
:mod:`trialwatch.store.timestamps`) and returns one line per column it changed; the
cycle hands those lines to the health check, which mails the ``clock`` alert once
when it starts and once when a later cycle finds nothing to clamp.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine

from trialwatch.store import timestamps
from trialwatch.store.db import make_sessionmaker, session_scope

log = logging.getLogger("trialwatch.jobs.clock")


def clamp_future_timestamps(engine: Engine, now: datetime) -> list[str]:
    """Clamp the timestamps ahead of ``now``; one line per column (none: all is well)."""
    with session_scope(make_sessionmaker(engine)) as session:
        clamped = timestamps.clamp_future(session, now)
    lines = [
        f"{c.column}: {c.count} value{'' if c.count == 1 else 's'} up to {_span(c.furthest)}"
        " in the future, set to now"
        for c in clamped
    ]
    if lines:
        log.warning(
            "timestamps in the future clamped to now=%s columns=%s",
            now.isoformat(timespec="seconds"),
            ";".join(f"{c.column}:{c.count}:{_span(c.furthest)}" for c in clamped),
        )
    return lines


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    return f"{seconds // 60}m{seconds % 60}s"
