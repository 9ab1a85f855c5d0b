"""``trialwatch serve``: the web pages, feeds, JSON API and admin, served by uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from trialwatch.cli.common import load_app


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the web app: watchlist pages, subscriptions, Atom feeds, the JSON API, admin."""
    import uvicorn

    from trialwatch.web.app import create_app

    app = load_app(default_log_level="INFO")
    app.sessions  # noqa: B018 - checks that the database is initialised
    # proxy_headers=False: the app believes X-Forwarded-For from TRIALWATCH_TRUSTED_PROXIES
    # only (uvicorn's default would believe any loopback peer).
    uvicorn.run(
        create_app(app.settings, app.engine),
        host=host,
        port=port,
        log_config=None,
        proxy_headers=False,
    )
