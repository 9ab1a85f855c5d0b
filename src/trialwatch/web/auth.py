"""Admin sign-in: the login limiter, sessions in the database, the CSRF check.

**Limiter.** Each login attempt first *reserves* a place in its client's window
(``login:ip:<address>`` in :mod:`trialwatch.store.ratelimits`, one atomic upsert,
committed before the password is checked), so a burst of parallel guesses gets no
more checks than sequential ones: five a client in 15 minutes, then 429. Every wrong
password also counts in ``login:failed``; once that passes twenty in the window, a
client that has already failed gets one more check no sooner than the next window,
while a client that has not failed is always checked: strangers can slow the admin's
attackers down but never lock the admin out. Each wrong answer is also delayed a
little longer than the last (:func:`failure_delay`). A right password clears its
client's window.

**Clients.** The client is the connecting address, unless that address is one of
``TRIALWATCH_TRUSTED_PROXIES``: then ``X-Forwarded-For`` is read from the right
(what the proxy appended) and the first address not itself a trusted proxy is the
client. IPv6 clients count by their /64 network.

**Sessions.** A login stores a session row (:mod:`trialwatch.store.web_sessions`)
and sets a signed, expiring cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` unless
the public URL is plain-HTTP loopback) with the session id; the row holds the
session's CSRF token. A logout revokes the row, for every web process and restart;
a new password hash ends every session.

**Pages.** ``GET/POST /admin/login`` and ``POST /admin/logout`` (:data:`router`,
which the admin's router includes).

**CSRF.** :data:`Admin` is the dependency of admin pages (anonymous visitors are
sent to the login); :data:`AdminForm` also checks the form's ``csrf`` field and
refuses a missing or foreign token with 403.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from trialwatch.store import ratelimits
from trialwatch.store import web_sessions as session_store
from trialwatch.web.app import WebContext, context_of

router = APIRouter(include_in_schema=False)

log = logging.getLogger(__name__)

SESSION_COOKIE = "trialwatch_admin"
LOGIN_COOKIE = "trialwatch_admin_login"
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600
MAX_PASSWORD_LENGTH = 1024
PER_CLIENT = 5
OVERALL = 20
WINDOW = timedelta(minutes=15)
FAILURE_DELAY = 0.5
"""Seconds added to a wrong answer per failure of its client (tests set it to 0)."""
MAX_FAILURE_DELAY = 5.0
_SESSION_SALT = "trialwatch.admin.session"
_LOGIN_SALT = "trialwatch.admin.login"
_FAILED_KEY = "login:failed"
_NOT_CONFIGURED = (
    "The admin is not configured: set TRIALWATCH_ADMIN_PASSWORD_HASH "
    "(made with trialwatch admin hash-password)."
)
_BAD_HASH = (
    "The admin is not configured: TRIALWATCH_ADMIN_PASSWORD_HASH is not an argon2 hash "
    "(make one with trialwatch admin hash-password)."
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- clients and the limiter ----------------------------------------------------------------


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(peer: str, forwarded: str | None, trusted: tuple[Network, ...]) -> str:
    """Who is asking: ``peer``, or from a trusted proxy the address it was asked by."""

    def is_trusted(text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in trusted)

    if not forwarded or not is_trusted(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted(hop):
            return hop if _address(hop) is not None else peer
    return peer


def client_of(request: Request) -> str:
    """The client of ``request`` (see :func:`client_address`)."""
    ctx = context_of(request)
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    return client_address(peer, forwarded, ctx.settings.trusted_networks)


def client_key(client: str) -> str:
    """The limiter's key of ``client``: its address, or its /64 network for IPv6."""
    address = _address(client)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"login:ip:{address.ipv4_mapped}"
        return f"login:ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"login:ip:{client}"


def failure_delay(failures: int, base: float | None = None) -> float:
    """How long the answer to a client's ``failures``-th wrong password waits."""
    step = FAILURE_DELAY if base is None else base
    return min(step * max(failures, 0), MAX_FAILURE_DELAY)


