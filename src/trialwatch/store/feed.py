"""The change feed digests read: the horizon, a watchlist's mailable changes, study rows.

Rows out, nothing else: the digest job turns them into its own model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.orm import Session

from trialwatch.store.locks import newest_committed_change_id
from trialwatch.store.models import Change, Study, WatchlistStudy


def newest_change_id(session: Session) -> int:
    """The digest horizon: every change up to it is committed (see ``join_change_writers``)."""
    return newest_committed_change_id(session)


def changes_for_watchlist(
    session: Session, watchlist_id: int, after: int, upto: int
) -> Sequence[Row[tuple[int, str, str, str, str, datetime, list[str]]]]:
    """Mailable changes (not noise) of one watchlist with ``after < id <= upto``, in id order.

    Study-level changes count while the study is a member (or was, when the change
    was detected); membership changes count for their own watchlist only.
    """
    member = and_(
        WatchlistStudy.watchlist_id == watchlist_id,
        WatchlistStudy.study_id == Change.study_id,
    )
    query = (
        select(
            Change.id,
            Study.nct_id,
            Change.kind,
            Change.summary,
            Change.significance,
            Change.detected_at,
            Change.countries,
        )
        .join(Study, Study.id == Change.study_id)
        .outerjoin(WatchlistStudy, member)
        .where(
            Change.id > after,
            Change.id <= upto,
            Change.significance != "noise",
            or_(
                Change.watchlist_id == watchlist_id,
                and_(
                    Change.watchlist_id.is_(None),
                    WatchlistStudy.study_id.is_not(None),
                    or_(
                        WatchlistStudy.left_at.is_(None),
                        WatchlistStudy.left_at >= Change.detected_at,
                    ),
                ),
            ),
        )
        .order_by(Change.id)
    )
    return session.execute(query).all()


def study_rows(
    session: Session, nct_ids: Sequence[str]
) -> Sequence[Row[tuple[str, str, str | None, str | None]]]:
    """(nct_id, brief title, acronym, overall status) of each study named."""
    return session.execute(
        select(Study.nct_id, Study.brief_title, Study.acronym, Study.overall_status).where(
            Study.nct_id.in_(list(nct_ids))
        )
    ).all()
