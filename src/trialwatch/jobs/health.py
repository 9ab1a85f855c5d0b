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
  refused TrialWatch's sender, naming the server's answer (see
  :mod:`trialwatch.jobs.health_mail`).

Each start and each clear changes the alert row by compare and set and queues one
message per admin address in the same transaction, so it is mailed exactly once
however often, or however many processes, check. With no admin addresses the rows
are kept and nothing is mailed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

import jinja2
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.digest.render import one_line, plural, render_email
from trialwatch.errors import DeliveryError
from trialwatch.jobs import health_mail
from trialwatch.mail.message import build_message
from trialwatch.store import health as health_store
from trialwatch.store import outbox
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import HealthAlert, SyncRun, Watchlist

log = logging.getLogger("trialwatch.jobs.health")

FAILED_THRESHOLD = 5
FAILED_WINDOW = timedelta(hours=24)
OUTBOX_KEY = "outbox_failed"
_MAX_NAMES = 10  # unknown section names listed in one alert
# What each kind of alert is about: the subject after "TrialWatch alert:" / "resolved:".
_TITLES = {
    "stale": "no recent sync of watchlist {slug}",
    "matches_dropped": "matches of watchlist {slug} dropped",
    "skipped": "records skipped by syncs of watchlist {slug}",
    "unknown_sections": "unknown record sections in watchlist {slug}",
    "outbox_failed": "outgoing mail failing",
    health_mail.REFUSED_KEY: health_mail.REFUSED_TITLE,
    "clock": "timestamps in the future (a clock was ahead)",
    "drift": "registry fields of another type than the spec",
}


def _title(kind: str, slug: str = "") -> str:
    return _TITLES.get(kind, kind).format(slug=slug)


