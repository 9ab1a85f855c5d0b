"""One cycle of unattended operation: follow the registry's publication, then mail.

``run_cycle`` is one step, called by ``trialwatch run`` (every ``TRIALWATCH_POLL_EVERY``)
and by ``trialwatch run --once``:

1. ask ``/version`` for the registry's ``dataTimestamp`` (one small request);
2. sync, incrementally from its cursor, each enabled watchlist that is due: the
   timestamp moved since its last successful sync, its criteria changed (the sync
   is then full), its cron ``schedule`` fired since, or a day passed (the safety
   net); one failing watchlist does not stop the others. The due watchlists are
   synced as one batch (``jobs.sync.sync_watchlists``) with this cycle's
   ``dataTimestamp``: /version is not asked again, and a study several of them
   share is fetched once;
3. build the digests that are due, once for the whole cycle, and deliver the outbox;
4. check health (alerts to admins).

Before each step the cycle asks ``still_leader``: a process that lost its lease
stops acting before the next step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from trialwatch.errors import LostLeadership, TrialwatchError, first_line
from trialwatch.jobs.runner import Jobs
from trialwatch.jobs.sync import SyncBatch
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Watchlist
from trialwatch.watchlists import Criteria

log = logging.getLogger("trialwatch.jobs.cycle")

SAFETY_NET = timedelta(days=1)
"""A watchlist is synced at least this often, even if the registry's timestamp never moves."""


@dataclass
class CycleResult:
    data_timestamp: str | None = None
    synced: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    queued: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no job of the cycle failed."""
        return not self.failed and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_timestamp": self.data_timestamp,
            "synced": self.synced,
            "up_to_date": self.up_to_date,
            "failed": self.failed,
            "queued": self.queued,
            "sent": self.sent,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class _Watched:
    slug: str
    reason: str | None  # why it is due, None when it is not


def due_reason(wl: Watchlist, data_timestamp: str | None, now: datetime) -> str | None:
    """Why the watchlist should be synced now, or None (pure: the row and the clock)."""
    if wl.last_synced_at is None or wl.data_timestamp is None:
        return "never synced"
    if wl.criteria_hash != Criteria.from_dict(wl.criteria).criteria_hash():
        return "criteria changed"
    if data_timestamp is not None and data_timestamp != wl.data_timestamp:
        return f"registry data {wl.data_timestamp} -> {data_timestamp}"
    if now - wl.last_synced_at >= SAFETY_NET:
        return "a day since the last sync"
    try:
        fire = CronTrigger.from_crontab(wl.schedule, timezone="UTC").get_next_fire_time(
            None, wl.last_synced_at
        )
    except ValueError:
        fire = None
    if fire is not None and fire <= now:
        return f"schedule {wl.schedule}"
    return None


def run_cycle(
    jobs: Jobs,
    *,
    force: bool = False,
    still_leader: Callable[[], bool] = lambda: True,
    jitter: float = 0.0,
) -> CycleResult:
    """One cycle (see the module docstring); ``force`` syncs every enabled watchlist."""
    result = CycleResult()
    _check(still_leader)
    try:
        with jobs.client() as client:
            result.data_timestamp = client.data_timestamp()
            due: list[str] = []
            for item in _watched(jobs, result.data_timestamp, force):
                if item.reason is None:
                    result.up_to_date.append(item.slug)
                else:
                    log.info("sync due watchlist=%s reason=%s", item.slug, item.reason)
                    due.append(item.slug)
            _check(still_leader)
            # One batch: each watchlist is listed, then what moved is fetched once for all;
            # the /version answer above is the batch's (not asked again).
            outcomes = jobs.sync_many(
                due,
                client=client,
                on_page=lambda _: _check(still_leader),
                batch=SyncBatch(data_timestamp=result.data_timestamp),
                between=(lambda: _pause(jitter, still_leader)) if jitter else None,
            )
            for slug, outcome in zip(due, outcomes, strict=True):
                if isinstance(outcome, TrialwatchError):
                    result.failed[slug] = first_line(outcome)
                    log.error("sync failed watchlist=%s error=%s", slug, first_line(outcome))
                else:
                    result.synced.append(slug)
    except LostLeadership:
        raise
    except TrialwatchError as exc:  # /version itself failed: nothing synced this cycle
        result.errors.append(f"registry: {first_line(exc)}")
        log.error("registry check failed error=%s", first_line(exc))
    _check(still_leader)
    _step(result, "digests", lambda: _digests(jobs, result))
    _check(still_leader)
    _step(result, "delivery", lambda: _deliver(jobs, result))
    _check(still_leader)
    _step(result, "health", jobs.health)
    log.info(
        "cycle finished data_timestamp=%s synced=%s up_to_date=%d failed=%s queued=%d sent=%d",
        result.data_timestamp,
        ",".join(result.synced) or "-",
        len(result.up_to_date),
        ",".join(result.failed) or "-",
        result.queued,
        result.sent,
    )
    return result


def _pause(jitter: float, still_leader: Callable[[], bool]) -> None:
    """Space the watchlists of a cycle a little; stop if the lease was lost meanwhile."""
    time.sleep(random.uniform(0, jitter))  # noqa: S311 - spacing, not secrecy
    _check(still_leader)


def _watched(jobs: Jobs, data_timestamp: str | None, force: bool) -> Sequence[_Watched]:
    now = jobs.clock()
    with session_scope(make_sessionmaker(jobs.engine)) as session:
        return [
            _Watched(wl.slug, "forced" if force else due_reason(wl, data_timestamp, now))
            for wl in watchlist_store.list_watchlists(session)
            if wl.enabled
        ]


def _digests(jobs: Jobs, result: CycleResult) -> None:
    result.queued = jobs.build_digests().queued


def _deliver(jobs: Jobs, result: CycleResult) -> None:
    sent = jobs.deliver()
    result.sent = sent.sent
    if sent.error:
        raise TrialwatchError(f"delivery stopped, messages stay queued: {sent.error}")


def _step(result: CycleResult, name: str, step: Callable[[], Any]) -> None:
    """Run one step; its failure is logged and counted, and the cycle goes on."""
    try:
        step()
    except TrialwatchError as exc:
        result.errors.append(f"{name}: {first_line(exc)}")
        log.error("%s failed error=%s", name, first_line(exc))


def _check(still_leader: Callable[[], bool]) -> None:
    if not still_leader():
        raise LostLeadership("the leader lease was lost: another process acts now")
