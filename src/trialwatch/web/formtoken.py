"""The subscribe form's CSRF token: a signed double-submit token.

The form page sets a random value in a cookie (``SameSite=Lax``, ``HttpOnly``,
path ``/subscribe``) and puts the same value, signed with the secret key (salt
``"subscribe-form"``), in a hidden field. A post is taken only when the field's
signature is genuine and names the cookie's value: another site can neither read
nor set the cookie, nor sign a value of its own. It is apart from the admin's
CSRF protection, which belongs to a signed-in session.
"""

from __future__ import annotations

import hmac
import re
import secrets

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "trialwatch_form"
FIELD = "form_token"
SALT = "subscribe-form"
MAX_AGE = 24 * 3600
"""Seconds the cookie lasts; a form older than that is refused with a fresh one."""
_VALUE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _signer(secret: str) -> Signer:
    return Signer(secret, salt=SALT)


def issue(request: Request, secret: str) -> tuple[str, str]:
    """The cookie value (the request's own, if it has a good one) and its form token."""
    value = request.cookies.get(COOKIE, "")
    if not _VALUE.fullmatch(value):
        value = secrets.token_urlsafe(24)
    return value, _signer(secret).sign(value).decode("ascii")


def set_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path="/subscribe",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def genuine(request: Request, secret: str, token: str) -> bool:
    """Whether ``token`` is this key's signature of the request's cookie value."""
    value = request.cookies.get(COOKIE, "")
    if not _VALUE.fullmatch(value):
        return False
    try:
        signed = _signer(secret).unsign(token)
    except BadSignature:
        return False
    return hmac.compare_digest(signed, value.encode("ascii"))
