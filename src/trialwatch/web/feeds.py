"""The Atom feed of each watchlist: one entry per study per sync run, noise left out.

Entry IDs are tag URIs built from what never changes (the public host, the slug,
the run and the NCT ID), so a reader sees each entry once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from feedgen.feed import FeedGenerator
from starlette.exceptions import HTTPException

from trialwatch.store import views
from trialwatch.store.views import FeedGroup
from trialwatch.web.app import WebContext, context_of

router = APIRouter()
Context = Annotated[WebContext, Depends(context_of)]

ENTRIES = 100
TAG_YEAR = 2026
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def tag_base(public_url: str, slug: str) -> str:
    host = urlsplit(public_url).hostname or "localhost"
    return f"tag:{host},{TAG_YEAR}:trialwatch/{slug}"


def entry_id(base: str, group: FeedGroup) -> str:
    if group.run_id is not None:
        return f"{base}/run/{group.run_id}/{group.nct_id}"
    return f"{base}/change/{group.first_change_id}/{group.nct_id}"


@router.get("/w/{slug}/feed.atom", include_in_schema=False)
def watchlist_feed(slug: str, ctx: Context) -> Response:
    with ctx.session() as session:
        watchlist = views.find_watchlist(session, slug)
        if watchlist is None:
            raise HTTPException(404, f"No watchlist '{slug}'")
        groups = views.feed_groups(session, watchlist.id, limit=ENTRIES)
    site = ctx.settings.public_url.rstrip("/")
    base = tag_base(ctx.settings.public_url, slug)
    feed = FeedGenerator()
    feed.id(base)
    feed.title(f"{watchlist.name}: changes (TrialWatch)")
    feed.subtitle(watchlist.description or f"Changes of the studies of {watchlist.name}")
    feed.link(href=f"{site}/w/{slug}/feed.atom", rel="self", type="application/atom+xml")
    feed.link(href=f"{site}/w/{slug}", rel="alternate", type="text/html")
    feed.language("en")
    feed.generator("TrialWatch")
    newest = max((g.updated for g in groups), default=None)
    feed.updated(newest or watchlist.last_synced_at or datetime(TAG_YEAR, 1, 1, tzinfo=UTC))
    for group in reversed(groups):  # feedgen lists the entries added last first
        entry = feed.add_entry()
        entry.id(entry_id(base, group))
        name = f"{group.acronym} ({group.nct_id})" if group.acronym else group.nct_id
        count = len(group.changes)
        entry.title(f"{name}: {count} change{'s' if count != 1 else ''}")
        entry.updated(group.updated)
        entry.published(min(c.detected_at for c in group.changes))
        entry.link(href=f"{site}/study/{group.nct_id}", rel="alternate", type="text/html")
        entry.summary(group.title)
        entry.content("\n".join(f"- {c.summary}" for c in group.changes), type="text")
    body: bytes = feed.atom_str(pretty=False)
    return Response(body, media_type=ATOM_TYPE)
