"""Study links: the registrations a stored record names for itself, kept with who said it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from tests.factories import make_watchlist_and_run
from trialwatch.jobs import records
from trialwatch.store import links as link_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Study, StudyLink, StudyVersion

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
EUDRACT = ("eudract", "2014-005181-30")


def _store(engine: Engine, record: dict[str, object], now: datetime) -> int:
    wl_id, run_id = make_watchlist_and_run(engine) if now == NOW else (1, 1)
    with session_scope(make_sessionmaker(engine)) as session:
        records.store_records(session, [record], watchlist_id=wl_id, run_id=run_id, now=now)
        return int(session.scalar(select(Study.id)) or 0)


def _without_secondary_ids(record: dict[str, object]) -> dict[str, object]:
    edited = copy.deepcopy(record)
    ident = edited["protocolSection"]["identificationModule"]  # type: ignore[index]
    ident.pop("secondaryIdInfos")
    return edited


def test_a_stored_record_links_to_the_registrations_it_names(engine: Engine) -> None:
    """NCT02513394 names its EudraCT number: one link, from its first version; codes do not."""
    record = json.loads((FIXTURES / "NCT02513394.json").read_text())
    study_id = _store(engine, record, NOW)
    with session_scope(make_sessionmaker(engine)) as session:
        assert link_store.links_of(session, study_id) == [EUDRACT]  # not "ABCSG 42"
        assert link_store.studies_naming(session, *EUDRACT) == [study_id]
        link = session.scalars(select(StudyLink)).one()
        first = session.scalar(select(StudyVersion.id).where(StudyVersion.version == 1))
        assert (link.version_id, link.asserted_at, link.withdrawn_at) == (first, NOW, None)


def test_a_link_a_later_version_drops_is_withdrawn_then_current_again(engine: Engine) -> None:
    """Who said what stays: a dropped link is marked withdrawn, and comes back if said again."""
    record = json.loads((FIXTURES / "NCT02513394.json").read_text())
    study_id = _store(engine, record, NOW)
    later = NOW + timedelta(days=1)
    _store(engine, _without_secondary_ids(record), later)
    with session_scope(make_sessionmaker(engine)) as session:
        assert link_store.links_of(session, study_id) == []
        assert link_store.studies_naming(session, *EUDRACT) == []
        assert session.scalars(select(StudyLink.withdrawn_at)).one() == later
    _store(engine, record, NOW + timedelta(days=2))
    with session_scope(make_sessionmaker(engine)) as session:
        assert link_store.links_of(session, study_id) == [EUDRACT]
        assert session.scalar(select(StudyLink.asserted_at)) == NOW  # the first assertion


def test_an_unchanged_record_stored_again_writes_no_link(engine: Engine) -> None:
    """The same version again is no new assertion: one row, untouched."""
    record = json.loads((FIXTURES / "NCT02513394.json").read_text())
    _store(engine, record, NOW)
    _store(engine, record, NOW + timedelta(days=1))
    with session_scope(make_sessionmaker(engine)) as session:
        assert len(session.scalars(select(StudyLink)).all()) == 1
