"""A subscriber's own pages, reached from the links of every digest.

``/manage/<token>`` changes the preferences, ``/unsubscribe/<token>`` asks once
and unsubscribes. ``POST /unsubscribe/<token>`` is also the RFC 8058 one-click
target of the ``List-Unsubscribe`` header: it needs no cookie, no form token and
no earlier request, and answers 200 however often it is sent. A forged or
tampered token gets a 400 page and changes nothing.

A bounced subscriber (their mail server refused a digest) is told so on the manage
page, which offers ``POST /manage/<token>/reactivate``: the link proves they read
their mail again, so sending resumes (their digests carry what was held back).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from trialwatch.errors import ConfigError, InvalidToken, NotFoundError
from trialwatch.services import subscriptions
from trialwatch.store import subscribers as subscriber_store
from trialwatch.web import limits
from trialwatch.web.app import WebContext, context_of
from trialwatch.web.subscribe import admit, busy, form_context, preferences_from

router = APIRouter()
Ctx = Annotated[WebContext, Depends(context_of)]

INVALID_LINK = "This link is not valid"
GONE = "There is no such subscription any more"


def _invalid(ctx: WebContext, request: Request) -> HTMLResponse:
    return ctx.page(request, "error.html", status_code=400, message=INVALID_LINK)


@router.get("/manage/{token}", response_class=HTMLResponse)
def manage_form(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    return _show(token, request, ctx, reactivate=False)


@router.post("/manage/{token}", response_class=HTMLResponse)
async def manage_submit(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    prefs = preferences_from(await request.form())
    if prefs.near:  # a place lookup counts against the subscribe form's limits
        wait = await run_in_threadpool(admit, ctx, limits.client_of(request))
        if wait is not None:
            return busy(ctx, request, wait)
    return await run_in_threadpool(_manage, ctx, request, token, prefs)


def _manage(
    ctx: WebContext, request: Request, token: str, prefs: subscriptions.Preferences
) -> HTMLResponse:
    error: str | None = None
    try:
        with ctx.session() as session:
            subscriber = subscriptions.manage(
                session, ctx.jobs.mail.secret, token, prefs, ctx.jobs.clock()
            )
            email, status = subscriber.email, subscriber.status
    except InvalidToken:
        return _invalid(ctx, request)
    except NotFoundError:
        return ctx.page(request, "error.html", status_code=404, message=GONE)
    except ConfigError as exc:
        error = str(exc)
        with ctx.session() as session:
            found = subscriptions.find_by_token(session, ctx.jobs.mail.secret, token)
            email, status = (found.email, found.status) if found else ("", "unsubscribed")
    return ctx.page(
        request,
        "manage.html",
        status_code=400 if error else 200,
        token=token,
        email=email,
        status=status,
        prefs=prefs,
        saved=error is None,
        reactivated=False,
        error=error[:1].upper() + error[1:] if error else None,
        **form_context(ctx),
    )


@router.post("/manage/{token}/reactivate", response_class=HTMLResponse)
def reactivate(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """A bounced subscriber asks for their emails again."""
    return _show(token, request, ctx, reactivate=True)


def _show(token: str, request: Request, ctx: WebContext, *, reactivate: bool) -> HTMLResponse:
    """The manage page of the subscriber ``token`` names (reactivated first if asked)."""
    reactivated = False
    try:
        with ctx.session() as session:
            subscriber = subscriptions.find_by_token(session, ctx.jobs.mail.secret, token)
            if subscriber is None:
                return ctx.page(request, "error.html", status_code=404, message=GONE)
            if reactivate:
                now = ctx.jobs.clock()
                reactivated = subscriber_store.reactivate(session, subscriber.id, now)
                session.refresh(subscriber)
            prefs = subscriptions.current_preferences(session, subscriber)
            email, status = subscriber.email, subscriber.status
    except InvalidToken:
        return _invalid(ctx, request)
    return ctx.page(
        request,
        "manage.html",
        token=token,
        email=email,
        status=status,
        prefs=prefs,
        saved=False,
        reactivated=reactivated,
        error=None,
        **form_context(ctx),
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    try:
        with ctx.session() as session:
            subscriptions.find_by_token(session, ctx.jobs.mail.secret, token)
    except InvalidToken:
        return _invalid(ctx, request)
    return ctx.page(request, "unsubscribe.html", token=token, done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_submit(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """The page's button and RFC 8058 one-click (``List-Unsubscribe=One-Click``) alike."""
    try:
        with ctx.session() as session:
            subscriptions.unsubscribe(session, ctx.jobs.mail.secret, token, ctx.jobs.clock())
    except InvalidToken:
        return _invalid(ctx, request)
    return ctx.page(request, "unsubscribe.html", token=token, done=True)
