"""The admin at ``/admin``: watchlists and their syncs, subscribers, the outbox, previews.

One account, its password checked against ``TRIALWATCH_ADMIN_PASSWORD_HASH`` (argon2).
A login sets a signed, expiring session cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure``
unless the public URL is plain-HTTP loopback) that carries a per-session CSRF token;
every admin form posts that token back and is refused with 403 without it. Failed
logins are counted in memory, per client address and overall, in a sliding window.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, BackgroundTasks, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from trialwatch.errors import ConfigError, NotFoundError, SyncInProgress
from trialwatch.store import outbox as outbox_store
from trialwatch.store import runs as run_store
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.web.app import WebContext, context_of

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

SESSION_COOKIE = "trialwatch_admin"
LOGIN_COOKIE = "trialwatch_admin_login"
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600
PAGE_SIZE = 50
MAX_PASSWORD_LENGTH = 1024
_SESSION_SALT = "trialwatch.admin.session"
_LOGIN_SALT = "trialwatch.admin.login"
_NOT_CONFIGURED = (
    "The admin is not configured: set TRIALWATCH_ADMIN_PASSWORD_HASH "
    "(made with trialwatch admin hash-password)."
)
_BAD_HASH = (
    "The admin is not configured: TRIALWATCH_ADMIN_PASSWORD_HASH is not an argon2 hash "
    "(make one with trialwatch admin hash-password)."
)


@dataclass
class LoginLimiter:
    """Failed logins of the last ``window`` seconds, per client address and overall."""

    per_client: int = 5
    overall: int = 20
    window: float = 15 * 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: deque[tuple[float, str]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _prune(self) -> None:
        horizon = self.clock() - self.window
        while self._failures and self._failures[0][0] <= horizon:
            self._failures.popleft()

    def allowed(self, client: str) -> bool:
        """Whether ``client`` may try a password now."""
        with self._lock:
            self._prune()
            mine = sum(1 for _, who in self._failures if who == client)
            return mine < self.per_client and len(self._failures) < self.overall

    def failed(self, client: str) -> None:
        """Count a wrong password of ``client``."""
        with self._lock:
            self._prune()
            self._failures.append((self.clock(), client))


@dataclass
class AdminState:
    """What the admin keeps in memory per app: the limiter, revoked sessions, syncs."""

    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    revoked: dict[str, float] = field(default_factory=dict)  # session id -> expiry
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


@dataclass(frozen=True)
class AdminSession:
    sid: str
    csrf: str


# --- cookies and tokens -------------------------------------------------------------------


def _serializer(ctx: WebContext, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.jobs.mail.secret, salt=salt)


def _hash_tag(ctx: WebContext) -> str:
    """A fingerprint of the password hash: a new password ends every session."""
    return hashlib.sha256(ctx.settings.admin_password_hash.encode()).hexdigest()[:16]


def _secure(ctx: WebContext) -> bool:
    url = urlsplit(ctx.settings.public_url)
    return not (url.scheme == "http" and url.hostname in {"localhost", "127.0.0.1"})


def _set_cookie(ctx: WebContext, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/admin",
        secure=_secure(ctx),
        httponly=True,
        samesite="lax",
    )


def _session(request: Request) -> AdminSession | None:
    """The signed-in session of this request, if its cookie is valid, fresh and not revoked."""
    ctx = context_of(request)
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or not ctx.settings.admin_password_hash:
        return None
    try:
        data = _serializer(ctx, _SESSION_SALT).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    sid, csrf, tag = data.get("sid"), data.get("csrf"), data.get("hash")
    if not (isinstance(sid, str) and isinstance(csrf, str)) or tag != _hash_tag(ctx):
        return None
    state = _state(request)
    with state.lock:
        if sid in state.revoked:
            return None
    return AdminSession(sid=sid, csrf=csrf)


def _check_csrf(expected: str, given: str) -> None:
    """Refuse (403) a form whose token is not this session's."""
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise HTTPException(403, "The form has expired or did not come from this site")


def _to_login() -> Response:
    return RedirectResponse("/admin/login", status_code=303)


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(
    request: Request, auth: AdminSession, name: str, status_code: int = 200, **context: Any
) -> Response:
    ctx = context_of(request)
    context.setdefault("notice", "")
    page = ctx.page(request, f"admin/{name}", status_code=status_code, csrf=auth.csrf, **context)
    return _private(page)


# --- login and logout -----------------------------------------------------------------------


