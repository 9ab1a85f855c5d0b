"""Cross-process locks: named exclusive locks, and the change feed's writer lock.

PostgreSQL uses advisory locks (released by the server if the process dies);
SQLite uses an OS file lock beside the database file, and needs no feed lock
because its writers are serialised.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trialwatch.errors import LockHeld, LockLost

log = logging.getLogger("trialwatch.store")

_LOCK_POLL_SECONDS = 0.1


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    high = zlib.crc32(b"trialwatch")
    low = zlib.crc32(name.encode())
    key = (high << 32) | low
    return key - (1 << 64) if key >= (1 << 63) else key


_CHANGE_FEED_KEY = _lock_key("change feed")


def join_change_writers(session: Session) -> None:
    """Mark this transaction as one that writes change rows (PostgreSQL only).

    Writers hold a shared transaction-level advisory lock until they commit; the
    digest builder briefly takes it exclusively (:func:`newest_committed_change_id`),
    so the change id it reads as its horizon has no uncommitted rows below it. On
    SQLite writers are serialised and ids are committed in order anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _CHANGE_FEED_KEY})


def newest_committed_change_id(session: Session) -> int:
    """The highest change id such that every lower id is committed or rolled back."""
    query = text("SELECT COALESCE(MAX(id), 0) FROM change")
    if session.get_bind().dialect.name != "postgresql":
        return int(session.execute(query).scalar_one())
    session.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _CHANGE_FEED_KEY})
    try:
        return int(session.execute(query).scalar_one())
    finally:
        session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _CHANGE_FEED_KEY})


class HeldLock:
    """A lock :func:`exclusive_lock` holds: :meth:`check` says whether it still does.

    A PostgreSQL advisory lock lives as long as its connection: if the server ends
    that connection (``pg_terminate_backend``, a restart, a network cut), the lock is
    gone and another process may take it. A job holding a lock calls :meth:`check`
    between its pages and steps and stops when it raises :class:`LockLost`.
    """

    def __init__(self, name: str, probe: Callable[[], bool] | None = None) -> None:
        self.name = name
        self._probe = probe
        self.lost = False

    def alive(self) -> bool:
        """True while the lock is held (one round trip on PostgreSQL)."""
        if self.lost:
            return False
        if self._probe is not None and not self._probe():
            self.lost = True
        return not self.lost

    def check(self) -> None:
        """Raise :class:`LockLost` when the lock's connection is gone."""
        if not self.alive():
            raise LockLost(f"lock lost: {self.name} (its database connection ended)")


@contextmanager
def exclusive_lock(engine: Engine, name: str, *, wait: float = 0.0) -> Iterator[HeldLock]:
    """Hold a lock named ``name`` across threads and processes, or raise :class:`LockHeld`.

    ``wait`` is how many seconds to wait for a holder to finish (0: fail at once).
    PostgreSQL: a session-level advisory lock on its own connection (released by the
    server if the process dies, or if the connection ends: see :class:`HeldLock`).
    SQLite: an OS file lock beside the database file (each acquisition opens the file
    anew, so two threads of one process exclude each other too).
    """
    deadline = time.monotonic() + wait
    busy = f"{name} is already running in another process"
    if engine.dialect.name == "postgresql":
        key = _lock_key(name)
        with engine.connect() as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.commit()
                if time.monotonic() >= deadline:
                    raise LockHeld(busy)
                time.sleep(_LOCK_POLL_SECONDS)
            conn.commit()
            held = HeldLock(name, lambda: _still_held(conn, key))
            try:
                yield held
            finally:
                if held.lost:
                    conn.invalidate()
                else:
                    try:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
                    except SQLAlchemyError:  # the connection is gone: so is the lock
                        log.warning("could not release lock %s", name)
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield HeldLock(name)
        return
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    lock = FileLock(
        f"{database}.{safe}.lock",
        timeout=wait,
        poll_interval=_LOCK_POLL_SECONDS,
        thread_local=False,
    )
    try:
        lock.acquire()
    except Timeout as exc:
        raise LockHeld(busy) from exc
    try:
        yield HeldLock(name)  # an open file's lock lasts as long as the process
    finally:
        lock.release()


def _still_held(conn: Connection, key: int) -> bool:
    """Whether this connection still holds advisory lock ``key`` (False if it is gone)."""
    try:
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objsubid = 1"
                " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid)"
            ),
            {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
        ).scalar()
        conn.commit()
    except SQLAlchemyError:
        return False
    return bool(held)
