"""``trialwatch sync``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trialwatch.cli.common import JsonOpt, err, load_app, print_json, print_table, progress_wanted
from trialwatch.errors import TrialwatchError
from trialwatch.jobs.sync import SyncProgress, SyncResult
from trialwatch.store import watchlists as watchlist_store


def sync(
    slugs: Annotated[
        list[str] | None, typer.Argument(help="Watchlists to sync (default: all enabled).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Re-fetch everything; mark studies that no longer match as left."
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Fetch new and updated studies of watchlists from ClinicalTrials.gov."""
    app = load_app()
    with app.session() as session:
        if slugs:
            targets = [watchlist_store.get_watchlist(session, slug).slug for slug in slugs]
        else:
            targets = [w.slug for w in watchlist_store.list_watchlists(session) if w.enabled]
    results: list[SyncResult] = []
    failure: TrialwatchError | None = None
    with app.jobs.client() as client:
        for slug in targets:
            with _progress(progress_wanted(json_output), slug) as on_page:
                try:
                    results.append(app.jobs.sync(slug, full=full, client=client, on_page=on_page))
                except TrialwatchError as exc:
                    failure = exc
                    break
    if json_output:
        print_json([r.to_dict() for r in results])
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
    if failure is not None:
        raise failure
    if not targets:
        err.print("no enabled watchlists: add one to the config folder and run 'trialwatch init'")


@contextmanager
def _progress(enabled: bool, slug: str) -> Iterator[Callable[[SyncProgress], None] | None]:
    """A rich progress bar on a terminal; nothing otherwise (the summary is logged)."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn(f"sync {slug}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("studies"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("sync", total=None)

        def update(event: SyncProgress) -> None:
            bar.update(task, completed=event.seen, total=event.total)

        yield update
