"""The web process delivers the transactional mail it queues, within seconds of the form.

A confirmation (or a "send me a new link") is queued in the outbox by the request;
:meth:`Mailer.wake` then starts a delivery pass in this background thread, limited to
``confirm`` messages and claimed under this process's name, so that a ``trialwatch
run`` beside it never sends the same row (the outbox's claims decide who sends what).
Without a wake-up the thread still looks every :data:`EVERY` seconds, for retries.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from trialwatch.errors import TrialwatchError, first_line
from trialwatch.jobs.claimants import owner_name
from trialwatch.jobs.runner import Jobs

log = logging.getLogger("trialwatch.web.mailer")

KINDS = ("confirm",)
"""What the web queues and sends itself: confirmation requests."""
EVERY = 10.0
"""Seconds between looks at the outbox when nothing wakes the mailer (retries)."""
BUDGET = 20.0
"""Seconds one pass may take messages for."""


class Mailer:
    """A background thread sending the web's queued transactional mail."""

    def __init__(self, jobs: Jobs, *, every: float = EVERY, budget: float = BUDGET) -> None:
        self.jobs = jobs
        self.owner = owner_name()  # host:pid:start, as every claim owner
        self._every = every
        self._budget = budget
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="trialwatch-mailer", daemon=True)
        self._thread.start()
        log.info("mailer started owner=%s kinds=%s", self.owner, ",".join(KINDS))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the message in hand (what was claimed and not sent goes back)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Deliver soon: a message was just queued."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._every)
            self._wake.clear()
            if self._stopping.is_set():
                return
            self.deliver_once()

    def deliver_once(self) -> int:
        """One pass, if anything is due; how many were sent. Errors are logged in one line."""
        try:
            if not self.jobs.mail_due(KINDS):
                return 0
            result = self.jobs.deliver(
                kinds=KINDS,
                owner=self.owner,
                budget=self._budget,
                keep_going=lambda: not self._stopping.is_set(),
            )
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            log.error("mail delivery failed error=database error: %s", first_line(orig or exc))
            self.jobs.renew_connections()
            return 0
        except TrialwatchError as exc:
            log.error("mail delivery failed error=%s", first_line(exc))
            return 0
        if result.error:
            log.warning("mail delivery stopped, messages stay queued: %s", result.error)
        return result.sent
