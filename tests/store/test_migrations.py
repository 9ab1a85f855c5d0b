"""Migrations: each revision upgrades, downgrades and upgrades again; schema matches models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

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
