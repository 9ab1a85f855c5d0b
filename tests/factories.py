"""Plain factories for database tests: watchlists and runs, subscribers due a digest,
registry edits, and the digest build and send steps with test settings."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.jobs.digests import build_digests_once
from trialwatch.jobs.sync import sync_watchlist
from trialwatch.mail.outbox_rows import MailSettings
from trialwatch.mail.templates import make_environment
from trialwatch.mail.transport import SmtpTransport
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import SyncRun
from trialwatch.store.subscribers import SubscriptionRequest
from trialwatch.watchlists import Criteria, WatchlistSpec, load_watchlists

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def make_watchlist_and_run(engine: Engine, slug: str = "mmn") -> tuple[int, int]:
    """A watchlist and a running full sync run of it: (watchlist id, run id)."""
    with session_scope(make_sessionmaker(engine)) as session:
        spec = WatchlistSpec(slug=slug, name=slug.upper(), criteria=Criteria(conditions=(slug,)))
        watchlist_files.save(session, [spec], NOW)
        wl = watchlist_store.get_watchlist(session, slug)
        run = SyncRun(
            watchlist_id=wl.id, mode="full", status="running", started_at=NOW, api_url="x"
        )
        session.add(run)
        session.flush()
        return wl.id, run.id


SENDER = "TrialWatch <digests@trialwatch.example>"
MAIL = MailSettings(
    sender=SENDER, public_url="https://tw.example", secret="test-secret-key-of-at-least-32-bytes"
)
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def change_status(fake: FakeCtgov, nct_id: str, status: str, day: str, **ident: str) -> None:
    """The fake registry publishes a new status for a study, updated on ``day``."""
    record = copy.deepcopy(fake.get(nct_id))
    record["protocolSection"]["statusModule"]["overallStatus"] = status
    record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        "date": day,
        "type": "ACTUAL",
    }
    record["protocolSection"]["identificationModule"].update(ident)
    fake.put(record)


def sync_mmn(engine: Engine, fake: FakeCtgov) -> None:
    """Sync the shipped MMN watchlist from the fake registry."""
    with CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0)) as registry:
        sync_watchlist(engine, registry, "mmn")


def prepare_due(engine: Engine, fake: FakeCtgov, emails: list[str], **prefs: Any) -> None:
    """Sync the MMN watchlist, subscribe the addresses, then make ARDA change status."""
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)
    sync_mmn(engine, fake)
    with session_scope(make_sessionmaker(engine)) as session:
        for email in emails:
            request = SubscriptionRequest(
                email=email, watchlists=("mmn",), frequency="immediate", **prefs
            )
            subscriber_store.subscribe(session, request, T0)
    change_status(fake, "NCT05225675", "COMPLETED", "2026-11-28")
    sync_mmn(engine, fake)


def build(engine: Engine, now: datetime = T0) -> int:
    """Build the due digests at ``now``; return how many were queued."""
    return build_digests_once(engine, make_environment(), MAIL, now=now).queued


def send(engine: Engine, url: str, now: datetime = T0) -> Any:
    """Deliver the outbox over SMTP at ``url`` at ``now``."""
    return send_digests_once(engine, SmtpTransport.from_url(url), sender=SENDER, now=lambda: now)
