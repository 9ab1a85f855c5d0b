"""``trialwatch serve``: the web pages, feeds, JSON API and admin, served by uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from trialwatch.cli.common import load_app


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the web app: watchlist pages, subscriptions, Atom feeds, the JSON API, admin.

    The confirmations it queues are sent by its own background mailer within seconds.
    """
    import uvicorn

    from trialwatch.web.app import create_app

    app = load_app(default_log_level="INFO")
    app.sessions  # noqa: B018 - checks that the database is initialised
    web = create_app(app.settings, app.engine, background_mail=True)
    uvicorn.run(web, host=host, port=port, log_config=None)
