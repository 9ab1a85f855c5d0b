"""Signed unsubscribe tokens, and the secret key that signs them.

A token carries the subscriber's opaque token (``subscriber.token``, random, not
derived from the address or the id) signed with the secret key (itsdangerous,
HMAC-SHA1 over a salted key derivation, salt ``"unsubscribe"``), so a link reveals
nothing about the subscriber and cannot be forged or guessed without the key.
Tokens mailed before that carried ``[id, email]``; they still read (as a
:class:`LegacyRef`) and resolve only while the address still matches the row
(:func:`trialwatch.services.subscriptions.find_by_token`). Tokens do not expire: an
unsubscribe link must keep working for as long as old emails exist. Changing the
secret key invalidates every link already sent.

The key is the ``secret_key`` setting (``TRIALWATCH_SECRET_KEY`` or
``TRIALWATCH_SECRET_KEY_FILE``), at least :data:`MIN_SECRET_BYTES` long. When it is
empty, :func:`resolve_secret` makes a random key once and keeps it in
``.trialwatch-secret`` in the state folder (``TRIALWATCH_STATE_DIR``), so a
single-machine install works without configuration. Installs of before the state
folder kept that file in the working folder: it is moved, not replaced. Deployments with several
machines, or whose state folder is not kept, must set the key.

Confirmation tokens (double opt-in) are different: they carry the random nonce of
one confirmation request (``confirmation_request.nonce``: the choices its mail
described) and the time they were made (itsdangerous timed serializer, salt
``"confirm"``, so an unsubscribe token is never a confirmation token and back),
and expire after :data:`CONFIRM_MAX_AGE`. Tokens mailed before requests existed
carry the subscriber's opaque token instead; they read as an :class:`OpaqueRef`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

from trialwatch.config import MIN_SECRET_BYTES
from trialwatch.errors import ConfigError, InvalidToken

SALT = "unsubscribe"
CONFIRM_SALT = "confirm"
CONFIRM_MAX_AGE = timedelta(days=7)
SECRET_FILE_NAME = ".trialwatch-secret"  # noqa: S105 - a file name, not a password
# subscriber.token: URL-safe base64 (secrets.token_urlsafe), at most the column's 64.
_OPAQUE = re.compile(r"[A-Za-z0-9_-]{1,64}")

log = logging.getLogger("trialwatch.mail")


@dataclass(frozen=True)
class OpaqueRef:
    """A token naming a subscriber by their opaque ``subscriber.token``."""

    token: str


@dataclass(frozen=True)
class LegacyRef:
    """An old-format token: the subscriber's id and the address they had then."""

    subscriber_id: int
    email: str


TokenRef = OpaqueRef | LegacyRef


def make_unsubscribe_token(secret: str, subscriber_token: str) -> str:
    """Return a URL-safe signed token naming the subscriber whose opaque token is given."""
    if not _OPAQUE.fullmatch(subscriber_token):
        raise InvalidToken("a subscriber token must be 1 to 64 URL-safe characters")
    return _serializer(secret).dumps({"t": subscriber_token})


def read_unsubscribe_token(secret: str, token: str) -> TokenRef:
    """Return what a token names, or raise :class:`InvalidToken`."""
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature as exc:
        raise InvalidToken("invalid or tampered unsubscribe token") from exc
    match payload:
        case {"t": str(opaque)} if len(payload) == 1 and _OPAQUE.fullmatch(opaque):
            return OpaqueRef(opaque)
        case [int(subscriber_id), str(email)] if not isinstance(subscriber_id, bool):
            return LegacyRef(subscriber_id, email)
    raise InvalidToken("unsubscribe token has an unexpected payload")


def unsubscribe_url(public_url: str, token: str) -> str:
    """Return the unsubscribe link: ``<public_url>/unsubscribe/<token>``."""
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


@dataclass(frozen=True)
class RequestRef:
    """A confirmation token naming one confirmation request by its nonce."""

    nonce: str


ConfirmRef = RequestRef | OpaqueRef
"""What a confirmation token names: a request, or (mailed before requests) a subscriber."""


class ExpiredToken(InvalidToken):
    """A genuine confirmation token that is older than :data:`CONFIRM_MAX_AGE`."""

    def __init__(self, message: str, ref: ConfirmRef) -> None:
        super().__init__(message)
        self.ref = ref


def make_confirm_token(secret: str, request_nonce: str, now: datetime) -> str:
    """A signed confirmation token for the confirmation request ``request_nonce``, dated ``now``."""
    if not _OPAQUE.fullmatch(request_nonce):
        raise InvalidToken("a request nonce must be 1 to 64 URL-safe characters")
    return _timed_serializer(secret, now).dumps({"r": request_nonce})


def read_confirm_token(
    secret: str, token: str, now: datetime, max_age: timedelta = CONFIRM_MAX_AGE
) -> ConfirmRef:
    """What a confirmation token names, as of ``now``.

    Raises :class:`ExpiredToken` (which carries what it names: the signature is
    genuine) when the token is older than ``max_age``, and :class:`InvalidToken`
    when it is forged, tampered or malformed.
    """
    serializer = _timed_serializer(secret, now)
    try:
        payload = serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        expired = _confirm_payload(serializer.load_payload(exc.payload or b""))
        raise ExpiredToken("this confirmation link has expired", expired) from exc
    except BadSignature as exc:
        raise InvalidToken("invalid or tampered confirmation token") from exc
    return _confirm_payload(payload)


