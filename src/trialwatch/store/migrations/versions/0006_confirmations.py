"""self-service subscriptions: when the last confirmation email was sent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``subscriber.confirm_sent_at`` rate-limits confirmation emails (at most one per
address per ten minutes) and dates the confirmation link.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("confirm_sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("confirm_sent_at")
