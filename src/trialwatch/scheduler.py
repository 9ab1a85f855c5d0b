"""APScheduler wiring: sync each watchlist on its cron schedule; build and send digests.

Only wiring lives here: each job calls the same one-step functions as the CLI
(``sync_watchlist``, ``build_digests_once``, ``send_digests_once``) and logs, never
raises, so one failing watchlist does not stop the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from trialwatch.config import Settings
from trialwatch.jobs.delivery import send_with_settings
from trialwatch.digest.render import make_environment
from trialwatch.jobs.digests import MailSettings, build_digests_once
from trialwatch.errors import ConfigError, TrialwatchError
from trialwatch.store import repo
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.sync import open_client, sync_watchlist

log = logging.getLogger("trialwatch.scheduler")

DIGEST_SCHEDULE = "15 * * * *"  # hourly: daily/weekly digests go out once due


@dataclass
class Jobs:
    settings: Settings
    engine: Engine

    def sync(self, slug: str) -> None:
        """Sync one watchlist, then deliver what is due (immediate subscribers)."""
        s = self.settings
        try:
            with open_client(s) as client:
                sync_watchlist(
                    self.engine,
                    client,
                    slug,
                    page_size=s.page_size,
                    overlap_days=s.overlap_days,
                    api_url=s.api_url,
                )
        except TrialwatchError as exc:
            log.error("scheduled sync failed watchlist=%s error=%s", slug, exc)
            return
        self.digests()

    def digests(self) -> None:
        """Build the digests that are due and deliver the queue."""
        s = self.settings
        try:
            mail = MailSettings.from_settings(s, s.state_dir)
            build_digests_once(
                self.engine, make_environment(s.templates), mail, now=datetime.now(UTC)
            )
            send_with_settings(self.engine, s)
        except TrialwatchError as exc:
            log.error("scheduled digests failed error=%s", exc)


def build_scheduler(settings: Settings, engine: Engine) -> tuple[BlockingScheduler, Jobs]:
    """One cron job per enabled watchlist plus the hourly digest job."""
    jobs = Jobs(settings, engine)
    scheduler = BlockingScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlists = [w for w in repo.list_watchlists(session) if w.enabled]
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
