"""Subscribing: the form, the "check your email" page, and the confirmation link.

The page after the form is the same whatever happened (new address, pending,
already subscribed, rate-limited): nobody learns from it whether an address is
subscribed. Every write is :mod:`trialwatch.subscriptions`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from trialwatch import subscriptions
from trialwatch.errors import ConfigError, InvalidToken
from trialwatch.mail.signing import ExpiredToken
from trialwatch.places import DEFAULT_WITHIN_KM, MAX_WITHIN_KM
from trialwatch.vocab import FREQUENCIES, MAILED_SIGNIFICANCES
from trialwatch.web.app import WebContext, context_of

router = APIRouter()
Ctx = Annotated[WebContext, Depends(context_of)]

FREQUENCY_LABELS = {
    "immediate": "As soon as something changes",
    "daily": "Once a day",
    "weekly": "Once a week",
}
SIGNIFICANCE_LABELS = {
    "major": (
        "What a patient should know: new trials, status, results, sites opening,"
        " eligibility, expanded access, delays of 3 months or more"
    ),
    "minor": "Every change, small ones too (dates, contacts, wording)",
}


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
    return ctx.page(
        request, "subscribe.html", email="", prefs=prefs, error=None, **form_context(ctx)
    )


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe_submit(request: Request, ctx: Ctx) -> HTMLResponse:
    form = await request.form()
    email = str(form.get("email") or "").strip()
    prefs = preferences_from(form)
    try:
        await run_in_threadpool(_request, ctx, email, prefs)
    except ConfigError as exc:
        return ctx.page(
            request,
            "subscribe.html",
            status_code=400,
            email=email,
            prefs=prefs,
            error=_field_message(str(exc)),
            **await run_in_threadpool(form_context, ctx),
        )
    ctx.deliver_soon()
    return ctx.page(request, "subscribed.html")


def _request(ctx: WebContext, email: str, prefs: subscriptions.Preferences) -> None:
    with ctx.session() as session:
        subscriptions.request_subscription(
            session, ctx.jobs.templates, ctx.jobs.mail, email, prefs, ctx.jobs.clock()
        )


def _field_message(message: str) -> str:
    """A validation message as a person reads it: "email: ..." becomes "Email: ..."."""
    return message[:1].upper() + message[1:]


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_link(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    try:
        with ctx.session() as session:
            outcome = subscriptions.confirm(session, ctx.jobs.mail.secret, token, ctx.jobs.clock())
    except ExpiredToken:
        return ctx.page(request, "confirm.html", status_code=410, outcome="expired", token=token)
    except InvalidToken:
        return ctx.page(request, "confirm.html", status_code=400, outcome="invalid", token=token)
    status = 404 if outcome == "gone" else 200
    return ctx.page(request, "confirm.html", status_code=status, outcome=outcome, token=token)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_resend(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """An expired link's "send me a new one" button."""
    jobs = ctx.jobs
    now = jobs.clock()
    try:
        with ctx.session() as session:
            subscriptions.confirm(session, jobs.mail.secret, token, now)
    except ExpiredToken as exc:
        with ctx.session() as session:
            subscriptions.resend_confirmation(
                session, jobs.templates, jobs.mail, exc.subscriber_token, now
            )
        ctx.deliver_soon()
        return ctx.page(request, "subscribed.html")
    except InvalidToken:
        return ctx.page(request, "confirm.html", status_code=400, outcome="invalid", token=token)
    return ctx.page(request, "subscribed.html")
