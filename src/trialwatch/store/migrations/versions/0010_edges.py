"""trust at the edges: claim owners, uncertain sends, drift, membership listings,
confirmation requests, rate limits and admin sessions in the database

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08

- ``digest.claim_owner``: the sender holding a claim; only it (or anyone once its
  lease is gone) releases it. ``digest.uncertain``: attempts whose data was sent but
  never acknowledged.
- ``sync_run.drifted`` / ``sync_run.drift``: records whose fields changed JSON type.
- ``watchlist.members_listed_at``: when a sync last listed the whole membership;
  ``sync_run.listed``: how many members a run's listing found (NULL: it listed none).
- ``confirmation_request``: each subscribe request as its confirmation mail said it.
- ``rate_limit``: fixed-window counters shared by every web process.
- ``web_session``: admin sessions and their revocation, shared by every web process.

Columns are added without a table rebuild on both databases (no batch copy), so
no row is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("digest", sa.Column("claim_owner", sa.String(200), nullable=True))
    op.add_column(
        "digest", sa.Column("uncertain", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "sync_run", sa.Column("drifted", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("sync_run", sa.Column("drift", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "watchlist", sa.Column("members_listed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("sync_run", sa.Column("listed", sa.Integer(), nullable=True))
    op.create_table(
        "confirmation_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey(
                "subscriber.id",
                ondelete="CASCADE",
                name="fk_confirmation_request_subscriber_id_subscriber",
            ),
            nullable=False,
        ),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_confirmation_request"),
        sa.UniqueConstraint("nonce", name="uq_confirmation_request_nonce"),
    )
    op.create_index(
        "ix_confirmation_request_subscriber_id", "confirmation_request", ["subscriber_id"]
    )
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit"),
    )
    op.create_index("ix_rate_limit_window_start", "rate_limit", ["window_start"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_web_session"),
    )
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_table("web_session")
    op.drop_index("ix_rate_limit_window_start", table_name="rate_limit")
    op.drop_table("rate_limit")
    op.drop_index("ix_confirmation_request_subscriber_id", table_name="confirmation_request")
    op.drop_table("confirmation_request")
    with op.batch_alter_table("watchlist") as batch:
        batch.drop_column("members_listed_at")
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("listed")
        batch.drop_column("drift")
        batch.drop_column("drifted")
    with op.batch_alter_table("digest") as batch:
        batch.drop_column("uncertain")
        batch.drop_column("claim_owner")
