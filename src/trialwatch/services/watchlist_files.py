"""Watchlist rows follow their files: the one reload of ``init``, ``run`` start and SIGHUP.

:func:`read` validates the folder (a bad file is a :class:`~trialwatch.errors.ConfigError`
naming it, before anything is written); :func:`apply` creates and updates the rows and
disables those whose file is gone (their history is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from trialwatch.store import watchlists as watchlist_store
from trialwatch.watchlists import WatchlistSpec, load_watchlists


def read(folder: Path) -> list[WatchlistSpec]:
    """Every watchlist file of ``folder``, validated."""
    return load_watchlists(folder)


def apply(
    session: Session, specs: Sequence[WatchlistSpec], folder: Path, now: datetime
) -> list[str]:
    """Make the rows follow ``specs`` (read from ``folder``); one report line per watchlist."""
    report = watchlist_store.upsert_watchlists(session, specs, now)
    slugs = {spec.slug for spec in specs}
    report += watchlist_store.disable_missing(session, slugs, now, str(folder))
    return report


def reload(session: Session, folder: Path, now: datetime) -> list[str]:
    """:func:`read` then :func:`apply`."""
    return apply(session, read(folder), folder, now)
