"""The digest job fills sites, posted dates and trial details from the stored rows."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.factories import MAIL, T0, make_watchlist_and_run
from trialwatch.digest.model import Contact, Digest, SitePlace, StudyEntry
from trialwatch.jobs.digests import preview_digest
from trialwatch.mail.templates import make_environment
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change, Study, StudyVersion, WatchlistStudy
from trialwatch.store.subscribers import SubscriptionRequest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
EMAIL = "ana@example.org"
LEIDEN = {
    "facility": "Leiden University Medical Center",
    "status": "RECRUITING",
    "city": "Leiden",
    "country": "Netherlands",
    "contacts": [{"name": "Trial office", "role": "CONTACT", "phone": "+31 71 526 9111"}],
    "geoPoint": {"lat": 52.15833, "lon": 4.49306},
}


def _record(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return dict(data["studies"][0] if "studies" in data else data)


def _store(
    engine: Engine,
    wl_id: int,
    run_id: int,
    record: dict[str, Any],
    changes: list[dict[str, Any]],
    posted: str,
) -> None:
    """A study with one stored version (posted on ``posted``) and its change rows."""
    ident = record["protocolSection"]["identificationModule"]
    with session_scope(make_sessionmaker(engine)) as session:
        study = Study(
            nct_id=ident["nctId"],
            registry_id=ident["nctId"],
            current_version=1,
            current_hash="0" * 64,
            brief_title=ident["briefTitle"],
            acronym=ident.get("acronym"),
            overall_status=record["protocolSection"]["statusModule"]["overallStatus"],
            first_seen_at=T0,
            updated_at=T0,
        )
        session.add(study)
        session.flush()
        version = StudyVersion(
            study_id=study.id,
            version=1,
            content_hash="0" * 64,
            record=json.dumps(record, sort_keys=True),
            last_update_posted=posted,
            fetched_at=T0,
            sync_run_id=run_id,
        )
        session.add(version)
        session.add(
            WatchlistStudy(
                watchlist_id=wl_id, study_id=study.id, first_matched_at=T0, last_matched_at=T0
            )
        )
        session.flush()
        for change in changes:
            session.add(
                Change(
                    study_id=study.id,
                    version_id=version.id,
                    sync_run_id=run_id,
                    detected_at=T0 + timedelta(hours=1),
                    **{"countries": [], **change},
                )
            )


def _entry(digest: Digest, nct_id: str) -> StudyEntry:
    return next(
        entry
        for group in digest.groups
        for section in group.sections
        for entry in section.studies
        if entry.nct_id == nct_id
    )


def test_the_digest_job_reads_sites_posted_dates_and_trial_details(engine: Engine) -> None:
    """A new site's place and contact, the version's posted date, a new trial's facts."""
    wl_id, run_id = make_watchlist_and_run(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        request = SubscriptionRequest(email=EMAIL, watchlists=("mmn",), frequency="immediate")
        subscriber_store.subscribe(session, request, T0)
    endometrial = copy.deepcopy(_record("studies-response-NCT06388018.json"))
    endometrial["protocolSection"]["contactsLocationsModule"]["locations"].append(LEIDEN)
    site_change = {
        "kind": "site_added",
        "field": "protocolSection.contactsLocationsModule.locations[Leiden]",
        "old": None,
        "new": LEIDEN,
        "summary": "New site: Leiden, Netherlands (Recruiting)",
        "significance": "major",
        "countries": ["Netherlands"],
    }
    _store(engine, wl_id, run_id, endometrial, [site_change], "2026-11-14")
    new_trial = _record("NCT06171568.json")
    created = {
        "kind": "new_study",
        "field": "protocolSection.identificationModule.nctId",
        "old": None,
        "new": "NCT06171568",
        "summary": 'New trial: "Lariboisière Cognitive Assessment" — Not yet recruiting',
        "significance": "major",
        "watchlist_id": wl_id,
    }
    _store(engine, wl_id, run_id, new_trial, [created], "2023-12-14")

    digest, rendered = preview_digest(
        engine, make_environment(), MAIL, EMAIL, now=T0 + timedelta(hours=2)
    )

    assert digest is not None
    assert rendered is not None
    site_entry = _entry(digest, "NCT06388018")
    (line,) = site_entry.changes
    assert line.posted == date(2026, 11, 14)
    assert line.sites == (
        SitePlace(
            "Leiden University Medical Center",
            "Leiden",
            "Netherlands",
            52.15833,
            4.49306,
            "RECRUITING",
            (Contact("Trial office", "+31 71 526 9111"),),
        ),
    )
    trial = _entry(digest, "NCT06171568")
    assert [(f.label, f.text) for f in trial.facts][:3] == [
        ("Where", "France (1 site)"),
        ("Who can take part", "18 years and older, all sexes"),
        ("Enrollment", "400 participants (expected)"),
    ]
    assert trial.contacts[0].email == "camille.heslot@aphp.fr"
    assert "Contact: Trial office, +31 71 526 9111" in rendered.text
