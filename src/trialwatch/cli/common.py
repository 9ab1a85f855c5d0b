"""Shared plumbing of the command line: settings, database, output."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.config import Settings, load_settings
from trialwatch.errors import ConfigError, DatabaseError, TrialwatchError, first_line
from trialwatch.jobs.runner import Jobs
from trialwatch.logs import configure_logging
from trialwatch.store.db import (
    check_schema,
    make_engine,
    make_sessionmaker,
    session_scope,
)

# Off a terminal (cron, pipes) tables are not squeezed into 80 columns. Markup and
# emoji codes are off: what we print comes from the registry, the database or the
# user ("[patients with]", ":x:"), and styles are given as Text objects instead.
out = Console(
    highlight=False,
    markup=False,
    emoji=False,
    soft_wrap=True,
    width=None if sys.stdout.isatty() else 200,
)
err = Console(stderr=True, highlight=False, markup=False, emoji=False)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
"""The ``--json`` option every reporting command takes."""


@dataclass
class App:
    """Lazily built settings and database for one command."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        check_schema(self.engine)
        return make_sessionmaker(self.engine)

    @cached_property
    def jobs(self) -> Jobs:
        """The jobs, configured from these settings against this database."""
        return Jobs(self.settings, self.engine)

    def now(self) -> datetime:
        """The time now, from the jobs' clock: the command line reads no other."""
        return self.jobs.clock()

    @property
    def database(self) -> str:
        """The database as it may be shown: its URL without the password."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; a database error becomes one line naming the database."""
        try:
            with session_scope(self.sessions) as session:
                yield session
        except DBAPIError as exc:
            raise database_error(exc, self.database) from exc


_open_apps: list[App] = []
_READ_ONLY_SQLSTATE = "25006"  # PostgreSQL: read_only_sql_transaction


def database_error(exc: SQLAlchemyError, database: str | None) -> DatabaseError:
    """One line for a database error: read-only databases are named as such."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    detail = first_line(orig if orig is not None else exc)
    read_only = (
        getattr(orig, "sqlstate", None) == _READ_ONLY_SQLSTATE
        or "readonly database" in detail
        or "read-only" in detail
    )
    where = f"database {database}" if database else "the database"
    if read_only:
        return DatabaseError(f"{where} is read-only: {detail}")
    return DatabaseError(f"database: {detail}" + (f" ({database})" if database else ""))


def current_database() -> str | None:
    """The database of the command that is running, if it opened one."""
    opened = [app for app in _open_apps if "engine" in app.__dict__]
    return opened[-1].database if opened else None


def load_app(default_log_level: str = "WARNING") -> App:
    settings = load_settings()
    configure_logging(settings.log_level or default_log_level, settings.log_format)
    app = App(settings)
    _open_apps.append(app)
    return app


def close_apps() -> None:
    """Dispose the engines that commands opened (called once the command is over)."""
    while _open_apps:
        app = _open_apps.pop()
        if "engine" in app.__dict__:
            app.engine.dispose()


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table of plain text: every cell is a Text, so brackets are never read as markup."""
    table = Table(title=None if title is None else Text(title), show_lines=False)
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    out.print(table)


def bold(value: str) -> Text:
    """``value`` in bold, taken literally."""
    return Text(value, style="bold")


def progress_wanted(json_output: bool) -> bool:
    return not json_output and sys.stderr.isatty()


def _umask() -> int:
    """The process's umask (read by setting it, so set back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: Path | None, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Write to ``path`` through a temporary file renamed at the end (or to stdout).

    A path in a missing folder, or naming a folder, is refused before anything is
    written (exit 2); a failed write leaves no file behind (exit 1).
    """
    if path is None:
        yield sys.stdout.buffer if binary else sys.stdout
        sys.stdout.flush()
        return
    directory = path.resolve().parent
    if not directory.is_dir():
        raise ConfigError(f"{path}: cannot write: folder {directory} does not exist")
    if path.is_dir():
        raise ConfigError(f"{path}: cannot write: it is a folder, not a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(
            fd,
            "wb" if binary else "w",
            encoding=None if binary else "utf-8",
            newline="" if not binary else None,
        ) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the export from others
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise TrialwatchError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
