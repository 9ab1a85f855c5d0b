"""``trialwatch run``: the long-running scheduler (or every job once)."""

from __future__ import annotations

from typing import Annotated

import typer

from trialwatch.cli.common import load_app, out
from trialwatch.scheduler import build_scheduler
from trialwatch.store import watchlists as watchlist_store


def run(
    once: Annotated[
        bool, typer.Option("--once", help="Run every job once now, then exit.")
    ] = False,
) -> None:
    """Poll every watchlist on its schedule and send digests when due."""
    app = load_app(default_log_level="INFO")
    with app.session() as session:
        slugs = [w.slug for w in watchlist_store.list_watchlists(session) if w.enabled]
    scheduler, jobs = build_scheduler(app.settings, app.engine)
    if once:
        for slug in slugs:
            jobs.sync(slug)
        jobs.digests()
        return
    for job in scheduler.get_jobs():
        out.print(f"scheduled {job.id}: {job.trigger}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
