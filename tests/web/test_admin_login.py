"""The admin login under attack, and sessions kept in the database.

Bursts, spoofed ``X-Forwarded-For`` and failures from many clients: at most five
passwords a client are checked in a window, forwarded addresses count only from a
trusted proxy, and the right password of a client that has not failed is never
refused. A logout holds in every web process and after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.test_admin import HASH, PASSWORD, _token
from trialwatch.store import ratelimits
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import RateLimit
from trialwatch.web import auth


@pytest.fixture(autouse=True)
def _no_failure_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed logins are slowed down; the tests do not wait for it."""
    monkeypatch.setattr(auth, "FAILURE_DELAY", 0.0)


@pytest.fixture(autouse=True)
def _mid_window(still_clock: datetime) -> None:
    """Every burst here counts in one window (see ``still_clock``)."""


def _admin(
    engine: Engine, database_url: str, tmp_path: Path, **extra: str
) -> Generator[LiveApp, None, None]:
    port = _free_port()
    settings = web_settings(
        database_url, tmp_path, port, TRIALWATCH_ADMIN_PASSWORD_HASH=HASH, **extra
    )
    yield from serve(settings, engine, port)


@pytest.fixture
def admin(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[LiveApp]:
    """The admin, with no trusted proxy."""
    yield from _admin(engine, database_url, tmp_path)


@pytest.fixture
def proxied(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[LiveApp]:
    """The admin behind a trusted proxy on loopback: X-Forwarded-For names the client."""
    yield from _admin(engine, database_url, tmp_path, TRIALWATCH_TRUSTED_PROXIES="127.0.0.1")


def _form(app: LiveApp) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=app.url, timeout=20, follow_redirects=False)
    return client, _token(client.get("/admin/login"))


def _attempt(app: LiveApp, password: str, forwarded: str | None = None) -> int:
    """One login with a fresh form; the answer's status."""
    client, token = _form(app)
    try:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        answer = client.post(
            "/admin/login", data={"password": password, "csrf": token}, headers=headers
        )
        return answer.status_code
    finally:
        client.close()


def _parallel(app: LiveApp, count: int, forwarded: list[str | None]) -> list[int]:
    """``count`` wrong passwords posted at once from one form; their statuses."""
    client, token = _form(app)
    statuses: list[int] = []
    barrier = threading.Barrier(count)

    def guess(n: int) -> None:
        headers = {"X-Forwarded-For": f} if (f := forwarded[n % len(forwarded)]) else {}
        barrier.wait()
        answer = client.post(
            "/admin/login", data={"password": f"wrong{n}", "csrf": token}, headers=headers
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    return statuses


def test_a_parallel_burst_gets_five_checks_at_most(admin: LiveApp) -> None:
    """12 wrong passwords at once: five are checked (401), the rest refused (429)."""
    statuses = _parallel(admin, 12, [None])
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) >= 7, statuses


def test_a_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(admin: LiveApp) -> None:
    """30 guesses each naming another X-Forwarded-For are one client: five are checked."""
    statuses = [_attempt(admin, "wrong", f"10.1.{n}.1") for n in range(30)]
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 25


def test_a_forwarded_for_counts_only_from_a_trusted_proxy(proxied: LiveApp) -> None:
    """Behind the proxy each client has its own five; the proxy's own entry is ignored."""
    for _ in range(5):
        assert _attempt(proxied, "wrong", "203.0.113.7") == 401
    assert _attempt(proxied, "wrong", "203.0.113.7") == 429
    # a client cannot choose a new address by prepending one: the proxy appends the real one
    assert _attempt(proxied, "wrong", "198.51.100.1, 203.0.113.7") == 429
    assert _attempt(proxied, PASSWORD, "203.0.113.8") == 303


def test_failures_of_strangers_never_lock_out_the_right_password(proxied: LiveApp) -> None:
    """After 20 failures from four clients a fresh client still logs in; failed ones wait."""
    for n in range(4):
        for _ in range(5):
            assert _attempt(proxied, "wrong", f"192.0.2.{n}") == 401
    assert _attempt(proxied, PASSWORD, "192.0.2.200") == 303
    assert _attempt(proxied, PASSWORD, "192.0.2.0") == 429  # failed five times
    assert _attempt(proxied, "wrong", "192.0.2.201") == 401  # a first failure is checked
    assert _attempt(proxied, PASSWORD, "192.0.2.201") == 429  # many failed: one chance each


def test_a_right_password_clears_the_clients_failures(admin: LiveApp) -> None:
    """Four typos and the right password: the next typos are counted afresh."""
    for _ in range(4):
        assert _attempt(admin, "wrong") == 401
    assert _attempt(admin, PASSWORD) == 303
    for _ in range(5):
        assert _attempt(admin, "wrong") == 401


def test_failed_clients_are_slowed_down() -> None:
    """Each failure of a client makes its next wrong answer slower, up to a ceiling."""
    delays = [auth.failure_delay(n, base=0.5) for n in range(1, 8)]
    assert delays[0] > 0
    assert delays == sorted(delays)
    assert max(delays) <= 5.0


def test_a_logout_holds_in_every_process_and_after_a_restart(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Two web processes over one database: a logout at one ends the session at both."""
    one = _admin(engine, database_url, tmp_path / "a")
    two = _admin(engine, database_url, tmp_path / "b")
    first, second = next(one), next(two)
    try:
        client, token = _form(first)
        answer = client.post("/admin/login", data={"password": PASSWORD, "csrf": token})
        assert answer.status_code == 303
        cookie = client.cookies["trialwatch_admin"]
        with httpx.Client(base_url=second.url, cookies={"trialwatch_admin": cookie}) as other:
            assert other.get("/admin").status_code == 200  # the same session at the other
            page = client.get("/admin")
            assert client.post("/admin/logout", data={"csrf": _token(page)}).status_code == 303
            assert other.get("/admin", follow_redirects=False).status_code == 303
        client.close()
    finally:
        for app in (one, two):
            app.close()
    restarted = _admin(engine, database_url, tmp_path / "c")
    again = next(restarted)
    try:
        with httpx.Client(base_url=again.url, cookies={"trialwatch_admin": cookie}) as late:
            assert late.get("/admin", follow_redirects=False).status_code == 303
    finally:
        restarted.close()


def test_login_windows_are_pruned_by_their_prefix(engine: Engine) -> None:
    """Old login windows go; other keys' windows (a subscription limit) stay."""
    old = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    with session_scope(make_sessionmaker(engine)) as session:
        ratelimits.hit(session, "login:ip:192.0.2.1", old, auth.WINDOW)
        ratelimits.hit(session, "subscribe:ip:192.0.2.1", old, auth.WINDOW)
        ratelimits.prune(session, old + timedelta(hours=1), prefix="login:")
        keys = set(session.scalars(select(RateLimit.key)))
    assert keys == {"subscribe:ip:192.0.2.1"}
