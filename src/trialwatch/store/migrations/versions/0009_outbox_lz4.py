"""outbox messages compressed with lz4 on PostgreSQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

A digest is 30-70 KB of MIME text. PostgreSQL compresses such values with pglz by
default, which made inserting the outbox rows the slowest step of building digests
(bench/digest.py: a bare INSERT of the same rows ran at about 1,100 rows/s). lz4
(PostgreSQL 14 and later, when the server is built with it) inserts the same rows
3.7 times as fast and stores them in two thirds of the space. Nothing changes on
SQLite or on a server without lz4.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _lz4_available(conn: sa.Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
    if int(version) < 140000:
        return False
    found = conn.execute(
        sa.text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'"
            " AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return found is not None


def upgrade() -> None:
    conn = op.get_bind()
    if _lz4_available(conn):
        op.execute("ALTER TABLE digest ALTER COLUMN message SET COMPRESSION lz4")


def downgrade() -> None:
    conn = op.get_bind()
    if _lz4_available(conn):
        op.execute("ALTER TABLE digest ALTER COLUMN message SET COMPRESSION default")
