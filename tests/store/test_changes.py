"""Change rows and the digest horizon."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from tests.factories import make_watchlist_and_run
from trialwatch.jobs import records
from trialwatch.store import changes as change_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_the_digest_horizon_waits_for_changes_being_written(engine: Engine) -> None:
    """On PostgreSQL, the horizon is read only once in-flight change writers commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: ids are committed in order")
    record = json.loads((FIXTURES / "NCT06171568.json").read_text())
    factory = make_sessionmaker(engine)
    wl_id, run_id = make_watchlist_and_run(engine)
    with session_scope(factory) as session:
        records.store_records(session, [record], watchlist_id=wl_id, run_id=run_id, now=NOW)
    writer = factory()
    edited = copy.deepcopy(record)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    page = records.store_records(writer, [edited], watchlist_id=wl_id, run_id=run_id, now=NOW)
    assert page.changes
    seen: list[int] = []

    def read_horizon() -> None:
        with session_scope(factory) as reader:
            seen.append(change_store.newest_change_id(reader))

    thread = threading.Thread(target=read_horizon)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # waiting for the writer
    writer.commit()
    writer.close()
    thread.join(timeout=10)
    with session_scope(factory) as session:
        assert seen == [session.scalar(select(func.max(Change.id)))]


def test_a_historical_change_is_never_in_the_digest_feed(engine: Engine) -> None:
    """Changes found between past versions are shown, never mailed: the feed leaves them out."""
    record = json.loads((FIXTURES / "NCT06171568.json").read_text())
    factory = make_sessionmaker(engine)
    wl_id, run_id = make_watchlist_and_run(engine)
    with session_scope(factory) as session:
        records.store_records(session, [record], watchlist_id=wl_id, run_id=run_id, now=NOW)
        edited = copy.deepcopy(record)
        edited["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
        records.store_records(session, [edited], watchlist_id=wl_id, run_id=run_id, now=NOW)
    with session_scope(factory) as session:
        upto = change_store.newest_change_id(session)
        fed = {row.id for row in change_store.change_feed(session, wl_id, 0, upto)}
        assert fed, "the edit made mailable changes: the test checks something"
        historical = max(fed)
        session.execute(update(Change).where(Change.id == historical).values(historical=True))
    with session_scope(factory) as session:
        again = {row.id for row in change_store.change_feed(session, wl_id, 0, upto)}
    assert again == fed - {historical}
