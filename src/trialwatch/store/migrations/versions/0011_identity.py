"""identity and provenance: a study is (registry, registry_id); versions say where
they came from; changes carry a message key and its parameters; subscribers a locale

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08

- ``study.registry`` + ``study.registry_id`` (unique together) name a study in any
  registry; every existing row is a ClinicalTrials.gov study, so ``registry`` is
  ``ctgov`` and ``registry_id`` its NCT ID. ``study.nct_id`` stays (readable for one
  release) but may be NULL for a study that has no NCT ID.
- ``watchlist.registries``: which registries a watchlist searches (``["ctgov"]``).
- ``sync_run.registry``: the registry a run read.
- ``study_version.source`` (``sync`` or ``history``) and ``registry_version`` (the
  registry's own version number, where it has one); ``last_update_posted`` stays
  the version's posted date.
- ``change.message`` + ``change.params``: what a change says, as a message key and
  its parameters (NULL on rows written before: their English ``summary`` is used);
  ``change.historical``: found in past versions, shown but never mailed.
- ``subscriber.locale``: the language mail and pages speak to them (``en``).

``study`` is rebuilt on SQLite (a column becomes nullable, a constraint is added);
the migration environment runs with foreign keys off, so no child row is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "study", sa.Column("registry", sa.String(20), nullable=False, server_default="ctgov")
    )
    op.add_column("study", sa.Column("registry_id", sa.String(64), nullable=True))
    op.execute("UPDATE study SET registry_id = nct_id")
    with op.batch_alter_table("study") as batch:
        batch.alter_column("registry_id", existing_type=sa.String(64), nullable=False)
        batch.alter_column("nct_id", existing_type=sa.String(11), nullable=True)
        batch.create_unique_constraint("uq_study_registry", ["registry", "registry_id"])
    op.add_column(
        "watchlist",
        sa.Column("registries", sa.JSON(), nullable=False, server_default='["ctgov"]'),
    )
    op.add_column(
        "sync_run", sa.Column("registry", sa.String(20), nullable=False, server_default="ctgov")
    )
    op.add_column(
        "study_version",
        sa.Column("source", sa.String(10), nullable=False, server_default="sync"),
    )
    op.add_column("study_version", sa.Column("registry_version", sa.String(40), nullable=True))
    op.add_column("change", sa.Column("message", sa.String(60), nullable=True))
    op.add_column("change", sa.Column("params", sa.JSON(), nullable=True))
    op.add_column(
        "change",
        sa.Column("historical", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "subscriber", sa.Column("locale", sa.String(16), nullable=False, server_default="en")
    )


def downgrade() -> None:
    op.drop_column("subscriber", "locale")
    op.drop_column("change", "historical")
    op.drop_column("change", "params")
    op.drop_column("change", "message")
    op.drop_column("study_version", "registry_version")
    op.drop_column("study_version", "source")
    op.drop_column("sync_run", "registry")
    op.drop_column("watchlist", "registries")
    # A study with no NCT ID cannot go back to a schema where every study has one.
    op.execute("DELETE FROM study WHERE nct_id IS NULL")
    with op.batch_alter_table("study") as batch:
        batch.drop_constraint("uq_study_registry", type_="unique")
        batch.alter_column("nct_id", existing_type=sa.String(11), nullable=False)
        batch.drop_column("registry_id")
        batch.drop_column("registry")
