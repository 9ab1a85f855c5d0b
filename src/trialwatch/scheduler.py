"""APScheduler wiring: sync each watchlist on its cron schedule; build and send digests.

Only wiring lives here: each scheduled job calls the same
:class:`~trialwatch.jobs.runner.Jobs` methods as the CLI and logs, never raises,
so one failing watchlist does not stop the others.
"""

from __future__ import annotations

import logging
from datetime import UTC

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from trialwatch.config import Settings
from trialwatch.errors import ConfigError, TrialwatchError
from trialwatch.jobs.runner import Jobs
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope

log = logging.getLogger("trialwatch.scheduler")

DIGEST_SCHEDULE = "15 * * * *"  # hourly: daily/weekly digests go out once due


class ScheduledJobs:
    """The scheduler's entry points: each calls one job and logs, never raises."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    def sync(self, slug: str) -> None:
        """Sync one watchlist, then deliver what is due (immediate subscribers)."""
        try:
            self.jobs.sync(slug)
        except TrialwatchError as exc:
            log.error("scheduled sync failed watchlist=%s error=%s", slug, exc)
            return
        self.digests()

    def digests(self) -> None:
        """Build the digests that are due and deliver the queue."""
        try:
            self.jobs.build_digests()
            self.jobs.deliver()
        except TrialwatchError as exc:
            log.error("scheduled digests failed error=%s", exc)


def build_scheduler(settings: Settings, engine: Engine) -> tuple[BlockingScheduler, ScheduledJobs]:
    """One cron job per enabled watchlist plus the hourly digest job."""
    jobs = ScheduledJobs(Jobs(settings, engine))
    scheduler = BlockingScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlists = [w for w in watchlist_store.list_watchlists(session) if w.enabled]
    for wl in watchlists:
        try:
            trigger = CronTrigger.from_crontab(wl.schedule, timezone=UTC)
        except ValueError as exc:
            raise ConfigError(f"watchlist '{wl.slug}': schedule: {exc}") from exc
        scheduler.add_job(jobs.sync, trigger, args=[wl.slug], id=f"sync:{wl.slug}")
    scheduler.add_job(
        jobs.digests, CronTrigger.from_crontab(DIGEST_SCHEDULE, timezone=UTC), id="digests"
    )
    return scheduler, jobs
