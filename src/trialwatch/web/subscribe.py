"""Subscribing: the form, the "check your email" page, and the confirmation link.

The page after the form is the same whatever happened (new address, pending,
already subscribed, too many emails to that address), after the same work: nobody
learns from it, or from its timing, whether an address is subscribed. The form
carries a signed double-submit token (:mod:`trialwatch.web.formtoken`); posts,
and the "send me a new link" button, are limited per client and overall
(:mod:`trialwatch.web.limits`). Opening a confirmation link shows what it
confirms; only the page's button (a POST) confirms. Every write is
:mod:`trialwatch.services.subscriptions`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from trialwatch.errors import ConfigError, InvalidToken
from trialwatch.mail.signing import ConfirmRef, ExpiredToken, RequestRef
from trialwatch.places import DEFAULT_WITHIN_KM, MAX_WITHIN_KM
from trialwatch.services import subscriptions
from trialwatch.vocab import FREQUENCIES, MAILED_SIGNIFICANCES
from trialwatch.web import formtoken, limits
from trialwatch.web.app import WebContext, context_of
from trialwatch.words.mail import FREQUENCY_LABELS, SIGNIFICANCE_LABELS

router = APIRouter()
Ctx = Annotated[WebContext, Depends(context_of)]


def form_context(ctx: WebContext) -> dict[str, Any]:
    """What the preference fields need: the choices and their labels."""
    with ctx.session() as session:
        offered = subscriptions.choices(session)
    return {
        "choices": offered,
        "default_within": f"{DEFAULT_WITHIN_KM:g}",
        "max_within": f"{MAX_WITHIN_KM:g}",
        "frequencies": [(f, FREQUENCY_LABELS.get(f, f)) for f in FREQUENCIES],
        "significances": [(s, SIGNIFICANCE_LABELS.get(s, s)) for s in MAILED_SIGNIFICANCES],
    }


def preferences_from(form: FormData) -> subscriptions.Preferences:
    """The preferences a submitted form names (strings only; files are ignored)."""
    return subscriptions.Preferences(
        watchlists=tuple(str(v) for v in form.getlist("watchlist") if isinstance(v, str)),
        frequency=str(form.get("frequency") or "daily"),
        significance=str(form.get("significance") or "major"),
        countries=tuple(str(v) for v in form.getlist("country") if isinstance(v, str)),
        near=_text(form.get("near")),
        within=_text(form.get("within")),
    )


def _text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, ctx: Ctx) -> HTMLResponse:
    wanted = request.query_params.get("watchlist")
    prefs = subscriptions.Preferences(watchlists=(wanted,) if wanted else ())
    return _form(ctx, request, 200, "", prefs, None, form_context(ctx))


def _form(
    ctx: WebContext,
    request: Request,
    status: int,
    email: str,
    prefs: subscriptions.Preferences,
    error: str | None,
    fields: dict[str, Any],
) -> HTMLResponse:
    """The form, with a form token and the cookie it is checked against."""
    value, token = formtoken.issue(request, ctx.jobs.mail.secret)
    page = ctx.page(
        request,
        "subscribe.html",
        status_code=status,
        email=email,
        prefs=prefs,
        error=error,
        form_token=token,
        **fields,
    )
    formtoken.set_cookie(page, value, secure=ctx.settings.public_url.startswith("https:"))
    page.headers["Cache-Control"] = "no-store"  # the token is this visitor's
    return page


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe_submit(request: Request, ctx: Ctx) -> HTMLResponse:
    form = await request.form()
    email = str(form.get("email") or "").strip()
    prefs = preferences_from(form)
    wait = await run_in_threadpool(admit, ctx, limits.client_of(request))
    if wait is not None:
        return busy(ctx, request, wait)
    if not formtoken.genuine(request, ctx.jobs.mail.secret, _text(form.get(formtoken.FIELD))):
        fields = await run_in_threadpool(form_context, ctx)
        return _form(ctx, request, 403, email, prefs, EXPIRED_FORM, fields)
    try:
        await run_in_threadpool(_request, ctx, email, prefs)
    except ConfigError as exc:
        fields = await run_in_threadpool(form_context, ctx)
        return _form(ctx, request, 400, email, prefs, _field_message(str(exc)), fields)
    ctx.deliver_soon()
    return ctx.page(request, "subscribed.html")


EXPIRED_FORM = "This form had expired: check your choices and press Subscribe again."


def admit(ctx: WebContext, client: str) -> timedelta | None:
    with ctx.session() as session:
        return limits.admit(session, client, ctx.jobs.clock())


def busy(ctx: WebContext, request: Request, wait: timedelta) -> HTMLResponse:
    """The 429 page: too many requests, and when to try again."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    page = ctx.page(request, "busy.html", status_code=429, minutes=math.ceil(seconds / 60))
    page.headers["Retry-After"] = str(seconds)
    return page


