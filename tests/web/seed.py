"""Seed data of the web tests: the MMN watchlist synced from the fake registry, twice."""

from __future__ import annotations

import copy

from sqlalchemy import Engine

from tests.factories import T0, change_status, sync_mmn
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.watchlists import load_watchlists

ARDA = "NCT05225675"
"""An MMN study (argenx, sites in Belgium, France, the Netherlands, the United States)."""


def seed_mmn(engine: Engine, fake: FakeCtgov, *, extra: int = 0, title: str | None = None) -> None:
    """Sync MMN (with ``extra`` copies of ARDA under new NCT IDs), then ARDA completes."""
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)
    base = fake.get(ARDA)
    for n in range(extra):
        record = copy.deepcopy(base)
        record["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{n:07d}"
        fake.put(record)
    if title is not None:
        record = copy.deepcopy(fake.get("NCT06537999"))
        record["protocolSection"]["identificationModule"]["briefTitle"] = title
        fake.put(record)
    sync_mmn(engine, fake)
    change_status(fake, ARDA, "COMPLETED", "2026-11-28")
    sync_mmn(engine, fake)
