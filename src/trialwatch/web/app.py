"""The FastAPI application: settings, database, templates, and the routers of each concern."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

import trialwatch
from trialwatch.config import Settings
from trialwatch.jobs.runner import Jobs
from trialwatch.mail.templates import default_template_dir
from trialwatch.store import views
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.web.cache import PublicCache
from trialwatch.web.guard import SiteGuard
from trialwatch.web.mailer import Mailer


@dataclass
class WebContext:
    """What every route needs: settings, the database, the jobs, the page templates."""

    settings: Settings
    engine: Engine
    mailer: Mailer | None = None
    """Sends the transactional mail this process queues (``trialwatch serve``); None in tests."""

    def deliver_soon(self) -> None:
        """A confirmation was just queued: have the mailer send it now (if there is one)."""
        if self.mailer is not None:
            self.mailer.wake()

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session

    @cached_property
    def jobs(self) -> Jobs:
        return Jobs(self.settings, self.engine)

    @cached_property
    def templates(self) -> Jinja2Templates:
        folder = (self.settings.templates or default_template_dir()) / "web"
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=True,  # every value from the registry or a subscriber is data
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.globals["version"] = trialwatch.__version__
        env.globals["public_url"] = self.settings.public_url
        return Jinja2Templates(env=env)

    def data_version(self) -> str:
        """The stored data's version (see :mod:`trialwatch.web.cache`)."""
        with self.session() as session:
            return views.data_version(session)

    def page(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """Render ``templates/web/<name>`` with ``context``."""
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def context_of(request: Request) -> WebContext:
    """The application's :class:`WebContext` (a FastAPI dependency)."""
    return cast(WebContext, request.app.state.ctx)


def create_app(
    settings: Settings, engine: Engine | None = None, *, background_mail: bool = False
) -> FastAPI:
    """The web application over ``settings`` (and ``engine``, made from them if not given).

    ``background_mail`` (``trialwatch serve``): a :class:`~trialwatch.web.mailer.Mailer`
    thread, started and stopped with the app, sends the confirmations it queues.
    """
    ctx = WebContext(settings, engine or make_engine(settings.database_url))
    if background_mail:
        ctx.mailer = Mailer(ctx.jobs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if ctx.mailer is not None:
            ctx.mailer.start()
        try:
            yield
        finally:
            if ctx.mailer is not None:
                ctx.mailer.stop()

    app = FastAPI(
        title="TrialWatch",
        version=trialwatch.__version__,
        description="Watchlists of ClinicalTrials.gov studies: what they hold and what changed.",
        docs_url=None,  # its page loads script from a CDN; /openapi.json stays
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if 300 <= exc.status_code < 400:  # a dependency's redirect (the admin's sign-in)
            return Response(status_code=exc.status_code, headers=exc.headers)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        ctx = context_of(request)
        return ctx.page(request, "error.html", status_code=exc.status_code, message=str(exc.detail))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in _routers():
        app.include_router(router)
    if settings.web_cache:
        app.add_middleware(PublicCache, version=app.state.ctx.data_version)
    app.add_middleware(SiteGuard, public_url=settings.public_url)  # outermost: added last
    return app


def _routers() -> list[Any]:
    """Each concern's router, in the order their paths should match."""
    import importlib

    routers = []
    for name in ("pages", "subscribe", "manage", "feeds", "api", "admin", "admin_outbox"):
        try:
            module = importlib.import_module(f"trialwatch.web.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"trialwatch.web.{name}":
                raise
            continue
        routers.append(module.router)
    return routers
