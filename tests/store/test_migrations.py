"""Migrations: each revision upgrades, downgrades and upgrades again; schema matches models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from trialwatch.store.db import MIGRATIONS_DIR, current_revision, downgrade, upgrade
from trialwatch.store.models import Base


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_the_schema_matches_the_models(engine: Engine) -> None:
    """After upgrade to head, autogenerate finds nothing to change."""
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_the_stairway_up_and_down_works(engine: Engine) -> None:
    """Each revision downgrades to its parent and upgrades again."""
    revisions = _revisions()
    assert current_revision(engine) == revisions[-1]
    downgrade(engine, "base")
    assert "study" not in inspect(engine).get_table_names()
    previous = "base"
    for revision in revisions:
        upgrade(engine, revision)
        downgrade(engine, previous)
        upgrade(engine, revision)
        assert current_revision(engine) == revision
        previous = revision


def test_0007_fills_the_listing_columns_from_the_current_record(engine: Engine) -> None:
    """Sponsor and site countries of existing studies come from their current version."""
    downgrade(engine, "0006")
    record = {
        "protocolSection": {
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "argenx"}},
            "contactsLocationsModule": {
                "locations": [
                    {"city": "Leiden", "country": "Netherlands"},
                    {"city": "Paris", "country": "France"},
                    {"city": "Utrecht", "country": "Netherlands"},
                ]
            },
        }
    }
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO study (id, nct_id, current_version, current_hash, brief_title,"
                " phases, has_results, first_seen_at, updated_at)"
                " VALUES (1, 'NCT05225675', 2, 'h', 't', '', false, :now, :now)"
            ),
            {"now": now},
        )
        for number, text_ in ((1, "{}"), (2, json.dumps(record))):
            conn.execute(
                text(
                    "INSERT INTO study_version"
                    " (study_id, version, content_hash, record, fetched_at)"
                    " VALUES (1, :v, 'h', :r, :now)"
                ),
                {"v": number, "r": text_, "now": now},
            )
    upgrade(engine)
    with engine.connect() as conn:
        sponsor, countries = conn.execute(
            text("SELECT lead_sponsor, countries FROM study WHERE id = 1")
        ).one()
    assert sponsor == "argenx"
    assert (json.loads(countries) if isinstance(countries, str) else countries) == [
        "France",
        "Netherlands",
    ]


def test_0009_compresses_outbox_messages_with_lz4_on_postgresql(engine: Engine) -> None:
    """On PostgreSQL 14+ with lz4 the outbox message column uses it; SQLite is untouched."""
    if engine.dialect.name != "postgresql":
        assert current_revision(engine) == _revisions()[-1]
        return
    with engine.connect() as conn:
        available = conn.execute(
            text(
                "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'"
                " AND 'lz4' = ANY(enumvals)"
            )
        ).first()
        method = conn.execute(
            text(
                "SELECT attcompression FROM pg_attribute"
                " WHERE attrelid = 'digest'::regclass AND attname = 'message'"
            )
        ).scalar_one()
    assert method == ("l" if available else "")
