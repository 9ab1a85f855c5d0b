"""Public pages: the watchlists, one watchlist's studies and changes, one study's history.

Plain HTML (no JavaScript): semantic tables, GET forms for the filters, next and
previous links. Every list is bounded (50 studies a page, the newest changes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from trialwatch.registries.lookup import DEFAULT_REGISTRY, study_url, summarise
from trialwatch.store import views
from trialwatch.store.changes import list_changes
from trialwatch.watchlists import normalise_nct_id
from trialwatch.web.app import WebContext, context_of
from trialwatch.web.filters import country_filter, status_filter
from trialwatch.words.terms import status_label

router = APIRouter()
Context = Annotated[WebContext, Depends(context_of)]

PAGE_SIZE = 50
RECENT_CHANGES = 30
STUDY_CHANGES = 200


@dataclass(frozen=True)
class Facts:
    """What the pages and the API show of a study's current record."""

    nct_id: str
    title: str
    acronym: str | None
    status: str | None
    phases: list[str]
    sponsor: str | None
    conditions: list[str]
    countries: list[str]
    last_update_posted: str | None
    registry: str = DEFAULT_REGISTRY

    @property
    def url(self) -> str:
        """The study's page on its registry."""
        return study_url(self.registry, self.nct_id)

    @classmethod
    def of_row(cls, row: views.StudyListRow) -> Facts:
        """The facts of a listed study, from its listing columns (no record parsed)."""
        return cls(
            nct_id=row.nct_id,
            title=row.brief_title,
            acronym=row.acronym,
            status=row.overall_status,
            phases=[p for p in row.phases.split(",") if p],
            sponsor=row.lead_sponsor,
            conditions=row.conditions,
            countries=row.countries,
            last_update_posted=row.last_update_posted,
        )


def facts_of(nct_id: str, record_text: str, registry: str = DEFAULT_REGISTRY) -> Facts:
    """The facts of a stored (canonical JSON) record's trial; only the ID if it names none."""
    try:
        record: Any = orjson.loads(record_text)
    except orjson.JSONDecodeError:
        record = None
    trial = summarise(registry, record) if isinstance(record, dict) else None
    if trial is None or not trial.ref.id:
        return Facts(nct_id, "", None, None, [], None, [], [], None, registry)
    return Facts(
        nct_id=nct_id,
        title=trial.title,
        acronym=trial.acronym,
        status=trial.status,
        phases=list(trial.phases),
        sponsor=trial.sponsor,
        conditions=list(trial.conditions),
        countries=list(trial.countries),
        last_update_posted=trial.last_update,
        registry=registry,
    )


def label(value: str | None) -> str:
    """A status code as words (``vocab``): ``RECRUITING`` → ``Recruiting``."""
    return status_label(value) if value else "—"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or "1")
    except ValueError:
        return 1
    return min(max(number, 1), 100_000)


def _render(ctx: WebContext, request: Request, name: str, **context: Any) -> HTMLResponse:
    return ctx.page(request, name, label=label, when=when, **context)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, ctx: Context) -> HTMLResponse:
    with ctx.session() as session:
        watchlists = views.watchlist_rows(session)
    return _render(ctx, request, "index.html", watchlists=watchlists)


@router.get("/w/{slug}", response_class=HTMLResponse, include_in_schema=False)
def watchlist_page(
    request: Request,
    slug: str,
    ctx: Context,
    status: str | None = None,
    country: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    number = _page_number(page)
    status = status_filter((status or "")[:40])
    country = country_filter((country or "")[:100])
    with ctx.session() as session:
        watchlist = views.find_watchlist(session, slug, counted=False)
        if watchlist is None:
            raise HTTPException(404, f"No watchlist '{slug}'")
        rows = views.watchlist_studies(
            session,
            watchlist.id,
            status=status,
            country=country,
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
        by_status = views.watchlist_status_counts(session, watchlist.id)
        if country:
            total = views.count_watchlist_studies(
                session, watchlist.id, status=status, country=country
            )
        else:  # the grouped counts already hold it
            total = by_status.get(status, 0) if status else sum(by_status.values())
        changes = list_changes(session, watchlist_id=watchlist.id, limit=RECENT_CHANGES)
    statuses = sorted(s for s in by_status if s)
    watchlist = dataclasses.replace(watchlist, study_count=sum(by_status.values()))
    studies = [(row, Facts.of_row(row)) for row in rows[:PAGE_SIZE]]
    query = {k: v for k, v in (("status", status), ("country", country)) if v}
    return _render(
        ctx,
        request,
        "watchlist.html",
        watchlist=watchlist,
        studies=studies,
        total=total,
        statuses=statuses,
        status=status or "",
        country=country or "",
        changes=changes,
        page=number,
        first=(number - 1) * PAGE_SIZE + 1,
        prev_query=({**query, "page": number - 1} if number > 1 else None),
        next_query=({**query, "page": number + 1} if len(rows) > PAGE_SIZE else None),
        feed_url=f"{ctx.settings.public_url.rstrip('/')}/w/{slug}/feed.atom",
    )


@router.get("/study/{nct_id}", response_class=HTMLResponse, include_in_schema=False)
def study_page(request: Request, nct_id: str, ctx: Context) -> HTMLResponse:
    nct_id = normalise_nct_id(nct_id[:40])
    with ctx.session() as session:
        study = views.find_study(session, nct_id[:20])
        if study is None:
            raise HTTPException(404, f"No stored study {nct_id[:20]}")
        versions = views.version_rows(session, study.id)
        changes = list_changes(session, study_id=study.id, limit=STUDY_CHANGES)
    return _render(
        ctx,
        request,
        "study.html",
        study=study,
        facts=facts_of(study.nct_id, study.record),
        versions=versions,
        changes=changes,
    )
