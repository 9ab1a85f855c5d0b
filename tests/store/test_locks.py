"""Locks held on a database connection: a job learns when its lock is gone."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.pool import NullPool

from tests.support.fakeapi import FakeCtgov
from trialwatch.clock import utcnow
from trialwatch.errors import LockHeld, LockLost
from trialwatch.jobs.sync import SyncProgress, sync_watchlist
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.locks import exclusive_lock
from trialwatch.store.models import SyncRun
from trialwatch.watchlists import Criteria, WatchlistSpec


def _terminate_lock_holders(database_url: str) -> int:
    """pg_terminate_backend every connection holding an advisory lock."""
    admin = make_engine(database_url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            ).scalar_one()
            conn.commit()
        return int(killed)
    finally:
        admin.dispose()


def test_a_lock_whose_connection_ends_is_known_lost(engine: Engine, database_url: str) -> None:
    """Terminated lock connection: check() raises LockLost; another holder may take it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("an OS file lock lasts as long as the process")
    with exclusive_lock(engine, "a job") as held:
        held.check()
        with pytest.raises(LockHeld), exclusive_lock(engine, "a job"):
            pass
        assert _terminate_lock_holders(database_url) == 1
        with pytest.raises(LockLost, match="lock lost: a job"):
            held.check()
        with exclusive_lock(engine, "a job") as again:
            again.check()


def test_a_sync_whose_lock_is_lost_stops_and_fails_its_run(
    engine: Engine, database_url: str, fake: FakeCtgov
) -> None:
    """The lock connection ends after page 1: the sync stops at the next page, run failed."""
    if engine.dialect.name != "postgresql":
        pytest.skip("an OS file lock lasts as long as the process")
    spec = WatchlistSpec(
        slug="mmn", name="MMN", criteria=Criteria(conditions=("multifocal motor neuropathy",))
    )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, [spec], utcnow())
    pages: list[int] = []

    def cut_lock(event: SyncProgress) -> None:
        pages.append(event.page)
        if event.page == 1:
            _terminate_lock_holders(database_url)

    registry = CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0))
    with registry, pytest.raises(LockLost):
        sync_watchlist(engine, registry, "mmn", page_size=1, on_page=cut_lock)
    assert pages == [1]
    with session_scope(make_sessionmaker(engine)) as session:
        run = session.scalars(select(SyncRun)).one()
    assert run.status == "failed"
    assert run.error is not None
    assert "lock lost" in run.error
