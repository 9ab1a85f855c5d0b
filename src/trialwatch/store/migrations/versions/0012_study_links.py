"""study links: the registrations a study's record names for itself

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

``study_link`` is an identity graph, never a merge: one row per registry ID a
study's record gives for itself (a CT.gov EudraCT or CTIS number, a CTIS record's
NCT number), with the version that asserted it first and, when a later version no
longer says it, when it was withdrawn. Only new rows: nothing existing is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "study_id",
            sa.Integer(),
            sa.ForeignKey("study.id", ondelete="CASCADE", name="fk_study_link_study_id_study"),
            nullable=False,
        ),
        sa.Column("registry", sa.String(20), nullable=False),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey(
                "study_version.id",
                ondelete="SET NULL",
                name="fk_study_link_version_id_study_version",
            ),
            nullable=True,
        ),
        sa.Column("asserted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_study_link"),
        sa.UniqueConstraint("study_id", "registry", "registry_id", name="uq_study_link_study_id"),
    )
    op.create_index("ix_study_link_registry", "study_link", ["registry", "registry_id"])


def downgrade() -> None:
    op.drop_index("ix_study_link_registry", table_name="study_link")
    op.drop_table("study_link")
