"""The ``trialwatch`` command line: thin wrappers over jobs and the store."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from trialwatch.cli import (
    admin_cmd,
    change_cmds,
    digest_cmds,
    run_cmd,
    serve_cmd,
    status_cmd,
    study_cmds,
    subscriber_cmds,
    sync_cmds,
    watchlist_cmds,
)
from trialwatch.cli.common import close_apps, current_database, database_error
from trialwatch.errors import TrialwatchError

app = typer.Typer(
    name="trialwatch",
    help="Monitor ClinicalTrials.gov watchlists, keep every version, explain what changed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(watchlist_cmds.init)
app.add_typer(watchlist_cmds.watchlist_app, name="watchlist")
app.command("sync")(sync_cmds.sync)
app.command("history")(study_cmds.history)
app.command("export")(study_cmds.export)
app.command("changes")(change_cmds.changes)
app.command("diff")(change_cmds.diff)
app.command("backfill-changes")(change_cmds.backfill_changes)
app.add_typer(subscriber_cmds.subscriber_app, name="subscriber")
app.command("digest")(digest_cmds.digest)
app.command("outbox")(digest_cmds.outbox_cmd)
app.command("run")(run_cmd.run)
app.command("status")(status_cmd.status)
app.command("serve")(serve_cmd.serve)
app.add_typer(admin_cmd.admin_app, name="admin")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turning TrialWatch and database errors into one line."""
    try:
        app(args=argv, prog_name="trialwatch")
    except TrialwatchError as exc:
        _fail(exc)
    except SQLAlchemyError as exc:
        # The last line of defence: known cases are named nearer their source.
        _fail(database_error(exc, current_database()))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    finally:
        close_apps()


def _fail(exc: TrialwatchError) -> NoReturn:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    sys.stderr.write(f"error: {message}\n")
    sys.exit(exc.exit_code)
