"""Engines, sessions and migrations (locks are in :mod:`trialwatch.store.locks`).

SQLite is the embedded default (WAL journal, foreign keys on); PostgreSQL is the
production database, reached through psycopg 3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.errors import ConfigError, DatabaseError, first_line

log = logging.getLogger("trialwatch.store")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"TRIALWATCH_DATABASE_URL: not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"TRIALWATCH_DATABASE_URL: unsupported database {parsed.get_backend_name()!r}"
            " (use sqlite:/// or postgresql://)"
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision``, keeping every row.

    All or nothing: on SQLite the migrations run in one transaction with foreign
    keys off, and a foreign key left broken raises :class:`DatabaseError` before
    anything is committed (``migrations/env.py``).
    """
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {first_line(exc.orig)}") from exc


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``"base"``: no tables), as upgrade does."""
    from alembic import command

    try:
        command.downgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {first_line(exc.orig)}") from exc


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite database; None for PostgreSQL, memory and ``file:`` URIs."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.query.get("uri"):
        return None
    if not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def check_database_file(engine: Engine, *, create: bool = False) -> None:
    """Name a SQLite file that is missing, or whose folder is, before SQLite sees it.

    SQLite creates a missing file on connect: a command that only reads must not
    leave an empty database behind (``create`` is for ``init``). A missing folder
    would otherwise be "unable to open database file", naming nothing.
    """
    path = sqlite_file(engine)
    if path is None:
        return
    if not path.parent.is_dir():
        raise ConfigError(f"database {path}: folder {path.parent} does not exist")
    if not create and not path.exists():
        raise ConfigError(f"database {path} does not exist: run 'trialwatch init'")


def check_schema(engine: Engine) -> None:
    """Fail with a clear message when the database was never initialised."""
    check_database_file(engine)
    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {first_line(exc.orig)}") from exc
    if "watchlist" not in tables:
        raise ConfigError(
            f"database {engine.url.render_as_string(hide_password=True)} is not initialised:"
            " run 'trialwatch init'"
        )


def insert_or_skip(session: Session, model: type[Any], *keys: str) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` for the session's database.

    Without ``keys`` any unique constraint's conflict skips the row. With
    ``RETURNING`` it returns only the rows this statement inserted.
    """
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return build(model.__table__).on_conflict_do_nothing(index_elements=list(keys) or None)
