"""The admin at ``/admin``: the login, watchlists and their syncs, subscribers.

The outbox, its messages and digest previews are :mod:`trialwatch.web.admin_outbox`.

One account, its password checked against ``TRIALWATCH_ADMIN_PASSWORD_HASH`` (argon2).
Sign-in and sign-out (their pages), sessions, the login limiter and the CSRF check are
:mod:`trialwatch.web.auth`; every admin form posts the session's token back and is
refused with 403 without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from trialwatch.errors import LockHeld, NotFoundError
from trialwatch.services import subscriptions
from trialwatch.store import runs as run_store
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.models import Subscriber
from trialwatch.web import auth
from trialwatch.web.app import WebContext, context_of
from trialwatch.web.auth import Admin, AdminForm, AdminSession

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)  # /admin/login and /admin/logout

PAGE_SIZE = 50


@dataclass
class AdminState:
    """What the admin keeps in memory per app: the syncs it started and their notes."""

    syncing: set[str] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)  # slug -> what the last sync met
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE_LOCK = threading.Lock()


def _state(request: Request) -> AdminState:
    with _STATE_LOCK:
        state = getattr(request.app.state, "admin", None)
        if state is None:
            state = AdminState()
            request.app.state.admin = state
        return state


def render(
    request: Request, admin: AdminSession, name: str, status_code: int = 200, **context: Any
) -> Response:
    ctx = context_of(request)
    context.setdefault("notice", "")
    page = ctx.page(request, f"admin/{name}", status_code=status_code, csrf=admin.csrf, **context)
    return auth.private(page)


# --- watchlists and sync now --------------------------------------------------------------------

_NOTICES = {
    "sync-started": "Sync of {slug} started. Reload this page to see how it went.",
    "sync-running": "A sync of {slug} is already running; wait for it to finish.",
}


@router.get("/admin")
def watchlists(request: Request, admin: Admin, notice: str = "", slug: str = "") -> Response:
    ctx = context_of(request)
    state = _state(request)
    with ctx.session() as session:
        latest = run_store.latest_runs(session)
        rows = [
            {
                "slug": wl.slug,
                "name": wl.name,
                "enabled": wl.enabled,
                "last_synced_at": wl.last_synced_at,
                "run": latest.get(wl.id),
            }
            for wl in watchlist_store.list_watchlists(session)
        ]
        session.expunge_all()
    with state.lock:
        syncing = set(state.syncing)
        notes = dict(state.notes)
    text = _NOTICES[notice].format(slug=slug) if notice in _NOTICES else ""
    return render(
        request,
        admin,
        "watchlists.html",
        rows=rows,
        syncing=syncing,
        notes=notes,
        notice=text,
    )


def _sync_in_background(ctx: WebContext, state: AdminState, slug: str) -> None:
    note = ""
    try:
        ctx.jobs.sync(slug)
        log.info("admin sync of %s finished", slug)
    except LockHeld:
        note = "Another process was syncing this watchlist, so the requested sync did not run."
    except Exception as exc:  # the run row records the error; the server stays up
        log.exception("admin sync of %s failed", slug)
        note = f"The requested sync failed: {exc}"
    finally:
        with state.lock:
            state.syncing.discard(slug)
            if note:
                state.notes[slug] = note


@router.post("/admin/watchlists/{slug}/sync")
def sync_now(
    request: Request,
    slug: str,
    background: BackgroundTasks,
    admin: AdminForm,
) -> Response:
    ctx = context_of(request)
    with ctx.session() as session:
        try:
            slug = watchlist_store.get_watchlist(session, slug).slug
        except NotFoundError:
            raise HTTPException(404, "No such watchlist") from None
    state = _state(request)
    with state.lock:
        running = slug in state.syncing
        if not running:
            state.syncing.add(slug)
            state.notes.pop(slug, None)
    if not running:
        background.add_task(_sync_in_background, ctx, state, slug)
    query = urlencode({"notice": "sync-running" if running else "sync-started", "slug": slug})
    return RedirectResponse(f"/admin?{query}", status_code=303)


# --- subscribers ----------------------------------------------------------------------------


_SUBSCRIBER_NOTICES = {
    "reactivated": "{email} is active again.",
    "not-bounced": "{email} is not bounced: nothing changed.",
    "resent": "A new confirmation email to {email} is queued.",
    "resend-later": "A confirmation email went to {email} recently: try again later.",
    "not-pending": "{email} is not waiting for a confirmation: nothing sent.",
    "removed": "{email} is deleted, with their subscriptions and messages.",
}


@router.get("/admin/subscribers")
def subscribers(
    request: Request, admin: Admin, page: int = 1, notice: str = "", email: str = ""
) -> Response:
    ctx = context_of(request)
    page = max(1, page)
    with ctx.session() as session:
        rows, total = subscriber_store.subscriber_page(
            session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        states = subscriber_store.state_counts(session)
        session.expunge_all()
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        admin,
        "subscribers.html",
        rows=rows,
        total=total,
        states=states,
        page=page,
        pages=pages,
        notice=_SUBSCRIBER_NOTICES.get(notice, "").format(email=email[:320]),
    )


def _subscriber_action(
    request: Request, subscriber_id: int, act: Callable[[WebContext, Session, Subscriber], str]
) -> Response:
    """Run ``act`` on the subscriber (404 if none) and go back to the list with its notice."""
    ctx = context_of(request)
    with ctx.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise HTTPException(404, "No such subscriber")
        email = subscriber.email
        notice = act(ctx, session, subscriber)
    log.info("admin subscriber action=%s subscriber=%d", notice, subscriber_id)
    query = urlencode({"notice": notice, "email": email})
    return RedirectResponse(f"/admin/subscribers?{query}", status_code=303)


def _reactivate(ctx: WebContext, session: Session, subscriber: Subscriber) -> str:
    done = subscriber_store.reactivate(session, subscriber.id, ctx.jobs.clock())
    return "reactivated" if done else "not-bounced"


def _resend(ctx: WebContext, session: Session, subscriber: Subscriber) -> str:
    if subscriber.status != "pending":
        return "not-pending"
    jobs = ctx.jobs
    queued = subscriptions.resend_confirmation(
        session, jobs.templates, jobs.mail, subscriber.token, jobs.clock()
    )
    return "resent" if queued else "resend-later"


def _remove(ctx: WebContext, session: Session, subscriber: Subscriber) -> str:
    subscriber_store.purge(session, subscriber)
    return "removed"


@router.post("/admin/subscribers/{subscriber_id}/reactivate")
def reactivate(request: Request, subscriber_id: int, admin: AdminForm) -> Response:
    return _subscriber_action(request, subscriber_id, _reactivate)


@router.post("/admin/subscribers/{subscriber_id}/resend")
def resend(request: Request, subscriber_id: int, admin: AdminForm) -> Response:
    return _subscriber_action(request, subscriber_id, _resend)


@router.post("/admin/subscribers/{subscriber_id}/remove")
def remove(request: Request, subscriber_id: int, admin: AdminForm) -> Response:
    return _subscriber_action(request, subscriber_id, _remove)
