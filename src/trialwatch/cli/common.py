"""Shared plumbing of the command line: settings, database, output."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.config import Settings, load_settings
from trialwatch.logs import configure_logging
from trialwatch.store.db import check_schema, make_engine, make_sessionmaker, session_scope

# Off a terminal (cron, pipes) tables are not squeezed into 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False)


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

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session


_open_apps: list[App] = []


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
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


def progress_wanted(json_output: bool) -> bool:
    return not json_output and sys.stderr.isatty()


@contextmanager
def atomic_output(path: Path | None, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Write to ``path`` through a temporary file renamed at the end (or to stdout)."""
    if path is None:
        yield sys.stdout.buffer if binary else sys.stdout
        sys.stdout.flush()
        return
    directory = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(
            fd,
            "wb" if binary else "w",
            encoding=None if binary else "utf-8",
            newline="" if not binary else None,
        ) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
