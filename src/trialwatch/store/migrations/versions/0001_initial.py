"""initial schema: watchlists, studies, versions, sync runs

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "study",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nct_id", sa.String(length=11), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("current_hash", sa.String(length=64), nullable=False),
        sa.Column("brief_title", sa.Text(), nullable=False),
        sa.Column("acronym", sa.String(length=200), nullable=True),
        sa.Column("overall_status", sa.String(length=40), nullable=True),
        sa.Column("phases", sa.String(length=100), nullable=False),
        sa.Column("last_update_posted", sa.String(length=10), nullable=True),
        sa.Column("has_results", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study")),
        sa.UniqueConstraint("nct_id", name=op.f("uq_study_nct_id")),
    )
    op.create_table(
        "watchlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sync_cursor", sa.Date(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist")),
        sa.UniqueConstraint("slug", name=op.f("uq_watchlist_slug")),
    )
    op.create_table(
        "sync_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("api_url", sa.String(length=500), nullable=False),
        sa.Column("data_timestamp", sa.String(length=40), nullable=True),
        sa.Column("cursor_before", sa.Date(), nullable=True),
        sa.Column("cursor_after", sa.Date(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("left", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlist.id"],
            name=op.f("fk_sync_run_watchlist_id_watchlist"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
    )
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_run_watchlist_started", ["watchlist_id", "started_at"], unique=False
        )

    op.create_table(
        "study_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("last_update_posted", sa.String(length=10), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
            name=op.f("fk_study_version_study_id_study"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_run.id"],
            name=op.f("fk_study_version_sync_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_version")),
        sa.UniqueConstraint("study_id", "version", name=op.f("uq_study_version_study_id")),
    )
    with op.batch_alter_table("study_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_study_version_sync_run_id"), ["sync_run_id"], unique=False
        )

    op.create_table(
        "watchlist_study",
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("first_matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["sync_run.id"],
            name=op.f("fk_watchlist_study_last_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
            name=op.f("fk_watchlist_study_study_id_study"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlist.id"],
            name=op.f("fk_watchlist_study_watchlist_id_watchlist"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "study_id", name=op.f("pk_watchlist_study")),
    )
    with op.batch_alter_table("watchlist_study", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_watchlist_study_study_id"), ["study_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("watchlist_study", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watchlist_study_study_id"))

    op.drop_table("watchlist_study")
    with op.batch_alter_table("study_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_version_sync_run_id"))

    op.drop_table("study_version")
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_run_watchlist_started")

    op.drop_table("sync_run")
    op.drop_table("watchlist")
    op.drop_table("study")
