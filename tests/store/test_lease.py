"""The leader lease keeps the database's time: a process whose clock is ahead cannot
take a lease its live holder just renewed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from trialwatch.clock import utcnow
from trialwatch.store import lease
from trialwatch.store.db import make_sessionmaker, session_scope

TAKE = """
import sys
from datetime import timedelta
from trialwatch.store import lease
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
engine = make_engine(sys.argv[1])
with session_scope(make_sessionmaker(engine)) as session:
    print(lease.take(session, lease.SCHEDULER, "replica", timedelta(seconds=60)))
"""


def test_a_clock_16_minutes_ahead_does_not_take_a_live_lease(
    engine: Engine, database_url: str
) -> None:
    """Holder renews for 60 s; a process under faketime +16 min finds it held."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a SQLite database has one host, so one clock")
    ttl = timedelta(seconds=60)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        assert lease.take(session, lease.SCHEDULER, "leader", ttl)
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    taken = subprocess.run(
        ["faketime", "-f", "+16m", sys.executable, "-c", TAKE, database_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert taken.stdout.strip() == "False", taken.stderr
    with session_scope(factory) as session:
        held = lease.holder(session, lease.SCHEDULER)
        assert held is not None
        assert held.owner == "leader"
        assert held.expires_at <= utcnow() + ttl + timedelta(seconds=5)
