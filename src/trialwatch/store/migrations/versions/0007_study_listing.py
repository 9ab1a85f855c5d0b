"""study listing columns: lead sponsor, conditions and site countries of the current version

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

The watchlist pages, the API and the country filter read ``study.lead_sponsor``,
``study.conditions`` and ``study.countries`` instead of parsing each current
record. Existing rows are filled from their current version's record, in batches.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 500


def _listing(record_text: str) -> tuple[str | None, list[str], list[str]]:
    try:
        record: Any = json.loads(record_text)
    except ValueError:
        return None, [], []
    protocol = record.get("protocolSection") or {} if isinstance(record, dict) else {}
    sponsor = (protocol.get("sponsorCollaboratorsModule") or {}).get("leadSponsor") or {}
    locations = (protocol.get("contactsLocationsModule") or {}).get("locations") or []
    countries = sorted({str(loc["country"]) for loc in locations if loc.get("country")})
    conditions = list((protocol.get("conditionsModule") or {}).get("conditions") or [])
    return sponsor.get("name"), conditions, countries


def upgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.add_column(sa.Column("lead_sponsor", sa.Text(), nullable=True))
        batch.add_column(sa.Column("conditions", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("countries", sa.JSON(), server_default="[]", nullable=False))
    conn = op.get_bind()
    study = sa.table(
        "study",
        sa.column("id", sa.Integer),
        sa.column("current_version", sa.Integer),
        sa.column("lead_sponsor", sa.Text),
        sa.column("conditions", sa.JSON),
        sa.column("countries", sa.JSON),
    )
    version = sa.table(
        "study_version",
        sa.column("study_id", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("record", sa.Text),
    )
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(study.c.id, version.c.record)
            .join(
                version,
                sa.and_(
                    version.c.study_id == study.c.id,
                    version.c.version == study.c.current_version,
                ),
            )
            .where(study.c.id > last_id)
            .order_by(study.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for study_id, record_text in rows:
            sponsor, conditions, countries = _listing(record_text)
            conn.execute(
                study.update()
                .where(study.c.id == study_id)
                .values(lead_sponsor=sponsor, conditions=conditions, countries=countries)
            )
        last_id = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.drop_column("countries")
        batch.drop_column("conditions")
        batch.drop_column("lead_sponsor")
