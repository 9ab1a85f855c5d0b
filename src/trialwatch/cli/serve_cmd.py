"""``trialwatch serve``: the web pages, feeds, JSON API and admin, served by uvicorn."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from trialwatch.cli.common import load_app, out


def listen_url(host: str, port: int) -> str:
    """The address a browser opens: ``http://127.0.0.1:8000``, IPv6 in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


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
    message = f"serving on {listen_url(host, port)} (public URL {app.settings.public_url})"

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # listening now: say where
                out.print(message, markup=False, highlight=False, soft_wrap=True)

    # proxy_headers=False: the app believes X-Forwarded-For from TRIALWATCH_TRUSTED_PROXIES
    # only (uvicorn's default believes any loopback peer).
    config = uvicorn.Config(
        create_app(app.settings, app.engine, background_mail=True),
        host=host,
        port=port,
        log_config=None,
        proxy_headers=False,
    )
    Announcing(config).run()
