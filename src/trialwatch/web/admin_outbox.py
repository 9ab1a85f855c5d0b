"""The admin's outbox: counts, recent and failed messages, one message, digest previews.

A message is shown as data, never as a live page: its headers and text part escaped,
its HTML part as escaped source and inside an ``<iframe sandbox="">`` whose
``srcdoc`` is escaped too. The frame inherits the site's Content-Security-Policy
(``default-src 'none'``), so it runs no script and loads nothing, not even an image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import EmailMessage

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from trialwatch.errors import ConfigError, NotFoundError
from trialwatch.store import outbox as outbox_store
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.models import Digest
from trialwatch.web.admin import render
from trialwatch.web.app import context_of
from trialwatch.web.auth import Admin, AdminForm

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

SHOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe")


@dataclass(frozen=True)
class MessageView:
    """What the admin sees of a stored message: some headers, its text and HTML parts."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""


def message_view(raw: str) -> MessageView:
    """The shown headers and the first text and HTML parts of an RFC 5322 message."""
    parsed = message_from_string(raw, policy=policy.default)
    headers = [(name, str(parsed[name])) for name in SHOWN_HEADERS if parsed[name] is not None]
    parts: dict[str, str] = {}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in parts:
            try:
                content = part.get_content() if isinstance(part, EmailMessage) else ""
            except (LookupError, ValueError):  # an unknown charset or a broken encoding
                content = str(part.get_payload())
            parts[kind] = str(content)
    return MessageView(headers, parts.get("text/plain", ""), parts.get("text/html", ""))


@router.get("/admin/outbox/{digest_id}")
def message(request: Request, admin: Admin, digest_id: int) -> Response:
    ctx = context_of(request)
    with ctx.session() as session:
        row = session.get(Digest, digest_id)
        if row is None:
            raise HTTPException(404, "No such message")
        session.expunge(row)
    view = message_view(row.message)
    return render(request, admin, "message.html", row=row, view=view)


# --- the outbox -----------------------------------------------------------------------------


@router.get("/admin/outbox")
def outbox(request: Request, admin: Admin, retried: int | None = None) -> Response:
    ctx = context_of(request)
    with ctx.session() as session:
        counts = outbox_store.status_counts(session)
        failed = outbox_store.recent(session, 20, status="failed")
        recent = outbox_store.recent(session, 20)
        session.expunge_all()
    notice = ""
    if retried is not None:
        plural = "" if retried == 1 else "s"
        notice = f"{retried} failed message{plural} queued again."
    return render(
        request,
        admin,
        "outbox.html",
        counts=counts,
        failed=failed,
        recent=recent,
        notice=notice,
    )


@router.post("/admin/outbox/retry-failed")
def retry_failed(request: Request, admin: AdminForm) -> Response:
    ctx = context_of(request)
    with ctx.session() as session:
        done = outbox_store.requeue_failed(session, ctx.jobs.clock())
    log.info(
        "admin queued failed messages again requeued=%d reactivated=%d",
        done.requeued,
        done.reactivated,
    )
    return RedirectResponse(f"/admin/outbox?retried={done.requeued}", status_code=303)


# --- digest preview ---------------------------------------------------------------------------


@router.get("/admin/preview")
def preview(request: Request, admin: Admin, email: str = "") -> Response:
    ctx = context_of(request)
    rendered = None
    message = ""
    email = email.strip()
    if email:
        try:
            with ctx.session() as session:
                subscriber_store.get_subscriber(session, email)
            _, rendered = ctx.jobs.preview(email)
        except (NotFoundError, ConfigError):
            message = f"No subscriber {email}."
        else:
            if rendered is None:
                message = f"No digest is due for {email}: nothing new in their watchlists."
    return render(request, admin, "preview.html", email=email, rendered=rendered, message=message)