@dataclass(frozen=True)
class Condition:
    """One condition as evaluated now: whether it holds, and what to say either way."""

    key: str
    kind: str
    watchlist_id: int | None
    holds: bool
    title: str
    detail: str


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
        watchlists = health_store.enabled_watchlists(session)
        conditions = [
            condition
            for watchlist in watchlists
            for condition in _watchlist_conditions(session, watchlist, existing, stale_after, now)
        ]
        conditions.append(_drift_condition(session, watchlists))
        failed = health_store.failed_messages_since(session, now - failed_window)
        bounces = health_mail.bounces(session, now - failed_window)
        conditions.append(_outbox_condition(failed, failed_threshold, failed_window, bounces))
        refused, refused_detail = health_mail.refused(session)
        conditions.append(_installation_wide(health_mail.REFUSED_KEY, refused, refused_detail))
    conditions.append(_clock_condition(clock_notes))
    evaluated = {c.key for c in conditions}
    conditions.extend(
        _unchecked(alert)
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
            started_at=_when(now if row is None else row.started_at),
            noticed_at=_when(now),
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
) -> list[dict[str, Any]]:
    if not admins:
        return []
    rendered = render_email(env, "alert", {"alert": mail})
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    rows: list[dict[str, Any]] = []
    for address in admins:
        message_id = f"<alert.{uuid.uuid4().hex}@{domain}>"
        try:
            message = build_message(
                rendered,
                sender=sender,
                recipient_email=address,
                recipient_name=None,
                message_id=message_id,
                unsubscribe_url=None,
                date=now,
            )
        except DeliveryError as exc:
            log.warning("health alert not queued for an admin address: %s", exc)
            result.skipped += 1
            continue
        rows.append(
            {
                "subscriber_id": None,
                "kind": "alert",
                "message_id": message_id,
                "recipient": address,
                "subject": rendered.subject,
                "message": message.decode("utf-8", errors="surrogateescape"),
                "covered": {},
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return rows


# --- the conditions -------------------------------------------------------------------------


def _watchlist_conditions(
    session: Session,
    watchlist: Watchlist,
    existing: dict[str, HealthAlert],
    stale_after: timedelta,
    now: datetime,
) -> list[Condition]:
    dropped = existing.get(f"matches_dropped:{watchlist.slug}")
    return [
        _stale(session, watchlist, stale_after, now),
        _dropped(session, watchlist, dropped if dropped is not None and dropped.active else None),
        *_records(session, watchlist),
    ]


def _name(watchlist: Watchlist) -> str:
    return f"{one_line(watchlist.name) or watchlist.slug} ({watchlist.slug})"


def _stale(
    session: Session, watchlist: Watchlist, stale_after: timedelta, now: datetime
) -> Condition:
    last = health_store.succeeded_runs(session, watchlist.id, limit=1)
    since = min((last[0].finished_at if last else None) or watchlist.created_at, now)
    age = now - since  # a time in the future counts as now: the alert is never blind
    holds = age > stale_after
    if holds:
        origin = "last success" if last else "creation, and it has never synced"
        detail = (
            f"{_name(watchlist)} has had no successful sync for {_duration(age)}, since "
            f"{_when(since)} ({origin}); the limit is {_duration(stale_after)} "
            "(TRIALWATCH_STALE_AFTER). See `trialwatch watchlist show` for its runs."
        )
    elif last:
        detail = f"{_name(watchlist)} synced successfully at {_when(since)}."
    else:
        detail = f"{_name(watchlist)} was created at {_when(since)} and has not synced yet."
    return Condition(
        key=f"stale:{watchlist.slug}",
        kind="stale",
        watchlist_id=watchlist.id,
        holds=holds,
        title=_title("stale", watchlist.slug),
        detail=detail,
    )


def _fell(before: int, after: int) -> bool:
    """Zero, or a fall by more than half."""
    return before > 0 and (after == 0 or 2 * after < before)


def _listed(run: SyncRun) -> int:
    """The members a listing run found (``seen`` for full runs from before ``listed``)."""
    return run.listed if run.listed is not None else run.seen


def _dropped(session: Session, watchlist: Watchlist, active: HealthAlert | None) -> Condition:
    runs = health_store.succeeded_runs(session, watchlist.id, listing=True, limit=2)
    newest = runs[0] if runs else None
    if active is not None:
        # The reference is the listing before the one that raised the alert.
        pair = health_store.succeeded_runs(
            session, watchlist.id, listing=True, finished_by=active.started_at, limit=2
        )
        reference = pair[1] if len(pair) == 2 else None
    else:
        reference = runs[1] if len(runs) == 2 else None
    if reference is not None and reference.started_at < watchlist.updated_at:
        reference = None  # edited since: the criteria may have been narrowed on purpose
    holds = (
        newest is not None and reference is not None and _fell(_listed(reference), _listed(newest))
    )
    if newest is None:
        detail = f"{_name(watchlist)} has not listed its studies yet (no full sync)."
    elif holds and reference is not None:
        detail = (
            f"The last listing of {_name(watchlist)} saw "
            f"{_studies(_listed(newest))} ({_run(newest)}); {_run(reference)} saw "
            f"{_listed(reference)}. The registry may be answering incompletely, or the "
            "criteria no longer match what they did."
        )
    else:
        detail = (
            f"The last listing of {_name(watchlist)} saw "
            f"{_studies(_listed(newest))} ({_run(newest)})."
        )
    return Condition(
        key=f"matches_dropped:{watchlist.slug}",
        kind="matches_dropped",
        watchlist_id=watchlist.id,
        holds=holds,
        title=_title("matches_dropped", watchlist.slug),
        detail=detail,
    )


def _records(session: Session, watchlist: Watchlist) -> list[Condition]:
    """Skipped records and unknown sections of the runs since the newest full run."""
    full = health_store.succeeded_runs(session, watchlist.id, mode="full", limit=1)
    window = (
        health_store.succeeded_runs(session, watchlist.id, started_since=full[0].started_at)
        if full
        else []
    )
    skipped = sum(r.skipped for r in window)
    reason = next((r.skip_reason for r in window if r.skip_reason), None)
    if skipped:
        skip_detail = (
            f"Syncs of {_name(watchlist)} since its last full sync skipped "
            f"{plural(skipped, 'record')} they could not store; the first: "
            f"{one_line(reason) or 'no reason recorded'}. The rest of each page was stored."
        )
    else:
        skip_detail = (
            f"The syncs of {_name(watchlist)} since its last full sync stored every record."
        )
    sections = sorted({one_line(s) or "(blank)" for r in window for s in r.unknown_sections or ()})
    if sections:
        listed = ", ".join(sections[:_MAX_NAMES])
        if len(sections) > _MAX_NAMES:
            listed += f" and {len(sections) - _MAX_NAMES} more"
        section_detail = (
            f"Records fetched for {_name(watchlist)} have top-level sections TrialWatch does "
            f"not know: {listed}. They are stored as received; the registry's format may "
            "have changed."
        )
    else:
        section_detail = (
            f"The records fetched for {_name(watchlist)} since its last full sync have only "
            "known sections."
        )
    return [
        Condition(
            key=f"skipped:{watchlist.slug}",
            kind="skipped",
            watchlist_id=watchlist.id,
            holds=skipped > 0,
            title=_title("skipped", watchlist.slug),
            detail=skip_detail,
        ),
        Condition(
            key=f"unknown_sections:{watchlist.slug}",
            kind="unknown_sections",
            watchlist_id=watchlist.id,
            holds=bool(sections),
            title=_title("unknown_sections", watchlist.slug),
            detail=section_detail,
        ),
    ]


def _drift_condition(session: Session, watchlists: Sequence[Watchlist]) -> Condition:
    """Fields of another JSON type than the spec's, met by the runs since each watchlist's
    newest full run: one alert for the registry, naming each field and type."""
    found: dict[str, set[str]] = {}  # what drifted -> the watchlists that met it
    records = 0
    for watchlist in watchlists:
        full = health_store.succeeded_runs(session, watchlist.id, mode="full", limit=1)
        if not full:
            continue
        for run in health_store.succeeded_runs(
            session, watchlist.id, started_since=full[0].started_at
        ):
            records += run.drifted
            for name in run.drift or ():
                found.setdefault(one_line(name) or "(blank)", set()).add(watchlist.slug)
    if found:
        names = sorted(found)
        listed = "; ".join(
            f"{name} ({', '.join(sorted(found[name]))})" for name in names[:_MAX_NAMES]
        )
        if len(names) > _MAX_NAMES:
            listed += f"; and {len(names) - _MAX_NAMES} more"
        detail = (
            f"{plural(records, 'record')} fetched since the last full syncs had fields of "
            f"another JSON type than the API's spec gives: {listed}. They are stored as "
            "received and those fields are not compared, so no change is mailed for them; "
            "the registry's format may have changed."
        )
    else:
        detail = "The records fetched since the last full syncs have the spec's field types."
    return _installation_wide("drift", bool(found), detail)


def _outbox_condition(failed: int, threshold: int, window: timedelta, bounces: str) -> Condition:
    counted = f"{plural(failed, 'outgoing message')} failed in the last {_duration(window)}"
    if failed >= threshold:
        detail = (
            f"{counted} (the alert threshold is {threshold}). `trialwatch outbox` shows their "
            f"errors; `trialwatch outbox --retry-failed` queues them again.{bounces}"
        )
    else:
        detail = f"{counted}, under the alert threshold of {threshold}."
    return Condition(
        key=OUTBOX_KEY,
        kind="outbox_failed",
        watchlist_id=None,
        holds=failed >= threshold,
        title=_title("outbox_failed"),
        detail=detail,
    )


def _clock_condition(notes: Sequence[str]) -> Condition:
    """Holds in the cycle that clamped timestamps written by a clock that was ahead."""
    if notes:
        detail = (
            "Timestamps in the future were found and set to now, so that no schedule "
            f"waits for them: {'; '.join(notes)}. Check the clocks (NTP) of every host "
            "that runs TrialWatch."
        )
    else:
        detail = "No timestamp is in the future any more."
    return _installation_wide("clock", bool(notes), detail)


def _installation_wide(key: str, holds: bool, detail: str) -> Condition:
    """A condition of the whole installation, not of one watchlist: its key is its kind."""
    return Condition(
        key=key, kind=key, watchlist_id=None, holds=holds, title=_title(key), detail=detail
    )


def _unchecked(row: HealthAlert) -> Condition:
    """An active alert no condition is evaluated for any more (its watchlist was disabled)."""
    slug = row.key.partition(":")[2]
    return Condition(
        key=row.key,
        kind=row.kind,
        watchlist_id=row.watchlist_id,
        holds=False,
        title=_title(row.kind, slug),
        detail=f"Watchlist {slug} is no longer checked (it was disabled).",
    )


# --- words ---------------------------------------------------------------------------------


def _studies(count: int) -> str:
    return plural(count, "study", "studies")


def _run(run: SyncRun) -> str:
    return f"run {run.id}, {_when(run.finished_at or run.started_at)}"


def _when(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%B %Y}, {utc:%H:%M} UTC"


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 48:
        return plural(int(hours // 24), "day")
    if hours >= 1:
        return plural(int(hours), "hour")
    return plural(max(int(span.total_seconds() // 60), 0), "minute")
