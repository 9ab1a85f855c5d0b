"""Real Chromium opens a page of the live app."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import LiveApp

pytestmark = pytest.mark.slow


def test_chromium_renders_the_not_found_page(live: LiveApp, browser: Any) -> None:
    """Playwright drives Debian's Chromium against the loopback app."""
    page = browser.new_page()
    try:
        page.goto(f"{live.url}/no/such/page")
        assert page.locator("h1").inner_text() == "Not Found"
    finally:
        page.close()
