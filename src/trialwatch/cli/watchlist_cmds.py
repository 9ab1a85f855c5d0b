"""``trialwatch init`` and ``trialwatch watchlist list|show``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from trialwatch.cli.common import (
    JsonOpt,
    bold,
    database_error,
    load_app,
    out,
    print_json,
    print_table,
)
from trialwatch.errors import DatabaseError
from trialwatch.store import runs as run_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import check_database_file, upgrade
from trialwatch.watchlists import load_watchlists

watchlist_app = typer.Typer(help="List and inspect watchlists.", no_args_is_help=True)


def init(json_output: JsonOpt = False) -> None:
    """Create or upgrade the database and load the watchlists from config."""
    app = load_app()
    specs = load_watchlists(app.settings.watchlists_dir)
    check_database_file(app.engine, create=True)
    try:
        upgrade(app.engine)
    except DatabaseError as exc:
        if isinstance(exc.__cause__, DBAPIError):
            raise database_error(exc.__cause__, app.database) from exc
        raise
    with app.session() as session:
        report = watchlist_store.upsert_watchlists(session, specs, datetime.now(UTC))
    url = app.database
    if json_output:
        print_json({"database": url, "watchlists": report})
        return
    out.print(f"database ready: {url}")
    for line in report:
        out.print(f"watchlist {line}")


@watchlist_app.command("list")
def watchlist_list(json_output: JsonOpt = False) -> None:
    """List the watchlists with their study counts and last sync."""
    app = load_app()
    with app.session() as session:
        rows = []
        for wl in watchlist_store.list_watchlists(session):
            members, left = watchlist_store.watchlist_counts(session, wl.id)
            rows.append(
                {
                    "slug": wl.slug,
                    "name": wl.name,
                    "enabled": wl.enabled,
                    "studies": members,
                    "left": left,
                    "schedule": wl.schedule,
                    "last_synced_at": wl.last_synced_at.isoformat() if wl.last_synced_at else None,
                    "cursor": wl.sync_cursor.isoformat() if wl.sync_cursor else None,
                }
            )
    if json_output:
        print_json(rows)
        return
    print_table(
        None,
        ["slug", "name", "studies", "schedule", "last synced", "enabled"],
        [
            [
                r["slug"],
                r["name"],
                r["studies"],
                r["schedule"],
                r["last_synced_at"] or "never",
                r["enabled"],
            ]
            for r in rows
        ],
    )


@watchlist_app.command("show")
def watchlist_show(slug: str, json_output: JsonOpt = False) -> None:
    """Show one watchlist: its criteria, schedule, members and recent sync runs."""
    app = load_app()
    with app.session() as session:
        wl = watchlist_store.get_watchlist(session, slug)
        members, left = watchlist_store.watchlist_counts(session, wl.id)
        runs = [
            dict(run_store.run_counts(r)) | {"started_at": r.started_at.isoformat()}
            for r in run_store.last_runs(session, wl.id)
        ]
        data: dict[str, Any] = {
            "slug": wl.slug,
            "name": wl.name,
            "description": wl.description,
            "criteria": wl.criteria,
            "schedule": wl.schedule,
            "enabled": wl.enabled,
            "source": wl.source,
            "studies": members,
            "left": left,
            "cursor": wl.sync_cursor.isoformat() if wl.sync_cursor else None,
            "runs": runs,
        }
    if json_output:
        print_json(data)
        return
    out.print(Text.assemble(bold(data["name"]), f" ({wl.slug})"))
    if data["description"]:
        out.print(data["description"])
    for key, values in wl.criteria.items():
        if values:
            out.print(f"  {key}: {', '.join(values)}")
    cursor = data["cursor"] or "-"
    out.print(f"schedule: {data['schedule']}  studies: {members}  left: {left}  cursor: {cursor}")
    if runs:
        print_table(
            "recent sync runs",
            ["run", "started", "mode", "status", "seen", "new", "updated", "error"],
            [
                [
                    r["run_id"],
                    r["started_at"],
                    r["mode"],
                    r["status"],
                    r["seen"],
                    r["new"],
                    r["updated"],
                    r["error"] or "",
                ]
                for r in runs
            ],
        )
