"""``trialwatch run``: one leader among any number of processes, a cycle every poll.

Wiring only; the work is :func:`trialwatch.jobs.cycle.run_cycle`.

- **Leader.** Every process tries to take the ``scheduler`` lease
  (:mod:`trialwatch.store.lease`); the holder acts, the others stand by and try
  again every third of ``TRIALWATCH_LEASE_SECONDS``. The leader renews the lease
  from an APScheduler background job on its own connection, every third of the
  lease, even while a long sync runs; if a renewal finds the lease taken, the
  leader stops acting before its next step. On PostgreSQL the leader also holds a
  session advisory lock, released by the server the moment its process dies, so a
  standby that gets that lock takes the lease over at once.
  Leadership on PostgreSQL is that advisory lock: a process whose lock connection
  ended (checked at every renewal) stops acting until it holds the lock again. The
  lease's times are the database's, so a replica whose clock is ahead never finds a
  live leader's lease expired.
- **Cycles.** The leader runs a cycle at start (catching up after downtime) and
  then every ``TRIALWATCH_POLL_EVERY`` (with a little jitter), in the main thread.
  Between cycles it delivers queued mail continuously: every
  :data:`DELIVER_EVERY` seconds it asks whether anything is due and, if so, sends
  it in a pass that stops when the next cycle is due (a sync is never delayed by
  more than the message in hand). Housekeeping (purging old sent mail) runs once a
  day. A step that fails, a database error included, is logged in one line and
  retried at the next cycle on renewed connections; the process goes on.
- **Signals.** SIGTERM or SIGINT: a cycle in progress is interrupted (the page in
  hand is rolled back, the run is marked failed, never left ``running``), the lease
  is released so a standby takes over at once, and the process exits 0. SIGHUP
  reloads the watchlist files (:mod:`trialwatch.services.watchlist_files`, as ``init``
  does: a deleted file's watchlist is disabled) at once, or after a cycle in progress.
- **Clock.** Timestamps in the future are clamped to now at start and at every cycle
  (:mod:`trialwatch.jobs.clock_skew`), and alerted on.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from trialwatch.clock import utcnow
from trialwatch.config import Settings
from trialwatch.errors import LockHeld, LostLeadership, TrialwatchError, first_line
from trialwatch.jobs import delivery
from trialwatch.jobs.cycle import CycleResult, database_error_line, run_cycle
from trialwatch.jobs.runner import Jobs
from trialwatch.services import watchlist_files
from trialwatch.store import lease
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.locks import HeldLock, exclusive_lock

log = logging.getLogger("trialwatch.scheduler")

HOUSEKEEPING_EVERY = timedelta(days=1)
DELIVER_EVERY = 2.0
"""Seconds between looks at the outbox between cycles."""
_BACKOFF = 30.0  # seconds between looks after a failed one (a database outage)
CYCLE_DELIVERY_BUDGET = 30.0
"""Seconds a cycle's own delivery step may take messages for (the rest goes between cycles)."""
_LEADER_LOCK = "scheduler leader"


