"""``trialwatch history`` and ``trialwatch export``."""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.text import Text

from trialwatch.cli.common import atomic_output, bold, load_app, out, print_json, print_table
from trialwatch.registries.lookup import DEFAULT_REGISTRY, summarise
from trialwatch.services.exports import (
    STUDY_COLUMNS,
    choose_columns,
    csv_cells,
    pick,
    study_row,
)
from trialwatch.store import changes as change_store
from trialwatch.store import exports as export_store
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.watchlists import normalise_nct_id


class ExportFormat(enum.StrEnum):
    csv = "csv"
    json = "json"


def history(
    nct_id: Annotated[str, typer.Argument(help="NCT ID of a stored study, e.g. NCT05225675.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON.")
    ] = False,
) -> None:
    """Show every stored version of a study with its date and content hash."""
    app = load_app()
    with app.session() as session:
        study = study_store.get_study(session, normalise_nct_id(nct_id))
        by_version: dict[int | None, list[dict[str, Any]]] = {}
        for change in change_store.list_changes(
            session, study_id=study.id, significance="all", limit=None
        ):
            by_version.setdefault(change.version, []).append(
                {
                    "kind": change.kind,
                    "significance": change.significance,
                    "summary": change.summary,
                }
            )
        versions: list[dict[str, Any]] = [
            {
                "version": v.version,
                "fetched_at": v.fetched_at.isoformat(),
                "last_update_posted": v.last_update_posted,
                "content_hash": v.content_hash,
                "sync_run_id": v.sync_run_id,
                "changes": list(reversed(by_version.get(v.version, []))),
            }
            for v in study_store.versions_of(session, study.id)
        ]
        data = {
            "nct_id": study.nct_id,
            "title": study.brief_title,
            "acronym": study.acronym,
            "status": study.overall_status,
            "versions": versions,
        }
    if json_output:
        print_json(data)
        return
    label = f"{study.acronym} " if study.acronym else ""
    out.print(Text.assemble(bold(f"{label}{study.nct_id}"), " ", study.brief_title or ""))
    print_table(
        None,
        ["version", "fetched at", "last update posted", "hash", "changes"],
        [
            [
                v["version"],
                v["fetched_at"][:16].replace("T", " "),
                v["last_update_posted"],
                v["content_hash"][:12],
                "\n".join(c["summary"] for c in v["changes"] if c["significance"] != "noise")
                or "(bookkeeping only)",
            ]
            for v in versions
        ],
    )


def export(
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="csv or json.")
    ] = ExportFormat.csv,
    watchlist: Annotated[
        str | None, typer.Option("--watchlist", "-w", help="Only this watchlist's studies.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to FILE (atomically) instead of stdout."),
    ] = None,
    include_left: Annotated[
        bool, typer.Option("--include-left", help="Also studies that left the watchlist.")
    ] = False,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="Only these columns, comma-separated, in this order"
            f" (default: all): {', '.join(STUDY_COLUMNS)}.",
        ),
    ] = None,
) -> None:
    """Export the current version of every study, one row per study, with its provenance.

    Provenance: the stored version number, its content hash, when it was fetched and
    the registry's data timestamp of the sync that stored it. In CSV, a list
    (phases, conditions, countries, watchlists, ...) is a JSON array
    (["Leiden; site 2","Paris"], [] when empty) and a yes/no is true or false; in
    JSON, lists stay lists.
    """
    columns = choose_columns(fields, STUDY_COLUMNS)
    app = load_app()
    with app.session() as session:
        watchlist_id = watchlist_store.get_watchlist(session, watchlist).id if watchlist else None
        studies = export_store.iter_studies(session, watchlist_id, include_left=include_left)
        rows = (study_row(summarise(DEFAULT_REGISTRY, s.record), s) for s in studies)
        write_rows(rows, columns, fmt, output)


def write_rows(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    fmt: ExportFormat,
    output: Path | None,
) -> int:
    """Write ``columns`` of each row as CSV or a JSON array, streamed; return how many."""
    count = 0
    if fmt is ExportFormat.csv:
        with atomic_output(output) as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow(csv_cells(pick(row, columns)))
                count += 1
        return count
    with atomic_output(output, binary=True) as handle:
        handle.write(b"[")
        for count, row in enumerate(rows, 1):
            handle.write((b",\n" if count > 1 else b"\n") + orjson.dumps(pick(row, columns)))
        handle.write(b"\n]\n" if count else b"]\n")
    return count