def _request(ctx: WebContext, email: str, prefs: subscriptions.Preferences) -> None:
    with ctx.session() as session:
        subscriptions.request_subscription(
            session, ctx.jobs.templates, ctx.jobs.mail, email, prefs, ctx.jobs.clock()
        )


def _field_message(message: str) -> str:
    """A validation message as a person reads it: "email: ..." becomes "Email: ..."."""
    return message[:1].upper() + message[1:]


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """What the link confirms and a button: opening it (a mail scanner may) changes nothing."""
    try:
        with ctx.session() as session:
            found = subscriptions.preview(session, ctx.jobs.mail.secret, token, ctx.jobs.clock())
    except ExpiredToken:
        return ctx.page(request, "confirm.html", status_code=410, outcome="expired", token=token)
    except InvalidToken:
        return ctx.page(request, "confirm.html", status_code=400, outcome="invalid", token=token)
    status = 404 if found.outcome in ("gone", "used") else 200
    return ctx.page(
        request,
        "confirm.html",
        status_code=status,
        outcome=found.outcome,
        token=token,
        lines=found.lines,
    )


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_submit(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """The page's button: confirm exactly what the page showed."""
    try:
        with ctx.session() as session:
            outcome = subscriptions.confirm(session, ctx.jobs.mail.secret, token, ctx.jobs.clock())
    except ExpiredToken:
        return ctx.page(request, "confirm.html", status_code=410, outcome="expired", token=token)
    except InvalidToken:
        return ctx.page(request, "confirm.html", status_code=400, outcome="invalid", token=token)
    status = 404 if outcome in ("gone", "used") else 200
    return ctx.page(request, "confirm.html", status_code=status, outcome=outcome, token=token)


@router.post("/confirm/{token}/resend", response_class=HTMLResponse)
def confirm_resend(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """An expired link's "send me a new one" button (the subscribe form's limits apply)."""
    jobs = ctx.jobs
    now = jobs.clock()
    wait = admit(ctx, limits.client_of(request))
    if wait is not None:
        return busy(ctx, request, wait)
    try:
        with ctx.session() as session:
            subscriptions.preview(session, jobs.mail.secret, token, now)
    except ExpiredToken as exc:
        with ctx.session() as session:
            _resend(session, ctx, exc.ref, now)
        ctx.deliver_soon()
    except InvalidToken:
        return ctx.page(request, "confirm.html", status_code=400, outcome="invalid", token=token)
    return ctx.page(request, "subscribed.html")


def _resend(session: Session, ctx: WebContext, ref: ConfirmRef, now: datetime) -> None:
    if isinstance(ref, RequestRef):
        owner = subscriptions.owner_of_request(session, ref.nonce)
        if owner is not None:
            subscriptions.resend_confirmation(
                session, ctx.jobs.templates, ctx.jobs.mail, owner, now, nonce=ref.nonce
            )
    else:
        subscriptions.resend_confirmation(
            session, ctx.jobs.templates, ctx.jobs.mail, ref.token, now
        )
