"""Departures: members a run that listed the whole membership did not see.

The registry is asked for them by ID: those it still returns left the watchlist
(their latest record is stored as usual, the membership untouched); the others
were removed from the registry. Those it sent earlier in the batch are not asked
for again. Each gets its change (``left_watchlist`` for the watchlist,
``removed_from_registry`` for everyone) and its membership ends.
"""

from __future__ import annotations

import logging

from trialwatch.jobs.records import change_rows
from trialwatch.jobs.sync_pages import batches, store_batch
from trialwatch.jobs.sync_run import Context, Run, note_skipped
from trialwatch.registries.ctgov.differ import left_watchlist, removed_from_registry
from trialwatch.store import changes as change_store
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import session_scope

log = logging.getLogger("trialwatch.jobs.sync")


def settle_departures(ctx: Context, run: Run) -> tuple[int, int]:
    """After a run that listed the whole membership: returns (left, removed)."""
    plan = run.plan
    with session_scope(ctx.factory) as session:
        gone = dict(study_store.members_not_seen(session, plan.watchlist_id, plan.run_id))
    if not gone:
        return 0, 0
    by_id = {registry_id: sid for sid, registry_id in gone.items()}
    still_listed = _still_listed(ctx, run, set(by_id))
    with session_scope(ctx.factory) as session:
        name = watchlist_store.watchlist_name(session, plan.watchlist_id)
        rows = []
        for registry_id, sid in by_id.items():
            record = study_store.current_record(
                session, study_store.get_study(session, registry_id)
            )
            if registry_id in still_listed:
                change, scope = left_watchlist(record, name), plan.watchlist_id
            else:
                change, scope = removed_from_registry(record), None
            rows.extend(
                change_rows(
                    [change],
                    study_id=sid,
                    version_id=None,
                    watchlist_id=scope,
                    run_id=plan.run_id,
                    now=ctx.now(),
                )
            )
        change_store.insert_changes(session, rows)
        study_store.mark_left(session, plan.watchlist_id, list(gone), ctx.now())
    removed = len(by_id) - len(still_listed & set(by_id))
    log.info("departures watchlist_id=%d left=%d removed=%d", plan.watchlist_id, len(gone), removed)
    return len(gone), removed


def _still_listed(ctx: Context, run: Run, gone: set[str]) -> set[str]:
    """Which of the departed IDs the registry still returns (their records stored)."""
    still_listed = gone & ctx.batch.returned
    ids = sorted(gone - still_listed)
    step = ctx.registry.ids_per_request
    for start in range(0, len(ids), step):
        for page in ctx.registry.fetch(ids[start : start + step]):
            skipped: list[str] = []
            with session_scope(ctx.factory) as session:
                for batch in batches(page.studies):
                    out = store_batch(
                        ctx,
                        session,
                        batch,
                        where=f"departure check page {page.number}",
                        owner=run,
                        now=ctx.now(),
                        membership=False,
                    )
                    skipped += out.skipped
                    for stored in out.stored:
                        run.result.drifted += stored.outcome.drifted
                        still_listed.update(stored.ids)
            note_skipped(run, skipped)
    return still_listed
