"""``Jobs(settings, engine)``: the one place where settings become job arguments.

The command line and the scheduler both call these methods, so a setting is read
in one place and ``now`` is chosen here (the injectable ``clock``), never deep in a
job. Each method is one step of one job and returns that job's result.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

import jinja2
from sqlalchemy import Engine

from trialwatch import clock as clocks
from trialwatch import registries
from trialwatch.config import Settings
from trialwatch.digest.model import Digest
from trialwatch.jobs.clock_skew import clamp_future_timestamps
from trialwatch.jobs.delivery import SendResult, send_digests_once
from trialwatch.jobs.digests import BuildResult, build_digests_once, preview_digest
from trialwatch.jobs.health import HealthResult, check_health
from trialwatch.jobs.housekeeping import prune_web_state, purge_sent_outbox
from trialwatch.jobs.sync import (
    SyncBatch,
    SyncProgress,
    SyncResult,
    sync_watchlists,
)
from trialwatch.mail.outbox_rows import MailSettings
from trialwatch.mail.signing import resolve_secret
from trialwatch.mail.templates import RenderedMessage, make_environment
from trialwatch.mail.transport import MailTransport, make_transport
from trialwatch.registries.base import Registry
from trialwatch.store import pending
from trialwatch.store.db import make_sessionmaker, session_scope


@dataclass
class Jobs:
    """The jobs, configured once from ``settings`` against ``engine``."""

    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = field(default=lambda: clocks.utcnow())
    """The one clock of the jobs and of the command line (``trialwatch.clock.utcnow``)."""

    # --- sync ---------------------------------------------------------------------------

    def registry(self, name: str = "ctgov") -> AbstractContextManager[Registry]:
        """The registry called ``name``, opened as the settings describe (a context manager)."""
        return registries.get(name)(self.settings)

    def sync(
        self,
        slug: str,
        *,
        full: bool = False,
        registry: Registry | None = None,
        on_page: Callable[[SyncProgress], None] | None = None,
    ) -> SyncResult:
        """Sync one watchlist (with ``registry`` when given, else one opened for it)."""
        if registry is None:
            with self.registry() as own:
                return self.sync(slug, full=full, registry=own, on_page=on_page)
        [result] = self.sync_many([slug], registry=registry, full=full, on_page=on_page)
        if result.failure is not None:
            raise result.failure
        return result

    def sync_many(
        self,
        slugs: Sequence[str],
        *,
        registry: Registry,
        full: bool = False,
        on_page: Callable[[SyncProgress], None] | None = None,
        batch: SyncBatch | None = None,
        between: Callable[[], None] | None = None,
    ) -> list[SyncResult]:
        """Sync watchlists as one batch: a study they share is fetched once.

        A watchlist that failed has a result too (status ``failed``, with its error).
        """
        s = self.settings
        return sync_watchlists(
            self.engine,
            registry,
            slugs,
            full=full,
            page_size=s.page_size,
            overlap_days=s.overlap_days,
            api_url=s.api_url,
            now=self.clock,
            on_page=on_page,
            batch=batch,
            between=between,
        )

    # --- digests ------------------------------------------------------------------------

    @cached_property
    def templates(self) -> jinja2.Environment:
        return make_environment(self.settings.templates)

    @cached_property
    def mail(self) -> MailSettings:
        """What building a message needs; the secret key comes from the state folder."""
        s = self.settings
        return MailSettings(
            sender=s.mail_from,
            public_url=s.public_url,
            secret=resolve_secret(s.secret_key, s.state_dir, old_dir=Path.cwd()),
            max_studies=s.digest_max_studies,
        )

    def build_digests(self, *, dry_run: bool = False) -> BuildResult:
        """Queue one digest per due subscriber (one builder at a time)."""
        return build_digests_once(
            self.engine, self.templates, self.mail, now=self.clock(), dry_run=dry_run
        )

    def preview(self, email: str) -> tuple[Digest | None, RenderedMessage | None]:
        """The next digest of one subscriber, rendered, touching nothing."""
        return preview_digest(self.engine, self.templates, self.mail, email, now=self.clock())

    # --- delivery -----------------------------------------------------------------------

    def transport(self) -> MailTransport:
        """SMTP or a folder of .eml files, as the settings say."""
        return make_transport(self.settings.mail, self.settings.smtp_url)

    def deliver(
        self,
        *,
        owner: str | None = None,
        kinds: Collection[str] | None = None,
        budget: float | None = None,
        keep_going: Callable[[], bool] | None = None,
    ) -> SendResult:
        """Send the due messages of the outbox (see :func:`send_digests_once` for the limits)."""
        return send_digests_once(
            self.engine,
            self.transport(),
            sender=self.settings.mail_from,
            now=self.clock,
            max_attempts=self.settings.send_max_attempts,
            owner=owner,
            kinds=kinds,
            budget=budget,
            keep_going=keep_going,
        )

    def mail_due(self, kinds: Collection[str] | None = None) -> bool:
        """Whether a queued message (of ``kinds``) is due now: a pass would send something."""
        with session_scope(make_sessionmaker(self.engine)) as session:
            return pending.mail_due(session, self.clock(), kinds)

    # --- health -------------------------------------------------------------------------

    def health(self, *, clock_notes: Sequence[str] = ()) -> HealthResult:
        """Open and clear health alerts; mail each start and clear once to the admins.

        ``clock_notes`` are this cycle's :meth:`clamp_future` lines (the ``clock`` alert).
        """
        s = self.settings
        return check_health(
            self.engine,
            self.templates,
            admins=s.admin_addresses,
            sender=s.mail_from,
            stale_after=s.stale_after,
            now=self.clock(),
            clock_notes=clock_notes,
        )

    def clamp_future(self) -> list[str]:
        """Set timestamps a clock ahead wrote back to now; one line per column changed."""
        return clamp_future_timestamps(self.engine, self.clock())

    def renew_connections(self) -> None:
        """After a database error: drop the pooled connections, so the next step opens new ones."""
        self.engine.dispose()

    # --- housekeeping -------------------------------------------------------------------

    def housekeeping(self) -> int:
        """Delete sent messages older than ``TRIALWATCH_OUTBOX_RETENTION``; how many went.

        Old rate-limit windows and expired admin sessions go too.
        """
        now = self.clock()
        prune_web_state(self.engine, now=now)
        return purge_sent_outbox(self.engine, retention=self.settings.outbox_retention, now=now)