def _confirm_payload(payload: Any) -> ConfirmRef:
    match payload:
        case {"r": str(nonce)} if len(payload) == 1 and _OPAQUE.fullmatch(nonce):
            return RequestRef(nonce)
        case {"c": str(opaque)} if len(payload) == 1 and _OPAQUE.fullmatch(opaque):
            return OpaqueRef(opaque)
    raise InvalidToken("confirmation token has an unexpected payload")


def confirm_url(public_url: str, token: str) -> str:
    """Return the confirmation link: ``<public_url>/confirm/<token>``."""
    return f"{public_url.rstrip('/')}/confirm/{token}"


def manage_url(public_url: str, token: str) -> str:
    """Return the preferences link: ``<public_url>/manage/<token>`` (an unsubscribe token)."""
    return f"{public_url.rstrip('/')}/manage/{token}"


def resolve_secret(configured: str, state_dir: Path, old_dir: Path | None = None) -> str:
    """Return the secret key: ``configured`` if set, else the one kept in ``state_dir``.

    With no configured key, reads ``state_dir/.trialwatch-secret``. When that file
    is missing and ``old_dir`` (the working folder, where the key used to be kept)
    holds one, that key is moved into ``state_dir``, so links already mailed keep
    working. Otherwise a key is created (mode 0600, 32 random bytes, URL-safe
    base64) the first time. Creation is atomic: processes starting together all
    end up with the same key. Raises :class:`~trialwatch.errors.ConfigError` if the
    file cannot be read or written, if others may read it, or if the key is shorter
    than :data:`MIN_SECRET_BYTES`.
    """
    if configured.strip():
        check_secret_length(configured, "TRIALWATCH_SECRET_KEY")
        return configured
    path = state_dir / SECRET_FILE_NAME
    secret = _read_secret(path)
    if secret is None and old_dir is not None:
        secret = _move_old_secret(old_dir / SECRET_FILE_NAME, path)
    if secret is None:
        fresh = secrets.token_urlsafe(32)
        secret = _install_secret(path, fresh)
        if secret == fresh:
            log.info("created a secret key in %s", path)
    return secret


def check_secret_length(secret: str, where: str) -> None:
    """Raise ConfigError (naming ``where``, never the key) if ``secret`` is too short."""
    size = len(secret.encode("utf-8"))
    if size < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{where}: the secret key is {size} bytes, it must be at least"
            f" {MIN_SECRET_BYTES} bytes; make one with"
            " `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


def _serializer(secret: str) -> URLSafeSerializer:
    if not secret:
        raise ConfigError("TRIALWATCH_SECRET_KEY: empty secret key")
    return URLSafeSerializer(secret, salt=SALT)


def _timed_serializer(secret: str, now: datetime) -> URLSafeTimedSerializer:
    """A timed serializer whose clock is ``now`` (both to date and to check tokens)."""
    if not secret:
        raise ConfigError("TRIALWATCH_SECRET_KEY: empty secret key")
    stamp = int(now.timestamp())

    class _Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(secret, salt=CONFIRM_SALT, signer=_Signer)


def _read_secret(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii")
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the secret key ({exc}); set TRIALWATCH_SECRET_KEY"
        ) from exc
    secret = text.strip()
    if not secret:
        raise ConfigError(f"{path}: the secret key file is empty; delete it or set the key")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the secret key file is open to group or others"
            f" (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )
    check_secret_length(secret, str(path))
    return secret


def _move_old_secret(old: Path, path: Path) -> str | None:
    """Move the key kept at ``old`` to ``path``; None if there is none at ``old``."""
    if old.absolute() == path.absolute():
        return None
    secret = _read_secret(old)
    if secret is None:
        return None
    kept = _install_secret(path, secret)
    if kept != secret:  # another process made a key meanwhile: keep both files
        log.warning("secret key not moved from=%s: %s already holds another key", old, path)
        return kept
    try:
        old.unlink()
    except FileNotFoundError:
        pass  # another process moved it too
    except OSError as exc:
        log.warning("secret key copied from=%s to=%s; remove the old file: %s", old, path, exc)
        return kept
    log.warning("secret key moved from=%s to=%s", old, path)
    return kept


def _install_secret(path: Path, secret: str) -> str:
    """Write ``secret`` to ``path`` unless a key is there already; return the key in it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600. Linking it into place fails if
        # another process got there first, so nobody overwrites a key in use.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=SECRET_FILE_NAME, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secret + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                existing = _read_secret(path)
                if existing is None:  # removed in between: unlikely, give up
                    raise ConfigError(f"{path}: secret key file vanished") from None
                return existing
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot create the secret key ({exc.strerror}); set TRIALWATCH_SECRET_KEY"
        ) from exc
    return secret
