"""The admin acts on subscribers and opens messages of the outbox, safely."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

from tests.factories import T0, prepare_due
from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp
from tests.web.test_admin import _no_failure_delay, _signed_in, _token, admin, clients
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Subscriber

__all__ = ["_no_failure_delay", "admin", "clients"]  # fixtures of test_admin


def _subscriber(engine: Engine, email: str, status: str) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        row.status = status
        if status == "bounced":
            row.bounced_at = T0
        if status == "pending":
            row.confirmed_at = None
            row.confirm_sent_at = None
        return row.id


def _status(engine: Engine, subscriber_id: int) -> str | None:
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.get(Subscriber, subscriber_id)
        return row.status if row else None


def _messages_to(engine: Engine, email: str) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Digest).where(Digest.recipient == email)
            )
            or 0
        )


def _post(client: httpx.Client, path: str, csrf: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf})


def test_the_admin_reactivates_a_bounced_subscriber(
    admin: LiveApp, engine: Engine, fake: FakeCtgov, clients: list[httpx.Client]
) -> None:
    """A bounced subscriber has a Reactivate button; it needs the form's token."""
    prepare_due(engine, fake, ["ann@example.org"])
    ann = _subscriber(engine, "ann@example.org", "bounced")
    client = _signed_in(admin, clients)
    page = client.get("/admin/subscribers")
    assert f'action="/admin/subscribers/{ann}/reactivate"' in page.text
    assert _post(client, f"/admin/subscribers/{ann}/reactivate", "wrong").status_code == 403
    assert _status(engine, ann) == "bounced"
    answer = _post(client, f"/admin/subscribers/{ann}/reactivate", _token(page))
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/subscribers")
    assert _status(engine, ann) == "active"
    assert "ann@example.org is active again" in client.get(answer.headers["location"]).text


def test_the_admin_resends_a_confirmation(
    admin: LiveApp, engine: Engine, fake: FakeCtgov, clients: list[httpx.Client]
) -> None:
    """A pending subscriber gets a new confirmation mail in the outbox."""
    prepare_due(engine, fake, ["bob@example.org"])
    bob = _subscriber(engine, "bob@example.org", "pending")
    before = _messages_to(engine, "bob@example.org")
    client = _signed_in(admin, clients)
    page = client.get("/admin/subscribers")
    assert f'action="/admin/subscribers/{bob}/resend"' in page.text
    answer = _post(client, f"/admin/subscribers/{bob}/resend", _token(page))
    assert answer.status_code == 303
    assert _messages_to(engine, "bob@example.org") == before + 1
    assert "confirmation" in client.get(answer.headers["location"]).text
    again = _post(client, f"/admin/subscribers/{bob}/resend", _token(page))
    assert _messages_to(engine, "bob@example.org") == before + 1  # one a while
    assert "recently" in client.get(again.headers["location"]).text


def test_the_admin_removes_a_subscriber(
    admin: LiveApp, engine: Engine, fake: FakeCtgov, clients: list[httpx.Client]
) -> None:
    """Remove deletes the subscriber; an unknown one is a 404."""
    prepare_due(engine, fake, ["cat@example.org"])
    cat = _subscriber(engine, "cat@example.org", "active")
    client = _signed_in(admin, clients)
    token = _token(client.get("/admin/subscribers"))
    answer = _post(client, f"/admin/subscribers/{cat}/remove", token)
    assert answer.status_code == 303
    assert _status(engine, cat) is None
    assert "cat@example.org" not in client.get("/admin/subscribers").text
    assert _post(client, f"/admin/subscribers/{cat}/remove", token).status_code == 404


def _queued_message(engine: Engine) -> int:
    message = EmailMessage()
    message["From"] = "TrialWatch <trialwatch@example.org>"
    message["To"] = "dan@example.org"
    message["Subject"] = "Changes <b>bold</b>"
    message.set_content("Plain text with <script>alert('text')</script>\n")
    message.add_alternative(
        "<html><body><p>Hi</p><script>alert('html')</script>"
        '<img src="https://tracker.example/p.gif"></body></html>',
        subtype="html",
    )
    with session_scope(make_sessionmaker(engine)) as session:
        row = Digest(
            kind="digest",
            status="queued",
            message_id="<m2@trialwatch.example>",
            recipient="dan@example.org",
            subject="Changes <b>bold</b>",
            message=message.as_string(),
            covered={},
            attempts=0,
            next_attempt_at=T0,
            created_at=T0,
        )
        session.add(row)
        session.flush()
        return row.id


def test_the_admin_opens_a_message_escaped_and_never_live(
    admin: LiveApp, engine: Engine, clients: list[httpx.Client], tmp_path: Path
) -> None:
    """Its text is escaped; its HTML is shown as source and in a sandboxed frame."""
    digest_id = _queued_message(engine)
    client = _signed_in(admin, clients)
    assert admin.client.get(f"/admin/outbox/{digest_id}").status_code == 303  # anonymous
    outbox = client.get("/admin/outbox")
    assert f'href="/admin/outbox/{digest_id}"' in outbox.text
    page = client.get(f"/admin/outbox/{digest_id}")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "<b>bold</b>" not in page.text
    assert "Changes &lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "&lt;script&gt;alert(&#39;text&#39;)" in page.text
    assert "&lt;script&gt;alert(&#39;html&#39;)" in page.text  # the HTML part's source
    frame = re.search(r"<iframe[^>]*>", page.text)
    assert frame, page.text
    assert 'sandbox=""' in frame.group(0)
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/admin/outbox/999999").status_code == 404
