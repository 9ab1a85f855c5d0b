"""near me: a subscription's place and radius

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

``subscription.near_label`` ("Leiden, Netherlands"), ``near_lat``, ``near_lon`` and
``near_within_km``: only changes at sites within that distance of the place are
mailed. All four are empty for a subscription without the filter.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("near_label", sa.String(200), nullable=True))
        batch.add_column(sa.Column("near_lat", sa.Float(), nullable=True))
        batch.add_column(sa.Column("near_lon", sa.Float(), nullable=True))
        batch.add_column(sa.Column("near_within_km", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("near_within_km")
        batch.drop_column("near_lon")
        batch.drop_column("near_lat")
        batch.drop_column("near_label")
