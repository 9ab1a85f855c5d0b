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
3. build the digests that are due, once for the whole cycle;
4. check health (alerts to admins), then deliver the outbox, alerts included, within a
   budget (what is left is sent between cycles, see :mod:`trialwatch.scheduler`).

Before all that, timestamps a clock ahead wrote are clamped to now (and alerted on).
A step that fails, a database error included, is logged in one line and recorded in
the result, and the cycle goes on; after a database error the connection pool is
renewed, so the next step and the next cycle start on fresh connections.

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
from sqlalchemy.exc import SQLAlchemyError

from trialwatch.errors import LockLost, LostLeadership, TrialwatchError, first_line
from trialwatch.jobs.runner import Jobs
from trialwatch.jobs.sync import SyncBatch
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Watchlist
from trialwatch.watchlists import Criteria

log = logging.getLogger("trialwatch.jobs.cycle")

SAFETY_NET = timedelta(days=1)
"""A watchlist is synced at least this often, even if the registry's timestamp never moves."""
CLOCK_SLACK = timedelta(minutes=1)
"""Replicas' clocks differ by seconds; a last sync further ahead is no date to wait for."""


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
    if wl.last_synced_at > now + CLOCK_SLACK:  # written by a clock that was ahead
        return "last sync in the future"
    last_synced = min(wl.last_synced_at, now)
    if wl.criteria_hash != Criteria.from_dict(wl.criteria).criteria_hash():
        return "criteria changed"
    if data_timestamp is not None and data_timestamp != wl.data_timestamp:
        return f"registry data {wl.data_timestamp} -> {data_timestamp}"
    if now - last_synced >= SAFETY_NET:
        return "a day since the last sync"
    try:
        fire = CronTrigger.from_crontab(wl.schedule, timezone="UTC").get_next_fire_time(
            None, last_synced
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
    owner: str | None = None,
    delivery_budget: float | None = None,
    clock_notes: Sequence[str] = (),
) -> CycleResult:
    """One cycle (see the module docstring); ``force`` syncs every enabled watchlist.

    ``owner`` names this process in the outbox claims; the delivery step stops after
    ``delivery_budget`` seconds (the rest is sent between cycles). ``clock_notes``
    are timestamps clamped before the cycle (at start), for the ``clock`` alert.
    """
    result = CycleResult()
    _check(still_leader)
    notes = list(clock_notes)
    _step(result, jobs, "clock", lambda: notes.extend(jobs.clamp_future()))
    _sync(jobs, result, force, still_leader, jitter)
    _check(still_leader)
    _step(result, jobs, "digests", lambda: _digests(jobs, result))
    _check(still_leader)
    # Health before delivery: an alert leaves in the cycle that queued it.
    _step(result, jobs, "health", lambda: jobs.health(clock_notes=notes))
    _check(still_leader)
    _step(
        result,
        jobs,
        "delivery",
        lambda: _deliver(jobs, result, owner, delivery_budget, still_leader),
    )
    log.info(
        "cycle finished data_timestamp=%s synced=%s up_to_date=%d failed=%s queued=%d sent=%d"
        " errors=%d",
        result.data_timestamp,
        ",".join(result.synced) or "-",
        len(result.up_to_date),
        ",".join(result.failed) or "-",
        result.queued,
        result.sent,
        len(result.errors),
    )
    return result


def _sync(
    jobs: Jobs,
    result: CycleResult,
    force: bool,
    still_leader: Callable[[], bool],
    jitter: float,
) -> None:
    """Ask the registry's data version (CT.gov /version), then sync the due watchlists as
    one batch (the cycle's step 2)."""
    due: list[str] = []
    try:
        with jobs.registry() as registry:
            result.data_timestamp = registry.data_version()
            for item in _watched(jobs, result.data_timestamp, force):
                if item.reason is None:
                    result.up_to_date.append(item.slug)
                else:
                    log.info("sync due watchlist=%s reason=%s", item.slug, item.reason)
                    due.append(item.slug)
            _check(still_leader)
            # One batch: each watchlist is listed, then what moved is fetched once for all;
            # the data version above is the batch's (not asked again).
            outcomes = jobs.sync_many(
                due,
                registry=registry,
                on_page=lambda _: _check(still_leader),
                batch=SyncBatch(data_timestamp=result.data_timestamp, asked=True),
                between=(lambda: _pause(jitter, still_leader)) if jitter else None,
            )
            for slug, outcome in zip(due, outcomes, strict=True):
                if outcome.failure is not None:
                    result.failed[slug] = first_line(outcome.failure)
                    log.error("sync failed watchlist=%s error=%s", slug, result.failed[slug])
                else:
                    result.synced.append(slug)
    except LostLeadership:
        raise
    except LockLost as exc:  # a watchlist's lock connection ended: the batch stopped
        for slug in due:
            result.failed[slug] = first_line(exc)
        log.error("sync stopped watchlists=%s error=%s", ",".join(due), first_line(exc))
    except TrialwatchError as exc:  # /version itself failed: nothing synced this cycle
        result.errors.append(f"registry: {first_line(exc)}")
        log.error("registry check failed error=%s", first_line(exc))
    except SQLAlchemyError as exc:
        _database_failure(jobs, result, "sync", exc)
        for slug in due:
            result.failed.setdefault(slug, database_error_line(exc))


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


def _deliver(
    jobs: Jobs,
    result: CycleResult,
    owner: str | None,
    budget: float | None,
    still_leader: Callable[[], bool],
) -> None:
    def keep_going() -> bool:
        try:
            return still_leader()
        except KeyboardInterrupt:  # a stop: end the pass between messages, then the cycle
            return False

    sent = jobs.deliver(owner=owner, budget=budget, keep_going=keep_going)
    result.sent = sent.sent
    if sent.error:
        raise TrialwatchError(f"delivery stopped, messages stay queued: {sent.error}")


def _step(result: CycleResult, jobs: Jobs, name: str, step: Callable[[], Any]) -> None:
    """Run one step; its failure is logged in one line and counted, and the cycle goes on.

    A database error (a dropped connection, a restart) also renews the connection pool,
    so the next step, or the next cycle, starts on fresh connections.
    """
    try:
        step()
    except LostLeadership:
        raise
    except TrialwatchError as exc:
        result.errors.append(f"{name}: {first_line(exc)}")
        log.error("%s failed error=%s", name, first_line(exc))
    except SQLAlchemyError as exc:
        _database_failure(jobs, result, name, exc)


def database_error_line(exc: SQLAlchemyError) -> str:
    """One line for a database error: the driver's message, without SQL or parameters."""
    orig = getattr(exc, "orig", None)
    return f"database error: {first_line(orig if orig is not None else exc)}"


def _database_failure(jobs: Jobs, result: CycleResult, name: str, exc: SQLAlchemyError) -> None:
    line = database_error_line(exc)
    result.errors.append(f"{name}: {line}")
    log.error("%s failed error=%s (connections renewed; retried next cycle)", name, line)
    jobs.renew_connections()


def _check(still_leader: Callable[[], bool]) -> None:
    if not still_leader():
        raise LostLeadership("the leader lease was lost: another process acts now")
