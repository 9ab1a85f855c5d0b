"""A live web app on loopback (uvicorn in a thread) over the test database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from tests.support.cli import ROOT
from trialwatch.config import Settings, load_settings
from trialwatch.web.app import create_app

SECRET = "a-web-test-secret-key-that-is-long-enough-0123456789"


@dataclass
class LiveApp:
    """The app served on ``url``; ``client`` speaks real HTTP to it (no cookies kept)."""

    url: str
    settings: Settings
    engine: Engine
    client: httpx.Client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_settings(database_url: str, tmp_path: Path, port: int, **extra: str) -> Settings:
    """Settings of a test web app: its public URL is the loopback address it serves on."""
    return load_settings(
        {
            "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
            "TRIALWATCH_DATABASE_URL": database_url,
            "TRIALWATCH_SECRET_KEY": SECRET,
            "TRIALWATCH_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "TRIALWATCH_MAIL": f"file:{tmp_path / 'outbox'}",
            "TRIALWATCH_STATE_DIR": str(tmp_path),
            "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
            **extra,
        }
    )


@pytest.fixture
def still_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The server's clock stands still mid-window (returned): a burst never straddles two.

    Limits count in fixed windows (15 minutes to a day, each dividing the day); a burst
    sent at hh:59:59 would have its last requests counted afresh in the next window,
    and a test would fail for the clock's sake, not the limiter's.
    """
    now = datetime.now(UTC)
    fixed = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
    fixed += timedelta(minutes=7, seconds=30)
    monkeypatch.setattr("trialwatch.clock.utcnow", lambda: fixed)
    return fixed


@pytest.fixture
def live(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[LiveApp]:
    """The web app over the (empty, migrated) test database, on a loopback port."""
    port = _free_port()
    settings = web_settings(database_url, tmp_path, port)
    yield from serve(settings, engine, port)


def serve(settings: Settings, engine: Engine, port: int) -> Iterator[LiveApp]:
    """Run ``create_app(settings)`` under uvicorn in a thread until the caller is done."""
    config = uvicorn.Config(
        create_app(settings, engine),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        proxy_headers=False,  # as `trialwatch serve`: the app decides whom to believe
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test web server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10, follow_redirects=False) as client:
        try:
            yield LiveApp(url=url, settings=settings, engine=engine, client=client)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = ROOT / "tests" / "artefacts"
"""Screenshots the browser tests save (not committed; CI keeps the folder for a look)."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (headless); skipped only outside CI."""
    import os

    if not CHROMIUM.exists():
        if os.environ.get("TRIALWATCH_REQUIRE_BROWSER") == "1":
            pytest.fail("/usr/bin/chromium is missing but TRIALWATCH_REQUIRE_BROWSER=1")
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()
