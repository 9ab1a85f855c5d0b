"""Alembic environment: runs against the engine TrialWatch passes in (or the URL).

On SQLite, batch mode rebuilds a table by copying it, dropping the original and
renaming the copy. With ``PRAGMA foreign_keys=ON`` (which every TrialWatch engine
sets on connect) dropping the original cascades: rebuilding ``subscriber`` deleted
every subscription and digest. As Alembic's batch documentation advises, the
migrations run with foreign keys off; the pragma is a no-op inside a transaction, so
it is set before one begins. The whole run is then one explicit transaction (the
sqlite3 module would otherwise commit DDL as it goes), and ``PRAGMA
foreign_key_check`` must find nothing before it commits: any row left pointing
nowhere fails the upgrade in one line and nothing is committed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection, Engine, create_engine

from trialwatch.errors import DatabaseError
from trialwatch.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection, applied: list[str] | None = None) -> None:
    def _record(
        ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Any
    ) -> None:
        if applied is not None:
            applied.append(str(step))

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=_record,
    )


def _check_foreign_keys(connection: Connection) -> None:
    """Raise DatabaseError (one line) if any row refers to a row that is not there."""
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if not rows:
        return
    tables: dict[str, int] = {}
    for table, _rowid, parent, _fk in rows:
        key = f"{table} -> {parent}"
        tables[key] = tables.get(key, 0) + 1
    found = ", ".join(
        f"{key}: {count} row{'' if count == 1 else 's'}" for key, count in sorted(tables.items())
    )
    raise DatabaseError(
        f"migration stopped, nothing changed: foreign key violations after it ({found})"
    )


def _run_sqlite(engine: Engine) -> None:
    with engine.connect() as connection:
        # A fresh connection has no transaction open: the pragma takes effect.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        applied: list[str] = []
        try:
            # IMMEDIATE: a second `init` waits for this one, then finds nothing to do.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            _configure(connection, applied)
            context.run_migrations()
            if applied:
                _check_foreign_keys(connection)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    if engine.dialect.name == "sqlite":
        _run_sqlite(engine)
        return
    with engine.begin() as connection:
        _configure(connection)
        context.run_migrations()


run_migrations_online()