@dataclass(frozen=True)
class Attempt:
    """A reserved login attempt: the client's count in the window, and whether it may try."""

    number: int
    allowed: bool
    retry_after: int


def reserve_attempt(ctx: WebContext, client: str, now: datetime) -> Attempt:
    """Count an attempt of ``client`` before its password is checked (committed at once)."""
    with ctx.session() as session:
        number = ratelimits.hit(session, client_key(client), now, WINDOW)
        allowed = number <= PER_CLIENT
        if allowed and number > 1:  # the client has failed before: is the site under attack?
            allowed = ratelimits.count(session, _FAILED_KEY, now, WINDOW) < OVERALL
    ends = ratelimits.window_start(now, WINDOW) + WINDOW
    return Attempt(number, allowed, max(1, int((ends - now).total_seconds()) + 1))


def record_failure(ctx: WebContext, now: datetime) -> None:
    """Count a wrong password; windows of logins past go (the table stays small)."""
    with ctx.session() as session:
        ratelimits.hit(session, _FAILED_KEY, now, WINDOW)
        ratelimits.prune(session, ratelimits.window_start(now, WINDOW), prefix="login:")


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the argon2 hash ``stored`` (InvalidHashError if none)."""
    try:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise VerificationError("too long")
        PasswordHasher().verify(stored, password)
    except VerificationError:
        return False
    return True


# --- cookies and sessions -------------------------------------------------------------------


@dataclass(frozen=True)
class AdminSession:
    """A signed-in admin: the session's row id and CSRF token."""

    key: str
    csrf: str


def _serializer(ctx: WebContext, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.jobs.mail.secret, salt=salt)


def _hash_tag(ctx: WebContext) -> str:
    """A fingerprint of the password hash: a new password ends every session."""
    return hashlib.sha256(ctx.settings.admin_password_hash.encode()).hexdigest()[:16]


def _secure(ctx: WebContext) -> bool:
    url = urlsplit(ctx.settings.public_url)
    return not (url.scheme == "http" and url.hostname in {"localhost", "127.0.0.1"})


def set_cookie(ctx: WebContext, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/admin",
        secure=_secure(ctx),
        httponly=True,
        samesite="lax",
    )


def login_cookie(ctx: WebContext, token: str) -> str:
    """The cookie that binds a login form's token to this browser."""
    return _serializer(ctx, _LOGIN_SALT).dumps(token)


def login_token(request: Request) -> str:
    """The token of the login form this browser was given ("" if none or expired)."""
    ctx = context_of(request)
    try:
        token = _serializer(ctx, _LOGIN_SALT).loads(
            request.cookies.get(LOGIN_COOKIE, ""), max_age=LOGIN_FORM_SECONDS
        )
    except BadSignature:
        return ""
    return str(token)


def start_session(ctx: WebContext, now: datetime, client: str) -> str:
    """Store a new session (clearing ``client``'s attempts); its signed cookie value."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with ctx.session() as session:
        ratelimits.clear(session, client_key(client))
        session_store.open_session(session, sid, csrf, now, timedelta(seconds=SESSION_SECONDS))
    return _serializer(ctx, _SESSION_SALT).dumps({"sid": sid, "hash": _hash_tag(ctx)})


def current_session(request: Request) -> AdminSession | None:
    """The signed-in session of this request: a valid cookie naming a live session row."""
    ctx = context_of(request)
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or not ctx.settings.admin_password_hash:
        return None
    try:
        data = _serializer(ctx, _SESSION_SALT).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("hash") != _hash_tag(ctx):
        return None
    sid = data.get("sid")
    if not isinstance(sid, str):
        return None
    with ctx.session() as session:
        row = session_store.find_session(session, sid, ctx.jobs.clock())
    return AdminSession(row.id, row.csrf) if row is not None else None


def end_session(ctx: WebContext, auth: AdminSession) -> None:
    with ctx.session() as session:
        session_store.revoke(session, auth.key, ctx.jobs.clock())


# --- dependencies -----------------------------------------------------------------------------


def sign_in_first() -> HTTPException:
    """What an anonymous visitor of an admin page gets: a 303 to the login."""
    return HTTPException(303, "Sign in first", headers={"Location": "/admin/login"})


def check_csrf(expected: str, given: str) -> None:
    """Refuse (403) a form whose token is not this session's."""
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise HTTPException(403, "The form has expired or did not come from this site")