def owner_name() -> str:
    """This process as a lease owner: host:pid:start."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


INTERRUPT_AGAIN_EVERY = 0.5  # seconds between raising a stop again (``_interrupt_again``)


def _quiet_lost_stops(
    hook: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], object]:
    """``sys.unraisablehook`` that drops a stop lost in a garbage-collection callback (it is
    raised again) instead of printing its traceback; anything else goes to ``hook``."""

    def quiet(unraisable: sys.UnraisableHookArgs) -> object:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            log.debug("a stop landed in a garbage-collection callback: raised again")
            return None
        return hook(unraisable)

    return quiet


@dataclass
class Service:
    """The long-running scheduler of one process."""

    settings: Settings
    engine: Engine
    owner: str = field(default_factory=owner_name)

    def __post_init__(self) -> None:
        self.jobs = Jobs(self.settings, self.engine)
        self._ttl = timedelta(seconds=self.settings.lease_seconds)
        self._leader = threading.Event()
        self._stopping = threading.Event()
        self._reload = threading.Event()
        self._in_cycle = False
        self._stopped = threading.Event()
        self._advisory: contextlib.ExitStack | None = None
        self._advisory_lock: HeldLock | None = None
        self._last_housekeeping: float | None = None
        self._next_delivery = 0.0
        self._clock_notes: list[str] = []
        self._heartbeat = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code (0)."""
        self._install_signals()
        sys.unraisablehook = _quiet_lost_stops(sys.unraisablehook)
        self.reload_watchlists()
        self._clamp_future()
        self._heartbeat.add_job(
            self._renew,
            IntervalTrigger(seconds=max(self.settings.lease_seconds / 3, 0.2)),
            id="lease",
            next_run_time=utcnow(),
        )
        self._heartbeat.start()
        poll = IntervalTrigger(
            seconds=self.settings.poll_every.total_seconds(),
            jitter=min(self.settings.poll_every.total_seconds() * 0.1, 30.0),
            timezone="UTC",
        )
        log.info(
            "scheduler started owner=%s poll_every=%s lease_seconds=%s",
            self.owner,
            self.settings.poll_every,
            self.settings.lease_seconds,
        )
        try:
            next_cycle = time.monotonic()
            while not self._stopping.is_set():
                if self._reload.is_set():  # SIGHUP: at once, leader or standby
                    self._reload.clear()
                    self.reload_watchlists()
                if not self._leader.is_set():
                    self._stopping.wait(max(self.settings.lease_seconds / 3, 0.2))
                    next_cycle = time.monotonic()  # a new leader catches up at once
                    continue
                if time.monotonic() >= next_cycle:
                    self.cycle()
                    wait = _seconds_until_next(poll)
                    next_cycle = time.monotonic() + wait
                else:
                    self._deliver_between(next_cycle)
                self._stopping.wait(max(0.0, min(next_cycle - time.monotonic(), 0.5)))
        except KeyboardInterrupt:  # raised by _on_stop: an interrupted sync says "interrupted"
            log.info("stopping: interrupted a cycle in progress")
        finally:
            self._in_cycle = False
            self._stopped.set()
            self._shutdown()
        return 0

    def cycle(self) -> CycleResult | None:
        """One cycle as the leader (None if leadership was lost during it)."""
        self._in_cycle = True
        notes, self._clock_notes = self._clock_notes, []
        try:
            result = run_cycle(
                self.jobs,
                still_leader=self._still_acting,
                jitter=min(2.0, self.settings.poll_every.total_seconds() * 0.1),
                owner=self.owner,
                delivery_budget=CYCLE_DELIVERY_BUDGET,
                clock_notes=notes,
            )
            self._housekeeping()
            return result
        except LostLeadership as exc:
            log.warning("stopped acting: %s", exc)
            return None
        except Exception as exc:
            log.error("cycle failed error=%s (retried next cycle)", _one_line(exc))
            self.jobs.renew_connections()
            return None
        finally:
            self._in_cycle = False

    def _still_acting(self) -> bool:
        """Whether the cycle may go on (checked before each page and step).

        A stop signal raises KeyboardInterrupt in the cycle at once; Python ignores an
        exception raised while it collects garbage, so a stop seen here raises it again.
        """
        if self._stopping.is_set():
            raise KeyboardInterrupt
        return self._leader.is_set()

    def _deliver_between(self, next_cycle: float) -> None:
        """Between cycles: send what is due, stopping when the next cycle is."""
        if time.monotonic() < self._next_delivery:
            return
        self._next_delivery = time.monotonic() + DELIVER_EVERY

        def keep_going() -> bool:
            return (
                self._leader.is_set()
                and not self._stopping.is_set()
                and time.monotonic() < next_cycle
            )

        try:
            if not self.jobs.mail_due():
                return
            self.jobs.deliver(
                owner=self.owner,
                budget=max(next_cycle - time.monotonic(), 0.0),
                keep_going=keep_going,
            )
        except Exception as exc:
            log.error("delivery failed error=%s", _one_line(exc))
            if isinstance(exc, SQLAlchemyError):
                self.jobs.renew_connections()

    def _clamp_future(self) -> None:
        """At start: timestamps in the future back to now (alerted by the first cycle)."""
        try:
            self._clock_notes = self.jobs.clamp_future()
        except Exception as exc:
            log.error("clock check failed error=%s", _one_line(exc))
            if isinstance(exc, SQLAlchemyError):
                self.jobs.renew_connections()

    def reload_watchlists(self) -> None:
        """Bring the watchlist rows in line with their files (on start and on SIGHUP).

        The same reload as ``trialwatch init``: rows created and updated, and the
        watchlist of a deleted file disabled.
        """
        folder = self.settings.watchlists_dir
        try:
            specs = watchlist_files.read(folder)
            with session_scope(make_sessionmaker(self.engine)) as session:
                for line in watchlist_files.apply(session, specs, folder, self.jobs.clock()):
                    log.info("watchlist %s", line)
        except Exception as exc:
            log.error("watchlist files not reloaded: %s", _one_line(exc))
            if isinstance(exc, SQLAlchemyError):
                self.jobs.renew_connections()

    # --- the lease ----------------------------------------------------------------------

    def _renew(self) -> None:
        """Take or renew the lease (heartbeat thread); set or clear leadership."""
        if self._stopping.is_set():
            return
        try:
            forced = self._hold_advisory_lock()
            if self._advisory_lost():
                mine = False  # PostgreSQL: no live leader lock, no leadership
            else:
                with session_scope(make_sessionmaker(self.engine)) as session:
                    mine = lease.take(session, lease.SCHEDULER, self.owner, self._ttl, force=forced)
        except Exception as exc:
            log.error("lease renewal failed error=%s", _one_line(exc))
            if isinstance(exc, SQLAlchemyError):
                self.jobs.renew_connections()
            mine = False
        if mine and not self._leader.is_set():
            log.info("became the leader owner=%s", self.owner)
            self._leader.set()
        elif not mine and self._leader.is_set():
            log.warning("lost the leader lease owner=%s", self.owner)
            self._leader.clear()
            self._drop_advisory_lock()

    def _hold_advisory_lock(self) -> bool:
        """PostgreSQL: hold the leader's advisory lock; True when we got it just now.

        Getting it means no live process holds it, so an unexpired lease row is a dead
        leader's and may be taken over at once.
        """
        if self.engine.dialect.name != "postgresql" or self._advisory is not None:
            return False
        stack = contextlib.ExitStack()
        try:
            self._advisory_lock = stack.enter_context(exclusive_lock(self.engine, _LEADER_LOCK))
        except LockHeld:
            stack.close()
            return False
        self._advisory = stack
        return True

    def _advisory_lost(self) -> bool:
        """PostgreSQL: True when this process does not hold the leader's lock (now)."""
        if self.engine.dialect.name != "postgresql":
            return False
        if self._advisory_lock is not None and self._advisory_lock.alive():
            return False
        if self._advisory_lock is not None:
            log.warning("leader lock lost (its database connection ended) owner=%s", self.owner)
        self._drop_advisory_lock()
        return True

    def _drop_advisory_lock(self) -> None:
        if self._advisory is not None:
            with contextlib.suppress(Exception):
                self._advisory.close()
            self._advisory = None
        self._advisory_lock = None

    def _housekeeping(self) -> None:
        if self._last_housekeeping is not None and (
            time.monotonic() - self._last_housekeeping < HOUSEKEEPING_EVERY.total_seconds()
        ):
            return
        self._last_housekeeping = time.monotonic()
        try:
            self.jobs.housekeeping()
        except Exception as exc:
            log.error("housekeeping failed error=%s", _one_line(exc))
            if isinstance(exc, SQLAlchemyError):
                self.jobs.renew_connections()

    # --- signals and shutdown -------------------------------------------------------------

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping.is_set():
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self._stopping.set()
            threading.Thread(target=self._interrupt_again, daemon=True).start()
        # A message between its data and its recorded outcome is finished first: the pass
        # stops at its next look at keep_going (the cycle then stops at its next step).
        if self._in_cycle and not delivery.message_in_flight():
            raise KeyboardInterrupt

    def _interrupt_again(self) -> None:
        """Raise the stop again in the main thread every half second while a cycle runs.

        Python ignores an exception raised while it collects garbage: a stop that lands
        in a collection callback is lost, and a cycle inside one slow page would go on
        reading it. The same signal handler decides each time (never mid-message).
        """
        while not self._stopped.wait(INTERRUPT_AGAIN_EVERY):
            if self._in_cycle:
                _thread.interrupt_main(signal.SIGTERM)

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        log.info("SIGHUP: watchlist files are reloaded now (after a cycle in progress)")
        self._reload.set()

    def _shutdown(self) -> None:
        self._stopping.set()
        with contextlib.suppress(Exception):
            self._heartbeat.shutdown(wait=True)
        if self._leader.is_set():
            try:
                with session_scope(make_sessionmaker(self.engine)) as session:
                    lease.release(session, lease.SCHEDULER, self.owner)
                log.info("released the leader lease owner=%s", self.owner)
            except Exception as exc:  # the lease expires by itself
                log.warning("could not release the lease: %s", first_line(exc))
            self._leader.clear()
        self._drop_advisory_lock()
        log.info("scheduler stopped owner=%s", self.owner)


def _one_line(exc: BaseException) -> str:
    """An error in one line: a database error's driver message, without SQL."""
    if isinstance(exc, SQLAlchemyError):
        return database_error_line(exc)
    if isinstance(exc, TrialwatchError):
        return first_line(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"


def _seconds_until_next(trigger: IntervalTrigger) -> float:
    now = utcnow()
    fire = trigger.get_next_fire_time(None, now)
    return max((fire - now).total_seconds(), 0.0) if fire is not None else 60.0
