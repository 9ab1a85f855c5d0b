"""The JSON API: watchlists, their studies and changes, one study with its history.

Lists are paged by ``limit`` (1..200) and an opaque ``cursor``: each page carries
``next_cursor`` (``null`` on the last page). Errors are ``{"error": "<message>"}``,
the validation errors of the request too (422).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from trialwatch.store import changes as change_store
from trialwatch.store import views
from trialwatch.store.changes import ChangeView
from trialwatch.store.views import StudyListRow
from trialwatch.watchlists import normalise_nct_id
from trialwatch.web.app import WebContext, context_of
from trialwatch.web.filters import country_filter, status_filter
from trialwatch.web.pages import Facts, facts_of


class ApiError(BaseModel):
    """What every error answer of the API holds."""

    error: str = Field(description="What went wrong, in words.")


def validation_message(exc: RequestValidationError) -> str:
    """One line per invalid parameter: ``query.limit: Input should be ...``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class JsonErrorRoute(APIRoute):
    """A route whose request validation errors are ``{"error": ...}`` with status 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return JSONResponse({"error": validation_message(exc)}, status_code=422)

        return route


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError, "description": "A cursor this API did not give out"},
    404: {"model": ApiError, "description": "No such watchlist or study"},
    422: {"model": ApiError, "description": "An invalid parameter"},
}
router = APIRouter(prefix="/api", tags=["api"], route_class=JsonErrorRoute, responses=ERRORS)
Context = Annotated[WebContext, Depends(context_of)]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page (1..200).")]
Cursor = Annotated[
    str | None,
    Query(max_length=500, description="The `next_cursor` of the previous page."),
]


class Watchlist(BaseModel):
    slug: str
    name: str
    description: str
    enabled: bool
    study_count: int = Field(description="Current member studies.")
    last_synced_at: datetime | None
    url: str
    feed_url: str


class WatchlistPage(BaseModel):
    items: list[Watchlist]
    next_cursor: str | None


class StudySummary(BaseModel):
    nct_id: str
    title: str
    acronym: str | None
    status: str | None
    phases: list[str]
    sponsor: str | None
    conditions: list[str]
    countries: list[str]
    last_update_posted: str | None
    last_change_at: datetime | None = None
    url: str = Field(description="The study on ClinicalTrials.gov.")


class StudyPage(BaseModel):
    items: list[StudySummary]
    next_cursor: str | None


class ChangeItem(BaseModel):
    id: int
    nct_id: str
    acronym: str | None
    title: str
    version: int | None
    kind: str
    field: str
    old: Any = None
    new: Any = None
    summary: str
    significance: str
    countries: list[str]
    detected_at: datetime
    watchlist: str | None = Field(description="Set for a change of watchlist membership.")


class ChangePage(BaseModel):
    items: list[ChangeItem]
    next_cursor: str | None


class Version(BaseModel):
    version: int
    content_hash: str
    last_update_posted: str | None
    fetched_at: datetime
    sync_run_id: int | None


class StudyDetail(StudySummary):
    current_version: int
    first_seen_at: datetime
    versions: list[Version] = Field(description="Newest first.")
    changes: list[ChangeItem] = Field(description="Newest first (the newest 200).")


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(400, "invalid cursor: pass the next_cursor of a page") from exc


def _text_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    value = decode_cursor(cursor)
    if not isinstance(value, str):
        raise HTTPException(400, "invalid cursor: pass the next_cursor of a page")
    return value


def _change_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    value = decode_cursor(cursor)
    try:
        at, change_id = value
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(change_id, int):
            raise TypeError(value)
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, "invalid cursor: pass the next_cursor of a page") from exc
    return moment, change_id


def _study(row: StudyListRow) -> StudySummary:
    facts = Facts.of_row(row)
    return StudySummary(
        nct_id=row.nct_id,
        title=facts.title,
        acronym=facts.acronym,
        status=facts.status,
        phases=facts.phases,
        sponsor=facts.sponsor,
        conditions=facts.conditions,
        countries=facts.countries,
        last_update_posted=facts.last_update_posted,
        last_change_at=row.last_change_at,
        url=facts.url,
    )


def _change(view: ChangeView) -> ChangeItem:
    return ChangeItem(**view.__dict__)


def _watchlist_id(ctx: WebContext, slug: str) -> int:
    with ctx.session() as session:
        watchlist = views.find_watchlist(session, slug)
    if watchlist is None:
        raise HTTPException(404, f"no watchlist '{slug}'")
    return watchlist.id


@router.get("/watchlists", summary="The watchlists")
def list_watchlists(ctx: Context, limit: Limit = 50, cursor: Cursor = None) -> WatchlistPage:
    after = _text_cursor(cursor)
    with ctx.session() as session:
        rows = views.watchlist_rows(session, after=after, limit=limit + 1)
    site = ctx.settings.public_url.rstrip("/")
    items = [
        Watchlist(
            slug=w.slug,
            name=w.name,
            description=w.description,
            enabled=w.enabled,
            study_count=w.study_count,
            last_synced_at=w.last_synced_at,
            url=f"{site}/w/{w.slug}",
            feed_url=f"{site}/w/{w.slug}/feed.atom",
        )
        for w in rows[:limit]
    ]
    more = len(rows) > limit
    return WatchlistPage(items=items, next_cursor=encode_cursor(items[-1].slug) if more else None)


@router.get("/watchlists/{slug}/studies", summary="A watchlist's current studies, by NCT ID")
def list_studies(
    ctx: Context,
    slug: str,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[
        str | None,
        Query(max_length=40, description="An overall status: RECRUITING, recruiting, …"),
    ] = None,
    country: Annotated[
        str | None,
        Query(max_length=100, description="A site country: a name, code or alias (NL)."),
    ] = None,
) -> StudyPage:
    after = _text_cursor(cursor)
    watchlist_id = _watchlist_id(ctx, slug)
    with ctx.session() as session:
        rows = views.watchlist_studies(
            session,
            watchlist_id,
            status=status_filter(status),
            country=country_filter(country),
            after=after,
            limit=limit + 1,
        )
    items = [_study(row) for row in rows[:limit]]
    more = len(rows) > limit
    return StudyPage(items=items, next_cursor=encode_cursor(items[-1].nct_id) if more else None)


@router.get("/watchlists/{slug}/changes", summary="A watchlist's changes, newest first")
def list_changes(
    ctx: Context,
    slug: str,
    limit: Limit = 50,
    cursor: Cursor = None,
    since: Annotated[
        date | None, Query(description="Only changes detected on or after this day (UTC).")
    ] = None,
    significance: Annotated[
        Literal["major", "minor", "all"],
        Query(description="'major', 'minor' (major and minor) or 'all' (noise too)."),
    ] = "minor",
) -> ChangePage:
    before = _change_cursor(cursor)
    watchlist_id = _watchlist_id(ctx, slug)
    start = datetime.combine(since, time(0), tzinfo=UTC) if since else None
    with ctx.session() as session:
        rows = change_store.list_changes(
            session,
            watchlist_id=watchlist_id,
            since=start,
            significance=significance,
            before=before,
            limit=limit + 1,
        )
    items = [_change(view) for view in rows[:limit]]
    more = len(rows) > limit
    last = items[-1] if items else None
    token = encode_cursor([last.detected_at.isoformat(), last.id]) if more and last else None
    return ChangePage(items=items, next_cursor=token)


@router.get("/studies/{nct_id}", summary="A study: its current summary, versions and changes")
def get_study(ctx: Context, nct_id: str) -> StudyDetail:
    nct_id = normalise_nct_id(nct_id[:40])
    with ctx.session() as session:
        study = views.find_study(session, nct_id[:20])
        if study is None:
            raise HTTPException(404, f"no stored study {nct_id[:20]}")
        versions = views.version_rows(session, study.id)
        changes = change_store.list_changes(
            session, study_id=study.id, significance="all", limit=200
        )
    facts = facts_of(study.nct_id, study.record)
    return StudyDetail(
        nct_id=study.nct_id,
        title=facts.title or study.brief_title,
        acronym=facts.acronym,
        status=facts.status,
        phases=facts.phases,
        sponsor=facts.sponsor,
        conditions=facts.conditions,
        countries=facts.countries,
        last_update_posted=facts.last_update_posted,
        last_change_at=changes[0].detected_at if changes else None,
        url=facts.url,
        current_version=study.current_version,
        first_seen_at=study.first_seen_at,
        versions=[Version(**v.__dict__) for v in versions],
        changes=[_change(c) for c in changes],
    )
