"""skipped records per sync run; an opaque token per subscriber

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``sync_run.skipped`` counts the records a run could not store and
``sync_run.skip_reason`` keeps the first reason (page and position).
``subscriber.token`` is a random opaque identifier that signed mail links carry
instead of the address; existing subscribers get one here.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("skip_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("token", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    subscriber = sa.table("subscriber", sa.column("id", sa.Integer), sa.column("token", sa.String))
    ids = [row[0] for row in conn.execute(sa.select(subscriber.c.id))]
    for subscriber_id in ids:
        conn.execute(
            subscriber.update()
            .where(subscriber.c.id == subscriber_id)
            .values(token=secrets.token_urlsafe(24))
        )
    with op.batch_alter_table("subscriber") as batch:
        batch.alter_column("token", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_subscriber_token", ["token"])


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_constraint("uq_subscriber_token", type_="unique")
        batch.drop_column("token")
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("skip_reason")
        batch.drop_column("skipped")
