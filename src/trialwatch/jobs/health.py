"""The health check: conditions an admin should hear about, mailed once when they start
and once when they clear.

Conditions, per enabled watchlist (key ``<kind>:<slug>``) and for the outbox:

* ``stale``: no successful sync for ``stale_after`` (from the newest succeeded run's
  end, or the watchlist's creation when it never synced);
* ``matches_dropped``: the newest succeeded run that listed the whole membership
  (a full run, or an incremental one that listed: ``jobs.sync.lists_members``, at
  least daily) found none, or fewer than half, of the studies the listing before it
  found. Incremental runs that only searched what was updated are never compared.
  While the alert is active the reference stays the listing before the drop, so it
  clears only when a listing finds at least half of those studies again (not
  because a second empty listing equals the first).
  Runs started before the watchlist was last edited are no reference: narrowed
  criteria find fewer studies on purpose;
* ``skipped``: records the runs since the newest full run could not store;
* ``unknown_sections``: top-level record sections outside the API's Study schema
  met by the runs since the newest full run;
* ``drift`` (one for the registry): fields of another JSON type than the API's spec
  gives, met by the runs of any watchlist since its newest full run (the records are
  stored, those fields not compared);
* ``outbox_failed`` (one for the whole outbox): at least ``failed_threshold``
  digest or confirmation messages failed with their last attempt in the last
  ``failed_window`` (alert mails are not counted: they go to the admins who would
  be told); it says how many subscribers were marked bounced in that window;
* ``mail_refused`` (one for the whole outbox): messages wait because the mail server
  refused TrialWatch's sender, naming the server's answer;
* ``clock`` (one for the installation): the cycle set timestamps a clock ahead wrote
  back to now.

The conditions are evaluated in :mod:`trialwatch.jobs.health_conditions` and worded
in :mod:`trialwatch.words.health`.

Each start and each clear changes the alert row by compare and set and queues one
message per admin address in the same transaction, so it is mailed exactly once
however often, or however many processes, check. With no admin addresses the rows
are kept and nothing is mailed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jinja2
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.jobs.health_conditions import (
    OUTBOX_KEY,
    Condition,
    clock_condition,
    evaluate,
    unchecked,
)
from trialwatch.mail.outbox_rows import OutboxRow, alert_rows
from trialwatch.mail.templates import render_email
from trialwatch.store import health as health_store
from trialwatch.store import outbox
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import HealthAlert
from trialwatch.words.health import when

__all__ = ["OUTBOX_KEY", "AlertMail", "Condition", "HealthResult", "check_health"]

log = logging.getLogger("trialwatch.jobs.health")

FAILED_THRESHOLD = 5
FAILED_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class AlertMail:
    """The ``alert`` variable of the alert templates."""

    event: str  # started | cleared
    kind: str
    title: str
    detail: str
    watchlist_slug: str | None
    started_at: str
    noticed_at: str


@dataclass
class HealthResult:
    checked: int = 0
    active: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    queued: int = 0
    skipped: int = 0  # admin addresses no message could be built for

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "active": list(self.active),
            "started": list(self.started),
            "cleared": list(self.cleared),
            "queued": self.queued,
            "skipped": self.skipped,
        }


def check_health(
    engine: Engine,
    env: jinja2.Environment,
    *,
    admins: Sequence[str],
    sender: str,
    stale_after: timedelta,
    now: datetime,
    failed_threshold: int = FAILED_THRESHOLD,
    failed_window: timedelta = FAILED_WINDOW,
    clock_notes: Sequence[str] = (),
) -> HealthResult:
    """Evaluate every condition, open and clear alerts, queue one mail per admin per change."""
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        existing = health_store.alerts(session)
        conditions = evaluate(
            session,
            existing,
            stale_after=stale_after,
            now=now,
            failed_threshold=failed_threshold,
            failed_window=failed_window,
        )
    conditions.append(clock_condition(clock_notes))
    evaluated = {c.key for c in conditions}
    conditions.extend(
        unchecked(alert)
        for alert in existing.values()
        if alert.active and alert.key not in evaluated
    )
    result = HealthResult(checked=len(evaluated))
    for condition in conditions:
        row = existing.get(condition.key)
        active = row if row is not None and row.active else None
        if condition.holds and active is None:
            _transition(factory, env, condition, None, admins, sender, now, result)
        elif not condition.holds and active is not None:
            _transition(factory, env, condition, active, admins, sender, now, result)
        elif condition.holds and row is not None and row.detail != condition.detail:
            with session_scope(factory) as session:
                health_store.set_detail(session, condition.key, condition.detail)
    result.active = sorted(c.key for c in conditions if c.holds)
    log.info(
        "health checked conditions=%d active=%d started=%d cleared=%d queued=%d",
        result.checked,
        len(result.active),
        len(result.started),
        len(result.cleared),
        result.queued,
    )
    return result


def _transition(
    factory: sessionmaker[Session],
    env: jinja2.Environment,
    condition: Condition,
    row: HealthAlert | None,
    admins: Sequence[str],
    sender: str,
    now: datetime,
    result: HealthResult,
) -> None:
    """Start (``row`` None) or clear the alert and queue its mails, in one transaction."""
    starting = row is None
    with session_scope(factory) as session:
        if starting:
            changed = health_store.open_alert(
                session,
                condition.key,
                kind=condition.kind,
                watchlist_id=condition.watchlist_id,
                detail=condition.detail,
                now=now,
            )
        else:
            changed = health_store.clear_alert(
                session, condition.key, detail=condition.detail, now=now
            )
        if not changed:  # another checker got there first and mailed it
            return
        mail = AlertMail(
            event="started" if starting else "cleared",
            kind=condition.kind,
            title=condition.title,
            detail=condition.detail,
            watchlist_slug=condition.key.partition(":")[2] or None,
            started_at=when(now if row is None else row.started_at),
            noticed_at=when(now),
        )
        rows = _mail_rows(env, mail, admins, sender, now, result)
        outbox.queue(session, rows)
    result.queued += len(rows)
    if starting:
        result.started.append(condition.key)
        log.warning("health alert started %s: %s", condition.key, condition.detail)
    else:
        result.cleared.append(condition.key)
        log.info("health alert cleared %s: %s", condition.key, condition.detail)


def _mail_rows(
    env: jinja2.Environment,
    mail: AlertMail,
    admins: Sequence[str],
    sender: str,
    now: datetime,
    result: HealthResult,
) -> list[OutboxRow]:
    if not admins:
        return []
    rendered = render_email(env, "alert", {"alert": mail})
    rows, skipped = alert_rows(rendered, admins=admins, sender=sender, now=now)
    result.skipped += skipped
    return rows
