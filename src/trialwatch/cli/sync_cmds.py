"""``trialwatch sync``: the watchlists as one batch; one failure does not stop the others."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

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
from trialwatch.errors import NotFoundError, TrialwatchError, first_line
from trialwatch.jobs.sync import SyncProgress, SyncResult
from trialwatch.store import runs as run_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.models import SyncRun


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
    with app.session() as session:
        if slugs:
            targets = [watchlist_store.get_watchlist(session, slug).slug for slug in slugs]
        else:
            targets = [w.slug for w in watchlist_store.list_watchlists(session) if w.enabled]
    results: list[SyncResult] = []
    entries: list[dict[str, Any]] = []
    failures: list[tuple[str, TrialwatchError]] = []
    newest = {slug: _newest_run_id(app, slug) for slug in targets}
    # One batch: /version is asked once, and a study several watchlists share is fetched once.
    with app.jobs.client() as client, _progress(progress_wanted(json_output)) as on_page:
        outcomes = app.jobs.sync_many(targets, full=full, client=client, on_page=on_page)
    for slug, outcome in zip(targets, outcomes, strict=True):
        if isinstance(outcome, TrialwatchError):
            failures.append((slug, outcome))
            entries.append(_failed_entry(app, slug, outcome, newest[slug]))
        else:
            results.append(outcome)
            entries.append(outcome.to_dict())
    if json_output:
        print_json(entries)
    elif results:
        print_table(
            "sync summary",
            [
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
            ],
            [
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
            ],
        )
        for r in results:
            if r.skipped:
                err.print(
                    f"{r.slug}: skipped {r.skipped} malformed record(s); first: {r.skip_reason}",
                    soft_wrap=True,
                )
    if failures:
        _fail(failures, len(targets))
    if not targets:
        err.print("no enabled watchlists: add one to the config folder and run 'trialwatch init'")


def _last_run(app: App, slug: str) -> SyncRun | None:
    """The newest run of a watchlist (None when it has none, or is gone)."""
    with app.session() as session:
        try:
            watchlist = watchlist_store.get_watchlist(session, slug)
        except NotFoundError:
            return None
        runs = run_store.last_runs(session, watchlist.id, 1)
        return runs[0] if runs else None


def _newest_run_id(app: App, slug: str) -> int | None:
    run = _last_run(app, slug)
    return run.id if run is not None else None


def _failed_entry(
    app: App, slug: str, exc: TrialwatchError, newest_before: int | None
) -> dict[str, Any]:
    """The --json entry of a failed watchlist: its run's counts when a run was opened."""
    entry = SyncResult(slug=slug, run_id=0, mode="", status="failed").to_dict()
    entry.update(run_id=None, mode=None, error=first_line(exc))
    run = _last_run(app, slug)
    if run is not None and (newest_before is None or run.id > newest_before):
        counts = dict(run_store.run_counts(run))
        entry.update({k: v for k, v in counts.items() if k in entry and k != "error"})
        entry["cursor"] = counts["cursor_before"]
    return entry


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
