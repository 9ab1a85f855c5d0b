"""The admin at /admin: a login, signed session cookies, CSRF tokens, rate-limited logins."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from tests.factories import prepare_due
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Subscriber, SyncRun
from trialwatch.watchlists import load_watchlists
from trialwatch.web import auth

PASSWORD = "correct horse battery staple"
HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_failure_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed logins are slowed down; the tests do not wait for it."""
    monkeypatch.setattr(auth, "FAILURE_DELAY", 0.0)


@pytest.fixture
def admin(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    """The web app with an admin password, syncing from the fake registry."""
    port = _free_port()
    settings = web_settings(
        database_url,
        tmp_path,
        port,
        TRIALWATCH_ADMIN_PASSWORD_HASH=HASH,
        TRIALWATCH_API_URL=fake.base_url,
    )
    yield from serve(settings, engine, port)


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    """Cookie-keeping clients a test opens; closed after it."""
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def _client(app: LiveApp, opened: list[httpx.Client], **kwargs: object) -> httpx.Client:
    client = httpx.Client(base_url=app.url, timeout=10, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
    opened.append(client)
    return client


def _token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def _login(
    app: LiveApp, opened: list[httpx.Client], password: str = PASSWORD
) -> tuple[httpx.Client, httpx.Response]:
    """A cookie-keeping client and the answer to its login with ``password``."""
    client = _client(app, opened)
    form = client.get("/admin/login")
    answer = client.post("/admin/login", data={"password": password, "csrf": _token(form)})
    return client, answer


def _signed_in(app: LiveApp, opened: list[httpx.Client]) -> httpx.Client:
    client, answer = _login(app, opened)
    assert answer.status_code == 303, answer.text
    return client


def _failed_digest(engine: Engine) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        row = Digest(
            kind="alert",
            status="failed",
            message_id="<m1@trialwatch.example>",
            recipient="ops@example.org",
            subject="Stale watchlist",
            message="Subject: x\n\nbody",
            covered={},
            attempts=3,
            next_attempt_at=T0,
            created_at=T0,
            last_error="550 mailbox unavailable",
        )
        session.add(row)
        session.flush()
        return row.id


def _status_of(engine: Engine, digest_id: int) -> str:
    with session_scope(make_sessionmaker(engine)) as session:
        return session.get_one(Digest, digest_id).status


@pytest.mark.parametrize(
    "path", ["/admin", "/admin/subscribers", "/admin/outbox", "/admin/preview?email=a@b.org"]
)
def test_admin_pages_send_anonymous_visitors_to_the_login(admin: LiveApp, path: str) -> None:
    """Without a session every admin page redirects to /admin/login."""
    answer = admin.client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login"


def test_admin_posts_without_a_session_change_nothing(admin: LiveApp, engine: Engine) -> None:
    """An anonymous POST is refused before anything happens."""
    digest_id = _failed_digest(engine)
    answer = admin.client.post("/admin/outbox/retry-failed", data={"csrf": "x"})
    assert answer.status_code == 303
    assert _status_of(engine, digest_id) == "failed"


def test_a_right_password_logs_in_with_a_safe_cookie(
    admin: LiveApp, clients: list[httpx.Client]
) -> None:
    """The session cookie is HttpOnly, SameSite=Lax, expiring; not Secure on http://127.0.0.1."""
    client, answer = _login(admin, clients)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin"
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    assert "max-age=43200" in cookie.lower()
    page = client.get("/admin")
    assert page.status_code == 200
    assert "<h1>Watchlists</h1>" in page.text
    logout = client.post("/admin/logout", data={"csrf": _token(page)})
    assert logout.status_code == 303
    assert client.get("/admin").status_code == 303


def test_a_forged_or_foreign_cookie_is_no_session(
    admin: LiveApp, clients: list[httpx.Client]
) -> None:
    """A cookie not signed with the secret key does not let anyone in."""
    client = _client(admin, clients, cookies={"trialwatch_admin": "forged.value.sig"})
    assert client.get("/admin").status_code == 303


@pytest.mark.usefixtures("still_clock")
def test_a_wrong_password_gets_one_message_and_the_sixth_try_is_rate_limited(
    admin: LiveApp, clients: list[httpx.Client]
) -> None:
    """Five wrong passwords, then even the right one is refused with 429 for a while."""
    for _ in range(5):
        _, answer = _login(admin, clients, "wrong")
        assert answer.status_code == 401
        assert "Wrong password." in answer.text
        assert (
            "set-cookie" not in answer.headers
            or "trialwatch_admin=" not in (answer.headers["set-cookie"])
        )
    _, answer = _login(admin, clients)
    assert answer.status_code == 429
    assert "Too many failed logins" in answer.text


def test_without_a_hash_every_login_is_refused(live: LiveApp, clients: list[httpx.Client]) -> None:
    """An admin without a configured password says so and lets nobody in."""
    client = _client(live, clients)
    form = client.get("/admin/login")
    assert "The admin is not configured" in form.text
    assert 'name="password"' not in form.text
    answer = client.post("/admin/login", data={"password": "anything", "csrf": "x"})
    assert answer.status_code == 403
    assert "The admin is not configured" in answer.text


def test_a_login_without_its_csrf_token_is_refused(
    admin: LiveApp, clients: list[httpx.Client]
) -> None:
    """The login form carries a token too."""
    client = _client(admin, clients)
    client.get("/admin/login")
    answer = client.post("/admin/login", data={"password": PASSWORD, "csrf": "nope"})
    assert answer.status_code == 403


def test_retry_failed_needs_the_csrf_token_and_then_queues_the_failed(
    admin: LiveApp, engine: Engine, clients: list[httpx.Client]
) -> None:
    """Without the form's token: 403 and nothing changes; with it, failed rows are queued."""
    digest_id = _failed_digest(engine)
    client = _signed_in(admin, clients)
    page = client.get("/admin/outbox")
    assert page.status_code == 200
    assert "550 mailbox unavailable" in page.text
    assert "ops@example.org" in page.text
    for data in ({}, {"csrf": "wrong"}, {"csrf": _token(page) + "x"}):
        assert client.post("/admin/outbox/retry-failed", data=data).status_code == 403
        assert _status_of(engine, digest_id) == "failed"
    other = _signed_in(admin, clients)
    foreign = {"csrf": _token(other.get("/admin/outbox"))}
    assert client.post("/admin/outbox/retry-failed", data=foreign).status_code == 403
    assert _status_of(engine, digest_id) == "failed"
    answer = client.post("/admin/outbox/retry-failed", data={"csrf": _token(page)})
    assert answer.status_code == 303
    assert _status_of(engine, digest_id) == "queued"
    assert "1 failed message queued again" in client.get(answer.headers["location"]).text


def test_the_preview_renders_a_subscribers_next_digest(
    admin: LiveApp, engine: Engine, fake: FakeCtgov, clients: list[httpx.Client]
) -> None:
    """The digest's HTML goes into an escaped iframe srcdoc, with the text version."""
    prepare_due(engine, fake, ["ann@example.org"])
    client = _signed_in(admin, clients)
    page = client.get("/admin/preview", params={"email": "ann@example.org"})
    assert page.status_code == 200, page.text
    match = re.search(r'<iframe[^>]* srcdoc="([^"]*)"', page.text)
    assert match, page.text
    assert "&lt;" in match.group(1)
    assert "<" not in match.group(1)
    assert "NCT05225675" in page.text
    nobody = client.get("/admin/preview", params={"email": "nobody@example.org"})
    assert nobody.status_code == 200
    assert "No digest is due" in nobody.text or "No subscriber" in nobody.text


def test_the_subscribers_page_lists_states(
    admin: LiveApp, engine: Engine, fake: FakeCtgov, clients: list[httpx.Client]
) -> None:
    """Subscribers with their state and watchlists, in a table."""
    prepare_due(engine, fake, ["ann@example.org", "bob@example.org"])
    client = _signed_in(admin, clients)
    page = client.get("/admin/subscribers")
    assert page.status_code == 200
    assert "ann@example.org" in page.text
    assert "bob@example.org" in page.text
    assert '<th scope="col">State</th>' in page.text
    assert client.get("/admin/subscribers", params={"page": "0"}).status_code == 200
    assert "ann@example.org" not in client.get("/admin/subscribers?page=9").text


def test_sync_now_starts_a_sync_in_the_background(
    admin: LiveApp, engine: Engine, fake: FakeCtgov, clients: list[httpx.Client]
) -> None:
    """The button (with its token) syncs the watchlist from the registry."""
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)
    client = _signed_in(admin, clients)
    page = client.get("/admin")
    assert "Never synced" in page.text
    assert client.post("/admin/watchlists/mmn/sync", data={}).status_code == 403
    assert not fake.requests
    answer = client.post("/admin/watchlists/mmn/sync", data={"csrf": _token(page)})
    assert answer.status_code == 303
    assert "Sync of mmn started" in client.get(answer.headers["location"]).text
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        with session_scope(make_sessionmaker(engine)) as session:
            status = session.scalars(select(SyncRun.status)).first()
        if status not in (None, "running"):
            break
        time.sleep(0.1)
    assert status == "succeeded"
    assert fake.requests
    unknown = client.post("/admin/watchlists/nope/sync", data={"csrf": _token(page)})
    assert unknown.status_code == 404


def test_retry_failed_on_the_outbox_page_reactivates_the_bounced_subscriber(
    admin: LiveApp, engine: Engine, clients: list[httpx.Client]
) -> None:
    """A bounced subscriber whose failed message the admin queues again is active again."""
    with session_scope(make_sessionmaker(engine)) as session:
        subscriber = Subscriber(
            email="bea@example.org", status="bounced", created_at=T0, bounced_at=T0
        )
        session.add(subscriber)
        session.flush()
        session.add(
            Digest(
                subscriber_id=subscriber.id,
                kind="digest",
                status="failed",
                message_id="<m2@trialwatch.example>",
                recipient="bea@example.org",
                subject="Digest",
                message="Subject: x\n\nbody",
                covered={},
                attempts=1,
                next_attempt_at=T0,
                created_at=T0,
                last_error="SMTP 550 for bea@example.org: no such user",
            )
        )
        subscriber_id = subscriber.id
    client = _signed_in(admin, clients)
    page = client.get("/admin/outbox")
    answer = client.post("/admin/outbox/retry-failed", data={"csrf": _token(page)})
    assert answer.status_code == 303
    with session_scope(make_sessionmaker(engine)) as session:
        again = session.get_one(Subscriber, subscriber_id)
        assert (again.status, again.bounced_at) == ("active", None)
