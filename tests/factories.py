"""Plain factories for database tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import SyncRun
from trialwatch.watchlists import Criteria, WatchlistSpec

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def make_watchlist_and_run(engine: Engine, slug: str = "mmn") -> tuple[int, int]:
    """A watchlist and a running full sync run of it: (watchlist id, run id)."""
    with session_scope(make_sessionmaker(engine)) as session:
        spec = WatchlistSpec(slug=slug, name=slug.upper(), criteria=Criteria(conditions=(slug,)))
        watchlist_store.upsert_watchlists(session, [spec], NOW)
        wl = watchlist_store.get_watchlist(session, slug)
        run = SyncRun(
            watchlist_id=wl.id, mode="full", status="running", started_at=NOW, api_url="x"
        )
        session.add(run)
        session.flush()
        return wl.id, run.id
