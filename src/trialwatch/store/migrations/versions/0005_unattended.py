"""unattended operation: criteria hashes, data timestamps, the leader lease, health alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

- ``watchlist.criteria_hash``: the criteria a watchlist's last successful sync used
  (a change makes the next sync full); ``watchlist.data_timestamp``: the registry's
  ``dataTimestamp`` that sync saw.
- ``sync_run.unknown_sections``: top-level record sections the sync did not know
  (the API's format drifted).
- ``lease``: one row per leader role (owner, expiry).
- ``health_alert``: one row per alert condition, active or cleared.
- ``digest.subscriber_id`` becomes nullable: alert mails go to admins, who need not
  be subscribers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watchlist") as batch:
        batch.add_column(sa.Column("criteria_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("data_timestamp", sa.String(length=40), nullable=True))
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(
            sa.Column("unknown_sections", sa.JSON(), nullable=False, server_default="[]")
        )
    op.create_table(
        "lease",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lease")),
    )
    op.create_table(
        "health_alert",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlist.id"],
            name=op.f("fk_health_alert_watchlist_id_watchlist"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_health_alert")),
    )
    with op.batch_alter_table("digest") as batch:
        batch.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM digest WHERE subscriber_id IS NULL")
    with op.batch_alter_table("digest") as batch:
        batch.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("health_alert")
    op.drop_table("lease")
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("unknown_sections")
    with op.batch_alter_table("watchlist") as batch:
        batch.drop_column("data_timestamp")
        batch.drop_column("criteria_hash")
