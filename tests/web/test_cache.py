"""The public response cache: kept while the data stands, never stale once it moves."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Engine
from starlette.types import Message, Receive, Scope, Send

from tests.factories import change_status, sync_mmn
from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import _free_port, serve, web_settings
from tests.web.seed import ARDA, seed_mmn
from trialwatch.web.cache import PublicCache, cacheable


def test_only_public_read_paths_are_cacheable() -> None:
    """Pages, feeds and the API are kept; token, form and admin pages never are."""
    assert all(cacheable(p) for p in ("/", "/w/mmn", "/study/NCT1", "/w/mmn/feed.atom", "/api/x"))
    assert not any(
        cacheable(p)
        for p in ("/subscribe", "/manage/t", "/unsubscribe/t", "/confirm/t", "/admin", "/healthz")
    )


@pytest.mark.parametrize("path", ["/w/mmn", f"/study/{ARDA}", "/w/mmn/feed.atom"])
def test_a_kept_page_is_replaced_as_soon_as_a_sync_stores_something(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov, path: str
) -> None:
    """The same ETag while nothing moves (304 when sent back); new content after a sync."""
    seed_mmn(engine, fake)
    port = _free_port()
    for live in serve(web_settings(database_url, tmp_path, port), engine, port):
        first = live.client.get(path)
        again = live.client.get(path)
        assert first.status_code == again.status_code == 200
        assert first.headers["etag"] == again.headers["etag"]
        assert again.text == first.text
        unchanged = live.client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert unchanged.status_code == 304
        assert unchanged.content == b""

        change_status(fake, ARDA, "TERMINATED", "2026-11-30")
        sync_mmn(engine, fake)

        after = live.client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != first.headers["etag"]
        assert "Terminated" in after.text
        assert "Terminated" not in first.text


def test_without_the_cache_pages_carry_no_etag(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov
) -> None:
    """TRIALWATCH_WEB_CACHE=false renders every request afresh."""
    seed_mmn(engine, fake)
    port = _free_port()
    settings = web_settings(database_url, tmp_path, port, TRIALWATCH_WEB_CACHE="false")
    for live in serve(settings, engine, port):
        response = live.client.get("/w/mmn")
        assert response.status_code == 200
        assert "etag" not in response.headers


def test_form_pages_are_not_kept(
    engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov
) -> None:
    """The subscription form and the admin login are rendered per request."""
    seed_mmn(engine, fake)
    port = _free_port()
    for live in serve(web_settings(database_url, tmp_path, port), engine, port):
        for path in ("/subscribe", "/admin/login"):
            response = live.client.get(path)
            assert response.status_code == 200
            assert "etag" not in response.headers


def test_a_page_rendered_from_older_data_is_not_kept_under_the_new_version() -> None:
    """A render that read the data before a sync ends after a newer render: it is not kept.

    The first request reads version 1 and renders from the old data; meanwhile a sync
    moves the data (version 2) and a second request renders and keeps the new page.
    When the first render ends, its old page must not replace the new one.
    """
    version = ["1"]
    data = ["old"]
    first_reading = anyio.Event()
    sync_done = anyio.Event()

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        body = data[0].encode()  # what the route read
        if body == b"old":
            first_reading.set()
            await sync_done.wait()  # the sync and the second request happen now
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    cache = PublicCache(inner, version=lambda: version[0])

    async def get() -> bytes:
        chunks: list[bytes] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/w/mmn",
            "query_string": b"",
            "headers": [],
        }
        await cache(scope, receive, send)
        return b"".join(chunks)

    async def scenario() -> list[bytes]:
        got: list[bytes] = []
        async with anyio.create_task_group() as group:

            async def slow() -> None:
                got.append(await get())

            group.start_soon(slow)
            await first_reading.wait()
            version[0], data[0] = "2", "new"
            assert await get() == b"new"
            sync_done.set()
        got.append(await get())
        return got

    results: list[list[bytes]] = []
    # In a thread of its own: the browser tests leave an event loop in this one.
    runner = threading.Thread(target=lambda: results.append(anyio.run(scenario)))
    runner.start()
    runner.join(timeout=10)
    slow_answer, later = results[0]
    assert slow_answer == b"old"
    assert later == b"new"
