"""What every answer of the site goes through: a known host, HEAD as GET, security headers.

- **Host.** A request whose ``Host`` is not the public URL's host is refused with 400
  before any route runs (a loopback public URL accepts every loopback name), so no
  page or link is ever built from a stranger's host name. ``/healthz`` answers any
  host: a container's health check asks by its own name.
- **Redirects** are relative: a ``Location`` naming the request's own host (Starlette's
  trailing-slash redirect builds one) loses its scheme and host.
- **HEAD** is answered by the GET route with the body left out, on every GET route.
- **Headers.** A Content-Security-Policy with no script at all and the styles as they
  are served (inline ``<style>`` blocks), no framing by other sites, ``nosniff``, a
  same-origin referrer (capability URLs of manage and unsubscribe pages must not leak
  to other sites), and HSTS when the public URL is https.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HSTS = "max-age=31536000"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_ANY_HOST = frozenset({"/healthz"})


def host_name(host: str) -> str:
    """The name of a ``Host`` header value, without port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def host_allowed(host: str, public_url: str) -> bool:
    """Whether a request to ``host`` is a request to the site at ``public_url``."""
    name = host_name(host)
    public = (urlsplit(public_url).hostname or "").lower()
    return name == public or (public in _LOOPBACK and name in _LOOPBACK)


def security_headers(public_url: str) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]
    if urlsplit(public_url).scheme == "https":
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def relative_location(location: str, host: str) -> str:
    """``location`` without scheme and host when it names ``host`` (the request's own)."""
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return location
    path = parts.path or "/"
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path + (f"?{parts.query}" if parts.query else "")


class SiteGuard:
    """ASGI middleware: the outermost layer of the web app (see the module docstring)."""

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public_url = public_url
        self.headers = security_headers(public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if scope["path"] not in _ANY_HOST and not host_allowed(host, self.public_url):
            await self._refuse(send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name.decode(), value.decode())
                if "location" in headers:
                    headers["location"] = relative_location(headers["location"], host)
            elif message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, guarded)

    async def _refuse(self, send: Send) -> None:
        body = b"Unknown host: this site answers at its public address only.\n"
        headers = [
            *self.headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
