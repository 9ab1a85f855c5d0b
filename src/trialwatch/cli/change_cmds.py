"""``trialwatch changes``, ``trialwatch diff`` and ``trialwatch backfill-changes``."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from trialwatch.cli.common import JsonOpt, err, load_app, out, print_json, print_table
from trialwatch.cli.study_cmds import ExportFormat, write_rows
from trialwatch.diff.leaves import leaf_differences
from trialwatch.errors import ConfigError, NotFoundError
from trialwatch.jobs import records
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.services.exports import CHANGE_COLUMNS, change_row, choose_columns
from trialwatch.store import changes as change_store
from trialwatch.store import exports as export_store
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.timeparse import parse_since
from trialwatch.vocab import MAILED_SIGNIFICANCES
from trialwatch.watchlists import normalise_nct_id
from trialwatch.words.changes import stored

# The choices of --significance, from the one vocabulary (a typer choice needs an enum).
Level = enum.StrEnum("Level", {level: level for level in (*MAILED_SIGNIFICANCES, "all")})  # type: ignore[misc]
_DEFAULT_LEVEL = Level("minor")


class ChangesFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def changes(
    watchlist: Annotated[
        str | None, typer.Option("--watchlist", "-w", help="Only this watchlist.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="A date (2026-11-01) or a duration (7d, 24h).")
    ] = None,
    significance: Annotated[
        Level,
        typer.Option("--significance", "-s", help="major, minor (and major) or all (with noise)."),
    ] = _DEFAULT_LEVEL,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=0, help="At most this many (0: all of them)."),
    ] = 200,
    fmt: Annotated[
        ChangesFormat,
        typer.Option(
            "--format", "-f", help="table (the default), or csv or json to export the rows."
        ),
    ] = ChangesFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="With csv or json: write to FILE (atomically), not stdout."
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="With csv or json: only these columns, comma-separated, in this order"
            f" (default: all): {', '.join(CHANGE_COLUMNS)}.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """List detected changes, newest first; or export them as CSV or JSON.

    An export has one row per change: when it was detected, the study, the watchlist
    of a membership change, the version that made it and the date the registry posted
    that version, kind, significance, field, summary, old and new values, countries.
    In CSV, old, new and countries are JSON (a text value in quotes, null when none).
    --limit applies to exports too: --limit 0 exports every change.
    """
    export = fmt is not ChangesFormat.table
    if json_output and export:
        raise ConfigError(f"--json and --format {fmt.value}: choose one")
    given = [
        name for name, value in (("--output", output), ("--fields", fields)) if value is not None
    ]
    if given and not export:
        verb = "go" if len(given) > 1 else "goes"
        raise ConfigError(f"{' and '.join(given)} {verb} with --format csv or --format json")
    columns = choose_columns(fields, CHANGE_COLUMNS)
    app = load_app()
    start = parse_since(since, app.now()) if since else None
    with app.session() as session:
        chosen: dict[str, Any] = {
            "watchlist_id": watchlist_store.get_watchlist(session, watchlist).id
            if watchlist
            else None,
            "since": start,
            "significance": significance.value,
            "limit": limit or None,
        }
        if export:
            rows = (change_row(r) for r in export_store.iter_changes(session, **chosen))
            written = write_rows(rows, columns, ExportFormat(fmt.value), output)
            if limit and written == limit:
                err.print(f"stopped at --limit {limit}: --limit 0 writes every change")
            return
        listed = change_store.list_changes(session, **chosen)
    _print_changes(listed, json_output)


def _print_changes(rows: list[change_store.ChangeView], json_output: bool) -> None:
    if json_output:
        print_json([_said(r) for r in rows])
        return
    if not rows:
        out.print("no changes")
        return
    print_table(
        None,
        ["detected", "study", "significance", "change"],
        [
            [
                r.detected_at.strftime("%Y-%m-%d %H:%M"),
                f"{r.acronym} {r.nct_id}" if r.acronym else r.nct_id,
                r.significance,
                r.summary,
            ]
            for r in rows
        ],
    )


def _said(row: change_store.ChangeView) -> dict[str, Any]:
    """A listed change as JSON, with its message and params (a summary for an old row)."""
    message, params = stored(row.message, row.params, row.summary)
    return {**row.to_dict(), "message": message, "params": params}


def diff(
    nct_id: Annotated[str, typer.Argument(help="NCT ID of a stored study.")],
    v1: Annotated[
        int | None, typer.Argument(help="Older version (default: the one before V2).")
    ] = None,
    v2: Annotated[
        int | None, typer.Argument(help="Newer version (default: the current one).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Show the full field-level difference between two versions of a study."""
    app = load_app()
    with app.session() as session:
        study = study_store.get_study(session, normalise_nct_id(nct_id))
        newer = v2 if v2 is not None else study.current_version
        older = v1 if v1 is not None else newer - 1
        # Checked before any query: a number no version can have (negative, or beyond
        # the database's integers) is the same mistake as a version not stored yet.
        for number, lowest in ((newer, 1), (older, 0)):
            if not lowest <= number <= study.current_version:
                raise NotFoundError(
                    f"{study.nct_id} has no version {number}"
                    f" (versions 1 to {study.current_version})"
                )
        new = study_store.record_by_version(session, study.id, newer)
        old = study_store.record_by_version(session, study.id, older) if older >= 1 else None
        if new is None or (older >= 1 and old is None):
            missing = older if new is not None else newer
            raise NotFoundError(
                f"{study.nct_id} has no version {missing} (versions 1 to {study.current_version})"
            )
    explained = diff_records(old, new)
    raw = [] if old is None else list(leaf_differences(old, new))
    if json_output:
        print_json(
            {
                "nct_id": study.nct_id,
                "from_version": older if old is not None else None,
                "to_version": newer,
                "changes": [c.to_dict() for c in explained],
                "fields": [{"path": p, "old": o, "new": n} for p, o, n in raw],
            }
        )
        return
    out.print(f"{study.nct_id}: version {older if old is not None else '-'} → {newer}")
    print_table(
        "changes",
        ["significance", "kind", "summary"],
        [[c.significance, c.kind, c.summary] for c in explained],
    )
    if raw:
        print_table(
            "fields",
            ["path", "old", "new"],
            [[p, _short(o), _short(n)] for p, o, n in raw],
        )


def backfill_changes(json_output: JsonOpt = False) -> None:
    """Compute the changes of stored versions that have none (e.g. stored by an older release)."""
    app = load_app()
    with app.session() as session:
        versions, rows = records.backfill_changes(session, app.now())
    if json_output:
        print_json({"versions": versions, "changes": rows})
    else:
        out.print(f"{rows} changes recorded for {versions} versions")


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
