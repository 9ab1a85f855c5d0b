"""Study links: the registrations each study's record names for itself. Rows in, rows out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from trialwatch.store.db import insert_or_skip
from trialwatch.store.models import Study, StudyLink

Link = tuple[str, str]
"""(registry, registry ID)."""


def record_links(
    session: Session,
    asserted: Mapping[int, tuple[int, Sequence[Link]]],
    now: datetime,
) -> None:
    """What each study's newest version says: study id -> (version id, its links).

    New links are inserted, links said again are current again, and links the
    version no longer says are marked withdrawn (kept: who said what, and when).
    """
    if not asserted:
        return
    existing = {
        (study_id, registry, registry_id): withdrawn
        for study_id, registry, registry_id, withdrawn in session.execute(
            select(
                StudyLink.study_id,
                StudyLink.registry_name,
                StudyLink.registry_id,
                StudyLink.withdrawn_at,
            ).where(StudyLink.study_id.in_(list(asserted)))
        ).tuples()
    }
    said = {(sid, reg, rid) for sid, (_, links) in asserted.items() for reg, rid in links}
    fresh = [
        {
            "study_id": sid,
            "registry": reg,
            "registry_id": rid,
            "version_id": asserted[sid][0],
            "asserted_at": now,
        }
        for sid, reg, rid in sorted(said - existing.keys())
    ]
    if fresh:
        session.execute(insert_or_skip(session, StudyLink), fresh)
    again = [key for key in said & existing.keys() if existing[key] is not None]
    gone = [key for key, withdrawn in existing.items() if key not in said and withdrawn is None]
    for keys, value in ((again, None), (gone, now)):
        if keys:
            columns = tuple_(StudyLink.study_id, StudyLink.registry_name, StudyLink.registry_id)
            session.execute(update(StudyLink).where(columns.in_(keys)).values(withdrawn_at=value))


def links_of(session: Session, study_id: int) -> list[Link]:
    """The registrations the study's record names for itself now, sorted."""
    return sorted(
        session.execute(
            select(StudyLink.registry_name, StudyLink.registry_id).where(
                StudyLink.study_id == study_id, StudyLink.withdrawn_at.is_(None)
            )
        ).tuples()
    )


def studies_naming(session: Session, registry: str, registry_id: str) -> list[int]:
    """The stored studies whose record names (registry, registry_id) as itself, by id."""
    return sorted(
        session.scalars(
            select(StudyLink.study_id)
            .join(Study, Study.id == StudyLink.study_id)
            .where(
                StudyLink.registry_name == registry,
                StudyLink.registry_id == registry_id,
                StudyLink.withdrawn_at.is_(None),
            )
        )
    )
