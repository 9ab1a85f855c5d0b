"""A response cache for the public read-only pages, feeds and API, keyed on the data.

Everything under ``/``, ``/w/…``, ``/study/…`` and ``/api/…`` is a function of the
request URL and the stored data, and the data moves only when a sync stores
something or a watchlist is edited. So each response is kept (in this process,
least recently used first out) under its URL and a *data version*: a handful of
``max(id)`` reads on primary keys (:func:`trialwatch.store.views.data_version`),
about 0.1 ms, taken on every request. A new version makes every kept response
stale at once; nothing is ever served from an older version.

The same version, hashed with the URL, is the response's ``ETag``: a feed reader or
browser that sends it back in ``If-None-Match`` gets ``304 Not Modified`` and no body.

A rendered answer is kept only if the data version read before rendering is
still the current one after it (and the one the cache holds): a render that read
the data just before a sync never lands among the answers of the new data.

Only ``GET`` of those paths are kept (HEAD arrives as GET, see
:mod:`trialwatch.web.guard`), only ``200`` responses without ``Set-Cookie``; the
subscription, manage, unsubscribe and admin pages (tokens, CSRF, sessions) are
never cached.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PUBLIC_PREFIXES = ("/w/", "/study/", "/api/")
_KEPT_HEADERS = frozenset({b"content-type", b"content-length", b"cache-control", b"link"})


@dataclass(frozen=True, slots=True)
class _Kept:
    etag: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


def cacheable(path: str) -> bool:
    """Whether responses to ``path`` depend on nothing but the URL and the stored data."""
    return path == "/" or path.startswith(_PUBLIC_PREFIXES)


class PublicCache:
    """ASGI middleware: serve kept public responses while the data version stands."""

    def __init__(self, app: ASGIApp, version: Callable[[], str], *, max_entries: int = 512) -> None:
        self.app = app
        self.version = version
        self.max_entries = max_entries
        self.kept: OrderedDict[bytes, _Kept] = OrderedDict()
        self.kept_version = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not cacheable(scope["path"]):
            await self.app(scope, receive, send)
            return
        version = await anyio.to_thread.run_sync(self.version)
        if version != self.kept_version:  # the data moved: everything kept is stale
            self.kept.clear()
            self.kept_version = version
        key = scope["path"].encode() + b"?" + scope.get("query_string", b"")
        digest = hashlib.blake2b(version.encode() + b"|" + key, digest_size=12).hexdigest()
        etag = b'W/"' + digest.encode() + b'"'
        if Headers(scope=scope).get("if-none-match") == etag.decode():
            await _send(send, 304, [(b"etag", etag)], b"")
            return
        kept = self.kept.get(key)
        if kept is not None:
            self.kept.move_to_end(key)
            await _send(send, 200, [*kept.headers, (b"etag", kept.etag)], kept.body)
            return
        await self.app(scope, receive, self._recording(send, key, etag, version))

    def _recording(self, send: Send, key: bytes, etag: bytes, version: str) -> Send:
        start: Message = {}
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                headers = list(message.get("headers", []))
                if message["status"] == 200 and not any(k == b"set-cookie" for k, _ in headers):
                    message = {**message, "headers": [*headers, (b"etag", etag)]}
                else:
                    start = {}
            elif message["type"] == "http.response.body" and start:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._keep(key, etag, version, start, b"".join(chunks))
            await send(message)

        return wrapped

    async def _keep(
        self, key: bytes, etag: bytes, version: str, start: Message, body: bytes
    ) -> None:
        """Keep a rendered answer, unless the data moved while it was rendered.

        The route read the data at some moment after ``version`` was read; if the
        version is the same now, nothing moved in between and the answer is of
        ``version``. Otherwise a newer answer may already be kept (or be about to be):
        this one is sent, never kept.
        """
        if await anyio.to_thread.run_sync(self.version) != version:
            return
        if version != self.kept_version:
            return
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() in _KEPT_HEADERS]
        self.kept[key] = _Kept(etag, headers, body)
        self.kept.move_to_end(key)
        while len(self.kept) > self.max_entries:
            self.kept.popitem(last=False)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
