"""``trialwatch init`` and ``trialwatch watchlist list|show|check|enable|disable``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

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
from trialwatch.errors import ConfigError, DatabaseError, NotFoundError
from trialwatch.jobs.sync_plan import unfiltered_ids
from trialwatch.services import watchlist_files
from trialwatch.store import runs as run_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import check_database_file, upgrade
from trialwatch.watchlists import WatchlistSpec, load_watchlist_file

watchlist_app = typer.Typer(
    help="List, inspect, check, enable and disable watchlists.", no_args_is_help=True
)


def init(json_output: JsonOpt = False) -> None:
    """Create or upgrade the database and load the watchlists from config.

    Watchlists whose file is gone are disabled (their history is kept); a watchlist
    whose criteria changed is synced in full next time.
    """
    app = load_app()
    folder = app.settings.watchlists_dir
    specs = watchlist_files.read(folder)
    check_database_file(app.engine, create=True)
    try:
        upgrade(app.engine)
    except DatabaseError as exc:
        if isinstance(exc.__cause__, DBAPIError):
            raise database_error(exc.__cause__, app.database) from exc
        raise
    now = app.now()
    with app.session() as session:
        report = watchlist_files.apply(session, specs, folder, now)
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
        ["slug", "name", "studies", "schedule", "last synced", "state"],
        [
            [
                r["slug"],
                r["name"],
                r["studies"],
                r["schedule"],
                r["last_synced_at"] or "never",
                _state(bool(r["enabled"])),
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
    state = _state(wl.enabled)
    if not wl.enabled:
        state += f" (skipped by a plain sync; 'trialwatch watchlist enable {wl.slug}')"
    out.print(f"state: {state}  file: {wl.source or '-'}")
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


def _state(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


SlugArg = Annotated[str, typer.Argument(help="The watchlist's slug.")]


@watchlist_app.command("enable")
def watchlist_enable(slug: SlugArg, json_output: JsonOpt = False) -> None:
    """Enable a watchlist: `trialwatch sync` and the scheduler sync it again.

    Lasts until its file is edited; `trialwatch init` then applies the file's `enabled`.
    """
    _switch(slug, True, json_output)


@watchlist_app.command("disable")
def watchlist_disable(slug: SlugArg, json_output: JsonOpt = False) -> None:
    """Disable a watchlist: kept with its history, not synced unless named.

    Lasts until its file is edited; `trialwatch init` then applies the file's `enabled`.
    """
    _switch(slug, False, json_output)


def _switch(slug: str, enabled: bool, json_output: bool) -> None:
    app = load_app()
    with app.session() as session:
        changed = watchlist_store.set_enabled(session, slug, enabled, app.now())
    if json_output:
        print_json({"slug": slug, "enabled": enabled, "changed": changed})
        return
    state = _state(enabled)
    out.print(f"watchlist {slug}: {state}" if changed else f"watchlist {slug}: already {state}")


@watchlist_app.command("check")
def watchlist_check(
    target: Annotated[
        str,
        typer.Argument(
            help="The slug of a file in the watchlists folder, or the path of a .toml file."
        ),
    ],
    json_output: JsonOpt = False,
) -> None:
    """Validate a watchlist file and ask the registry how many studies it matches now.

    Prints the API query parameters and the API's totalCount (one request, pageSize=1);
    stores nothing and needs no database.
    """
    app = load_app()
    spec = _find_spec(target, app.settings.watchlists_dir)
    criteria = spec.criteria
    unfiltered = unfiltered_ids(criteria)
    with app.jobs.registry() as registry:
        params = registry.plan(criteria)
        listed = registry.plan_ids(unfiltered) if unfiltered else None
        total = next(iter(registry.iter_pages(params, page_size=1))).total_count
    data: dict[str, Any] = {
        "slug": spec.slug,
        "name": spec.name,
        "source": spec.source,
        "enabled": spec.enabled,
        "schedule": spec.schedule,
        "criteria": criteria.to_dict(),
        "params": params,
        "total_count": total,
        "always_watched": list(criteria.nct_ids),
        "listed_params": listed,
    }
    if json_output:
        print_json(data)
        return
    out.print(Text.assemble(bold(spec.name), f" ({spec.slug}): valid, {spec.source}"))
    out.print(f"schedule: {spec.schedule} (cron, UTC)  state in file: {_state(spec.enabled)}")
    out.print("query parameters of GET /studies:")
    for key, value in params.items():
        out.print(f"  {key} = {value}")
    if listed is not None:
        ids = ", ".join(unfiltered)
        out.print(f"always watched, also fetched without the filters: {ids}")
    count = "unknown" if total is None else str(total)
    plural = "study matches" if total == 1 else "studies match"
    out.print(f"ClinicalTrials.gov: {count} {plural} now (totalCount)")


def _find_spec(target: str, folder: Path) -> WatchlistSpec:
    """A path to a .toml file, or the file of the folder whose slug is ``target``."""
    if target.endswith(".toml") or "/" in target or os.sep in target:
        return load_watchlist_file(Path(target))
    if not folder.is_dir():
        raise ConfigError(f"{folder}: watchlist folder does not exist")
    named = folder / f"{target}.toml"
    found: list[str] = []
    if named.is_file():
        spec = load_watchlist_file(named)  # its own mistakes are what check reports
        if spec.slug == target:
            return spec
    for path in sorted(folder.glob("*.toml")):
        try:
            spec = load_watchlist_file(path)
        except ConfigError:
            continue  # another file's mistake is not this check's business
        if spec.slug == target:
            return spec
        found.append(spec.slug)
    known = ", ".join(sorted(found)) or "none"
    raise NotFoundError(f"no watchlist file with slug '{target}' in {folder} (found: {known})")