def _login_page(
    request: Request, token: str, *, message: str = "", status_code: int = 200
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
    _set_cookie(
        ctx,
        page,
        LOGIN_COOKIE,
        _serializer(ctx, _LOGIN_SALT).dumps(token),
        LOGIN_FORM_SECONDS,
    )
    return _private(page)


@router.get("/admin/login")
def login_form(request: Request) -> Response:
    if _session(request) is not None:
        return RedirectResponse("/admin", status_code=303)
    return _login_page(request, secrets.token_urlsafe(32))


@router.post("/admin/login")
def login(
    request: Request,
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    ctx = context_of(request)
    stored = ctx.settings.admin_password_hash
    if not stored:
        return _login_page(request, "", message=_NOT_CONFIGURED, status_code=403)
    try:
        expected = _serializer(ctx, _LOGIN_SALT).loads(
            request.cookies.get(LOGIN_COOKIE, ""), max_age=LOGIN_FORM_SECONDS
        )
    except BadSignature:
        expected = ""
    _check_csrf(str(expected), csrf)
    token = str(expected)
    limiter = _state(request).limiter
    client = _client(request)
    if not limiter.allowed(client):
        log.warning("admin login refused: too many failed attempts (client %s)", client)
        message = "Too many failed logins. Try again in 15 minutes."
        return _login_page(request, token, message=message, status_code=429)
    try:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise VerificationError("too long")
        PasswordHasher().verify(stored, password)
    except InvalidHashError:
        log.error("TRIALWATCH_ADMIN_PASSWORD_HASH is not an argon2 hash")
        return _login_page(request, token, message=_BAD_HASH, status_code=403)
    except VerificationError:
        limiter.failed(client)
        log.warning("admin login failed (client %s)", client)
        return _login_page(request, token, message="Wrong password.", status_code=401)
    session = {"sid": secrets.token_urlsafe(16), "csrf": secrets.token_urlsafe(32)}
    session["hash"] = _hash_tag(ctx)
    response = RedirectResponse("/admin", status_code=303)
    _set_cookie(
        ctx,
        response,
        SESSION_COOKIE,
        _serializer(ctx, _SESSION_SALT).dumps(session),
        SESSION_SECONDS,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    log.info("admin logged in (client %s)", client)
    return _private(response)


@router.post("/admin/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
    _check_csrf(auth.csrf, csrf)
    state = _state(request)
    now = time.time()
    with state.lock:
        state.revoked = {sid: until for sid, until in state.revoked.items() if until > now}
        state.revoked[auth.sid] = now + SESSION_SECONDS
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return _private(response)


# --- watchlists and sync now --------------------------------------------------------------------

_NOTICES = {
    "sync-started": "Sync of {slug} started. Reload this page to see how it went.",
    "sync-running": "A sync of {slug} is already running; wait for it to finish.",
}


@router.get("/admin")
def watchlists(request: Request, notice: str = "", slug: str = "") -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
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
    return _page(
        request,
        auth,
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
    except SyncInProgress:
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
    csrf: Annotated[str, Form()] = "",
) -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
    _check_csrf(auth.csrf, csrf)
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


@router.get("/admin/subscribers")
def subscribers(request: Request, page: int = 1) -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
    ctx = context_of(request)
    page = max(1, page)
    with ctx.session() as session:
        rows, total = subscriber_store.subscriber_page(
            session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        states = subscriber_store.state_counts(session)
        session.expunge_all()
    pages = max(1, -(-total // PAGE_SIZE))
    return _page(
        request,
        auth,
        "subscribers.html",
        rows=rows,
        total=total,
        states=states,
        page=page,
        pages=pages,
    )


# --- the outbox -----------------------------------------------------------------------------


@router.get("/admin/outbox")
def outbox(request: Request, retried: int | None = None) -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
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
    return _page(
        request,
        auth,
        "outbox.html",
        counts=counts,
        failed=failed,
        recent=recent,
        notice=notice,
    )


@router.post("/admin/outbox/retry-failed")
def retry_failed(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
    _check_csrf(auth.csrf, csrf)
    ctx = context_of(request)
    with ctx.session() as session:
        count = outbox_store.retry_failed(session, ctx.jobs.clock())
    log.info("admin queued %d failed messages again", count)
    return RedirectResponse(f"/admin/outbox?retried={count}", status_code=303)


# --- digest preview ---------------------------------------------------------------------------


@router.get("/admin/preview")
def preview(request: Request, email: str = "") -> Response:
    auth = _session(request)
    if auth is None:
        return _to_login()
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
    return _page(request, auth, "preview.html", email=email, rendered=rendered, message=message)
