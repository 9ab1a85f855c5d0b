"""``TRIALWATCH_SMTP_URL``: parsed and checked into :class:`SmtpSettings` (pure).

* ``smtp://user:pass@host:587?starttls=1``: plain connection upgraded by STARTTLS;
* ``smtps://user:pass@host:465``: implicit TLS;
* ``smtp://host:25``: no encryption (a local relay);
* options ``timeout=30`` (seconds to wait for any one reply), ``deadline=60``
  (seconds for a whole transaction: connecting, or one message from MAIL FROM to
  the final reply, however slowly the server trickles its replies), ``verify=0``
  (do not check the server's certificate, for self-signed test servers only) and
  ``local_hostname=NAME`` (the name sent in EHLO). User and password are percent-decoded.

Error messages never include the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from trialwatch.errors import ConfigError

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 60.0
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_OPTIONS = ("starttls", "timeout", "deadline", "verify", "local_hostname")


@dataclass(frozen=True)
class SmtpSettings:
    """A parsed ``TRIALWATCH_SMTP_URL``."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    verify: bool = True
    local_hostname: str | None = None

    @property
    def address(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def display_url(self) -> str:
        """``smtp://host:port`` or ``smtps://host:port``: no user, password or options."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse an ``smtp://`` or ``smtps://`` URL (see the module docs), or raise ConfigError.

    Error messages never include the password.
    """

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"TRIALWATCH_SMTP_URL: {problem} (in {redact(url)})")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise fail("invalid URL or port") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise fail("expected smtp://host:port or smtps://host:port")
    if not parts.hostname:
        raise fail("missing host")
    if parts.path not in ("", "/") or parts.fragment:
        raise fail("unexpected path")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _OPTIONS:
            raise fail(f"unknown option {key!r}; expected {', '.join(_OPTIONS)}")
        options[key] = value
    implicit_tls = parts.scheme == "smtps"
    starttls = _flag(options.get("starttls", "0"), "starttls", fail)
    if implicit_tls and starttls:
        raise fail("starttls=1 does not apply to smtps://, which is TLS from the start")
    timeout = _seconds(options.get("timeout", DEFAULT_TIMEOUT), "timeout", fail)
    deadline = _seconds(options.get("deadline", DEFAULT_DEADLINE), "deadline", fail)
    if parts.password is not None and not parts.username:
        raise fail("a password needs a user name")
    return SmtpSettings(
        host=parts.hostname,
        port=port if port is not None else (465 if implicit_tls else 587 if starttls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=timeout,
        deadline=deadline,
        verify=_flag(options.get("verify", "1"), "verify", fail),
        local_hostname=options.get("local_hostname") or None,
    )


def _seconds(value: str | float, name: str, fail: _Fail) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise fail(f"{name} must be a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise fail(f"{name} must be between 0 and 3600 seconds")
    return seconds


def _flag(value: str, name: str, fail: _Fail) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise fail(f"{name} must be 0 or 1, got {value!r}")


class _Fail(Protocol):
    def __call__(self, problem: str) -> ConfigError: ...


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return "<not a URL>"
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return url.strip()
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in userinfo else ''}@{hostpart}"
