"""What every registry's HTTP client says and reads alike: one-line messages, transport
failures in words, ``Retry-After``, a URL without its query."""

from __future__ import annotations

import datetime
import email.utils
import re

import httpx

MAX_MESSAGE = 300
"""The longest server text quoted in an error, in characters."""

_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\]\s*")
_TIMEOUTS = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


def one_line(text: str) -> str:
    """``text`` on one line, cut at :data:`MAX_MESSAGE` characters with "…"."""
    line = " ".join(text.split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 1] + "…"
    return line


def describe(exc: httpx.TransportError, timeout: float) -> str:
    """A transport failure in a few words: ``"read timeout after 30 s"``."""
    if isinstance(exc, httpx.TimeoutException):
        return f"{_TIMEOUTS.get(type(exc), 'request')} timeout after {timeout:g} s"
    text = _ERRNO_PREFIX.sub("", one_line(str(exc)))
    if not text:
        return type(exc).__name__
    return text[0].lower() + text[1:].rstrip(".")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def url_text(url: httpx.URL) -> str:
    """The URL without its query (which may be long): ``https://host/api/v2/studies``."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
