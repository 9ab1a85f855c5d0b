"""``trialwatch run``: the long-running scheduler (or one cycle)."""

from __future__ import annotations

from typing import Annotated

import typer

from trialwatch.cli.common import JsonOpt, err, load_app, out, print_json
from trialwatch.jobs.cycle import run_cycle
from trialwatch.scheduler import Service


def run(
    once: Annotated[
        bool,
        typer.Option("--once", help="Run one cycle now (every enabled watchlist), then exit."),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Follow the registry: sync what it published, send digests, alert admins; one leader."""
    app = load_app(default_log_level="INFO")
    app.sessions  # noqa: B018 - checks that the database is initialised
    if once:
        result = run_cycle(app.jobs, force=True)
        if json_output:
            print_json(result.to_dict())
        else:
            out.print(
                f"synced {len(result.synced)} watchlist(s), queued {result.queued} digest(s),"
                f" sent {result.sent}"
            )
        for slug, error in result.failed.items():
            err.print(f"error: sync of watchlist '{slug}' failed: {error}", soft_wrap=True)
        for error in result.errors:
            err.print(f"error: {error}", soft_wrap=True)
        if not result.ok:
            raise typer.Exit(1)
        return
    raise typer.Exit(Service(app.settings, app.engine).run())
