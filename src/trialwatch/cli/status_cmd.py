"""``trialwatch status``: is the deployment healthy? Watchlists, outbox, leader, data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session

from trialwatch.cli.common import JsonOpt, load_app, out, print_json, print_table
from trialwatch.store import changes as change_store
from trialwatch.store import lease, outbox
from trialwatch.store import runs as run_store
from trialwatch.store import watchlists as watchlist_store

RECENT = timedelta(days=7)
OUTBOX_STATES = ("queued", "sending", "sent", "unconfirmed", "failed")


def status(json_output: JsonOpt = False) -> None:
    """Show each watchlist's last success, last error and next run, the outbox and the leader.

    The next run is the watchlist's cron schedule, its daily safety net: the scheduler
    also polls the registry's /version and syncs sooner when new data is published.
    """
    app = load_app()
    now = app.now()
    with app.session() as session:
        data = collect_status(session, now)
    if json_output:
        print_json(data)
        return
    _print_status(data)


def collect_status(session: Session, now: datetime) -> dict[str, Any]:
    """The status as one JSON-ready object (times as ISO 8601 strings or None)."""
    watchlists = []
    for wl in watchlist_store.list_watchlists(session):
        members, _ = watchlist_store.watchlist_counts(session, wl.id)
        newest = run_store.last_runs(session, wl.id, limit=1)
        failed = newest[0] if newest and newest[0].status == "failed" else None
        watchlists.append(
            {
                "slug": wl.slug,
                "enabled": wl.enabled,
                "last_success": _iso(run_store.last_success_at(session, wl.id)),
                "last_error": failed.error if failed is not None else None,
                "next_run": _iso(next_run(wl.schedule, now)) if wl.enabled else None,
                "studies": members,
                "changes_7d": change_store.count_changes(session, wl.id, since=now - RECENT),
            }
        )
    counts = outbox.status_counts(session)
    holder = lease.holder(session, lease.SCHEDULER)
    return {
        "watchlists": watchlists,
        "outbox": {state: counts.get(state, 0) for state in OUTBOX_STATES},
        "leader": None
        if holder is None
        else {"owner": holder.owner, "expires": _iso(holder.expires_at)},
        "data_timestamp": watchlist_store.newest_data_timestamp(session),
    }


def next_run(schedule: str, now: datetime) -> datetime | None:
    """The next fire time of a cron schedule (UTC) after ``now``; None if it never fires."""
    try:
        trigger = CronTrigger.from_crontab(schedule, timezone=UTC)
    except ValueError:  # validated when loaded; a hand-edited row is shown, not raised
        return None
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _print_status(data: dict[str, Any]) -> None:
    print_table(
        None,
        ["watchlist", "enabled", "studies", "changes 7d", "last success", "next run", "last error"],
        [
            [
                w["slug"],
                "yes" if w["enabled"] else "no",
                w["studies"],
                w["changes_7d"],
                w["last_success"] or "never",
                w["next_run"] or "-",
                w["last_error"] or "",
            ]
            for w in data["watchlists"]
        ],
    )
    out.print("outbox: " + ", ".join(f"{k} {v}" for k, v in data["outbox"].items()))
    leader = data["leader"]
    if leader is None:
        out.print("leader: none")
    else:
        out.print(f"leader: {leader['owner']} (lease expires {leader['expires']})")
    out.print(f"registry data: {data['data_timestamp'] or 'never synced'}")
