"""Watchlist rows follow their files: the one reload of ``init``, ``run`` start and SIGHUP.

All three call :func:`read` then :func:`apply`. :func:`read` validates the folder
(a bad file is a :class:`~trialwatch.errors.ConfigError` naming it, before anything
is written); :func:`apply` creates and updates the rows and disables those whose
file is gone (their history is kept). :func:`save` writes specs without disabling
anything (a watchlist made in code, as the tests and benchmarks do).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.watchlists import WatchlistValues
from trialwatch.watchlists import WatchlistSpec, load_watchlists


def read(folder: Path) -> list[WatchlistSpec]:
    """Every watchlist file of ``folder``, validated."""
    return load_watchlists(folder)


def values_of(spec: WatchlistSpec) -> WatchlistValues:
    """The row values of a watchlist spec (the store knows no domain type)."""
    return WatchlistValues(
        slug=spec.slug,
        name=spec.name,
        criteria=spec.criteria.to_dict(),
        description=spec.description,
        schedule=spec.schedule,
        enabled=spec.enabled,
        source=spec.source,
        modified_at=spec.modified_at,
    )


def save(session: Session, specs: Sequence[WatchlistSpec], now: datetime) -> list[str]:
    """Create or update the rows of ``specs``; one report line per watchlist."""
    return watchlist_store.upsert_watchlists(session, [values_of(s) for s in specs], now)


def apply(
    session: Session, specs: Sequence[WatchlistSpec], folder: Path, now: datetime
) -> list[str]:
    """Make the rows follow ``specs`` (read from ``folder``); one report line per watchlist."""
    report = save(session, specs, now)
    slugs = {spec.slug for spec in specs}
    report += watchlist_store.disable_missing(session, slugs, now, str(folder))
    return report
