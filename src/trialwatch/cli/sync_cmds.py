"""``trialwatch sync``: the watchlists as one batch; one failure does not stop the others."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from trialwatch.cli.common import (
    App,
    JsonOpt,
    err,
    load_app,
    print_json,
    print_table,
    progress_wanted,
)
from trialwatch.errors import TrialwatchError, first_line
from trialwatch.jobs.sync import SyncProgress, SyncResult
from trialwatch.store import watchlists as watchlist_store


def sync(
    slugs: Annotated[
        list[str] | None, typer.Argument(help="Watchlists to sync (default: all enabled).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="List every match again, fetch what moved; mark studies that no longer match "
            "as left.",
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Fetch new and updated studies of watchlists from ClinicalTrials.gov.

    The watchlists are synced as one batch (each listed, then what moved fetched once
    for all); one that fails does not stop the others. The
    command then exits with the failure's code (1 for API and database errors) and one
    line naming the failed watchlists.
    """
    app = load_app()
    targets = _targets(app, slugs)
    # One batch: the data version is asked once, and a study several watchlists share
    # is fetched once.
    with app.jobs.registry() as registry, _progress(progress_wanted(json_output)) as on_page:
        results = app.jobs.sync_many(targets, full=full, registry=registry, on_page=on_page)
    if json_output:
        print_json([r.to_dict() for r in results])
    else:
        _print_summary([r for r in results if r.failure is None])
    failures = [(r.slug, r.failure) for r in results if r.failure is not None]
    if failures:
        _fail(failures, len(targets))
    if not targets:
        err.print("no enabled watchlists: add one to the config folder and run 'trialwatch init'")


def _targets(app: App, slugs: list[str] | None) -> list[str]:
    """The watchlists named (each must exist), else every enabled one."""
    with app.session() as session:
        if slugs:
            return [watchlist_store.get_watchlist(session, slug).slug for slug in slugs]
        return [w.slug for w in watchlist_store.list_watchlists(session) if w.enabled]


_COLUMNS = [
    "watchlist",
    "mode",
    "pages",
    "requests",
    "seen",
    "new",
    "updated",
    "unchanged",
    "left",
    "skipped",
    "seconds",
]


def _print_summary(results: list[SyncResult]) -> None:
    """The table of the watchlists that synced, and a line for each that skipped records."""
    if not results:
        return
    rows = [
        [
            r.slug,
            r.mode,
            r.pages,
            r.requests,
            r.seen,
            r.new,
            r.updated,
            r.unchanged,
            r.left,
            r.skipped,
            f"{r.seconds:.1f}",
        ]
        for r in results
    ]
    print_table("sync summary", _COLUMNS, rows)
    for r in results:
        if r.skipped:
            err.print(
                f"{r.slug}: skipped {r.skipped} malformed record(s); first: {r.skip_reason}",
                soft_wrap=True,
            )


def _fail(failures: list[tuple[str, TrialwatchError]], total: int) -> None:
    """One line naming each failed watchlist; the exit code they share, else 1."""
    if len(failures) == 1:
        slug, exc = failures[0]
        message = first_line(exc)
        if f"'{slug}'" not in message:
            message = f"{message} (watchlist '{slug}')"
    else:
        named = "; ".join(f"{slug}: {first_line(exc)}" for slug, exc in failures)
        message = f"{len(failures)} of {total} watchlists failed: {named}"
    codes = {exc.exit_code for _, exc in failures}
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(codes.pop() if len(codes) == 1 else 1)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[SyncProgress], None] | None]:
    """A rich progress bar per watchlist on a terminal; nothing otherwise (the summary is
    logged)."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("sync {task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("studies"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(event: SyncProgress) -> None:
            if event.slug not in tasks:
                tasks[event.slug] = bar.add_task(event.slug, total=None)
            bar.update(tasks[event.slug], completed=event.seen, total=event.total)

        yield update