def require_admin(request: Request) -> AdminSession:
    """The signed-in admin (anonymous visitors are sent to the login)."""
    auth = current_session(request)
    if auth is None:
        raise sign_in_first()
    return auth


def require_admin_form(
    request: Request, csrf: Annotated[str, Form(max_length=200)] = ""
) -> AdminSession:
    """The signed-in admin whose form carries the session's CSRF token."""
    auth = require_admin(request)
    check_csrf(auth.csrf, csrf)
    return auth


Admin = Annotated[AdminSession, Depends(require_admin)]
AdminForm = Annotated[AdminSession, Depends(require_admin_form)]


def private(response: Response) -> Response:
    """``response`` marked not to be cached: it is one admin's."""
    response.headers["Cache-Control"] = "no-store"
    return response


# --- login and logout -----------------------------------------------------------------------


def _login_page(
    request: Request,
    token: str,
    *,
    message: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    ctx = context_of(request)
    configured = bool(ctx.settings.admin_password_hash)
    page = ctx.page(
        request,
        "admin/login.html",
        status_code=status_code,
        csrf=token,
        configured=configured,
        message=message or ("" if configured else _NOT_CONFIGURED),
    )
    page.headers.update(headers or {})
    cookie = login_cookie(ctx, token)
    set_cookie(ctx, page, LOGIN_COOKIE, cookie, LOGIN_FORM_SECONDS)
    return private(page)


@router.get("/admin/login")
def login_form(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse("/admin", status_code=303)
    return _login_page(request, secrets.token_urlsafe(32))


@router.post("/admin/login")
async def login(
    request: Request,
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    ctx = context_of(request)
    stored = ctx.settings.admin_password_hash
    if not stored:
        return _login_page(request, "", message=_NOT_CONFIGURED, status_code=403)
    token = login_token(request)
    check_csrf(token, csrf)
    client = client_of(request)
    now = ctx.jobs.clock()
    attempt = await run_in_threadpool(reserve_attempt, ctx, client, now)
    if not attempt.allowed:
        log.warning("admin login refused client=%s attempt=%d", client, attempt.number)
        minutes = -(-attempt.retry_after // 60)
        message = f"Too many failed logins. Try again in {minutes} minutes."
        retry = {"Retry-After": str(attempt.retry_after)}
        return _login_page(request, token, message=message, status_code=429, headers=retry)
    try:
        right = await run_in_threadpool(check_password, stored, password)
    except InvalidHashError:
        log.error("TRIALWATCH_ADMIN_PASSWORD_HASH is not an argon2 hash")
        return _login_page(request, token, message=_BAD_HASH, status_code=403)
    if not right:
        await run_in_threadpool(record_failure, ctx, now)
        log.warning("admin login failed client=%s attempt=%d", client, attempt.number)
        await asyncio.sleep(failure_delay(attempt.number))
        return _login_page(request, token, message="Wrong password.", status_code=401)
    cookie = await run_in_threadpool(start_session, ctx, now, client)
    response = RedirectResponse("/admin", status_code=303)
    set_cookie(ctx, response, SESSION_COOKIE, cookie, SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    log.info("admin logged in client=%s", client)
    return private(response)


@router.post("/admin/logout")
def logout(request: Request, admin: AdminForm) -> Response:
    end_session(context_of(request), admin)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return private(response)
