"""Fields whose JSON type drifts from the spec: stored, not diffed, counted, alerted once.

Real HTTP against the fake API on loopback, a real SMTP server, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from tests.factories import SENDER
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.jobs.health import HealthResult, check_health
from trialwatch.jobs.records import backfill_changes
from trialwatch.jobs.sync import SyncResult, sync_watchlist
from trialwatch.mail.templates import make_environment
from trialwatch.mail.transport import SmtpTransport
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change, Study, SyncRun
from trialwatch.watchlists import load_watchlists

ADMIN = "ops@trialwatch.example"
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
ARDA = "NCT05225675"
STATUS = "protocolSection.statusModule.overallStatus"
CONDITIONS = "protocolSection.conditionsModule.conditions"
TITLE = "protocolSection.identificationModule.briefTitle"
DRIFT = [
    f"{CONDITIONS}: string, expected array",
    f"{TITLE}: null, expected string",
    f"{STATUS}: array, expected string",
]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _init(engine: Engine) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)


def _sync(engine: Engine, fake: FakeCtgov, at: datetime, *, full: bool = False) -> SyncResult:
    with CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0)) as registry:
        return sync_watchlist(engine, registry, "mmn", full=full, now=lambda: at)


def _check(engine: Engine, at: datetime) -> HealthResult:
    return check_health(
        engine,
        make_environment(),
        admins=[ADMIN],
        sender=SENDER,
        stale_after=timedelta(hours=48),
        now=at,
    )


def _drifted(record: dict[str, Any], day: str) -> dict[str, Any]:
    """ARDA with three fields of another type, and one real change (enrollment)."""
    protocol = record["protocolSection"]
    protocol["statusModule"]["overallStatus"] = ["completed"]
    protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    protocol["conditionsModule"]["conditions"] = "Multifocal Motor Neuropathy"
    protocol["identificationModule"]["briefTitle"] = None
    protocol["designModule"]["enrollmentInfo"]["count"] = 60
    return record


def _run_changes(engine: Engine, run_id: int | None) -> list[tuple[str, str]]:
    with session_scope(make_sessionmaker(engine)) as session:
        rows = session.execute(
            select(Change.field, Change.summary).where(Change.sync_run_id == run_id)
        )
        return [(field, summary) for field, summary in rows]


def _mails(smtp: SmtpServer) -> list[EmailMessage]:
    return [m.message for m in smtp.messages]


def test_a_record_with_drifted_field_types_mails_no_false_change_and_one_alert(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """overallStatus as a list, conditions as a string, a null briefTitle: the record is
    stored, those fields give no change (enrollment's real one does), the run counts
    the record and names each field and type, and the admin gets one drift alert."""
    _init(engine)
    _sync(engine, fake, T0)
    fake.put(_drifted(fake.get(ARDA), "2026-11-28"))
    later = T0 + timedelta(hours=1)

    result = _sync(engine, fake, later)

    assert (result.status, result.updated, result.drifted) == ("succeeded", 1, 1)
    changes = _run_changes(engine, result.run_id)
    assert {field for field, _ in changes} == {
        "protocolSection.designModule.enrollmentInfo",
        "protocolSection.statusModule.lastUpdatePostDateStruct",
    }
    assert not any("completed" in summary or "removed" in summary for _, summary in changes)
    with session_scope(make_sessionmaker(engine)) as session:
        run = session.get_one(SyncRun, result.run_id)
        assert (run.drifted, run.drift) == (1, DRIFT)
        study = session.scalars(select(Study).where(Study.nct_id == ARDA)).one()
        assert study.overall_status is None  # never a list in a text column
        assert study.brief_title.startswith("A Phase 2, Randomized")  # the official title stands in

    first = _check(engine, later)
    assert (first.started, first.queued) == (["drift"], 1)
    assert _check(engine, later + timedelta(minutes=10)).queued == 0
    send_digests_once(engine, SmtpTransport.from_url(smtp.url), sender=SENDER, now=lambda: later)
    [mail] = _mails(smtp)
    assert mail["Subject"] == "TrialWatch alert: registry fields of another type than the spec"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = " ".join(str(body.get_content()).split())
    for line in DRIFT:
        assert line in text


def test_a_drifted_field_back_in_shape_gives_no_change_and_the_alert_clears(
    engine: Engine, fake: FakeCtgov
) -> None:
    """The type coming back is no change either; the next full sync without drift clears."""
    _init(engine)
    _sync(engine, fake, T0)
    original = fake.get(ARDA)
    fake.put(_drifted(fake.get(ARDA), "2026-11-28"))
    _sync(engine, fake, T0 + timedelta(hours=1))
    assert _check(engine, T0 + timedelta(hours=1)).started == ["drift"]
    original["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        "date": "2026-11-29",
        "type": "ACTUAL",
    }
    original["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 60
    fake.put(original)

    back = T0 + timedelta(hours=2)
    result = _sync(engine, fake, back, full=True)

    assert (result.updated, result.drifted) == (1, 0)
    fields = {field for field, _ in _run_changes(engine, result.run_id)}
    assert fields == {"protocolSection.statusModule.lastUpdatePostDateStruct"}
    assert _check(engine, back).cleared == ["drift"]


def test_a_real_change_across_a_drift_is_still_mailed(engine: Engine, fake: FakeCtgov) -> None:
    """Active, not recruiting -> a list -> COMPLETED: the last sync compares COMPLETED with
    the status from before the drift, read from the stored versions."""
    _init(engine)
    _sync(engine, fake, T0)
    original = fake.get(ARDA)
    fake.put(_drifted(fake.get(ARDA), "2026-11-28"))
    _sync(engine, fake, T0 + timedelta(hours=1))
    original["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    original["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        "date": "2026-11-29",
        "type": "ACTUAL",
    }
    fake.put(original)

    result = _sync(engine, fake, T0 + timedelta(hours=2))

    changes = dict(_run_changes(engine, result.run_id))
    assert changes[STATUS] == "Status: Active, not recruiting → Completed"
    assert CONDITIONS not in changes
    assert TITLE not in changes


def test_backfilled_changes_leave_out_drifted_fields_too(engine: Engine, fake: FakeCtgov) -> None:
    """Changes recomputed for stored versions (``backfill_changes``) skip drift alike."""
    _init(engine)
    _sync(engine, fake, T0)
    fake.put(_drifted(fake.get(ARDA), "2026-11-28"))
    result = _sync(engine, fake, T0 + timedelta(hours=1))
    with session_scope(make_sessionmaker(engine)) as session:
        session.execute(delete(Change).where(Change.sync_run_id == result.run_id))
    with session_scope(make_sessionmaker(engine)) as session:
        assert backfill_changes(session, T0 + timedelta(hours=2)) == (1, 2)
        fields = set(session.scalars(select(Change.field).where(Change.sync_run_id.is_(None))))
    assert fields == {
        "protocolSection.designModule.enrollmentInfo",
        "protocolSection.statusModule.lastUpdatePostDateStruct",
    }
