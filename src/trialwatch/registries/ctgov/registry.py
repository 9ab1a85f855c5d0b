"""ClinicalTrials.gov behind the :class:`~trialwatch.registries.base.Registry` seam.

:class:`CtgovRegistry` adapts the client (:mod:`.client`), the query builder
(:mod:`.query`) and the record readers (:mod:`.parse`) to what the jobs ask.
It holds a page source: a :class:`~.client.CtgovClient`, or anything that pages
like one (a benchmark's timing wrapper).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from trialwatch.registries.base import Params
from trialwatch.registries.ctgov import parse, summary
from trialwatch.registries.ctgov.client import MAX_PAGE_SIZE, CtgovClient, Page

if TYPE_CHECKING:
    from trialwatch.config import Settings
    from trialwatch.diff.model import Change
    from trialwatch.trial import TrialSummary
    from trialwatch.watchlists import Criteria

NAME = "ctgov"
# NCT IDs per filter.ids request: each is 11 characters and a comma (sent as %2C),
# so 500 make ~7 KB of query string, under the ~8 KB that servers and proxies
# commonly accept for a request line. One page of 1,000 holds them all.
IDS_PER_REQUEST = 500


class PageSource(Protocol):
    """What the registry needs of the API client (``CtgovClient`` provides it)."""

    @property
    def request_count(self) -> int: ...

    def data_timestamp(self) -> str: ...

    def iter_pages(self, params: Mapping[str, str], *, page_size: int = ...) -> Iterator[Page]: ...


class CtgovRegistry:
    """ClinicalTrials.gov API v2 as a :class:`~trialwatch.registries.base.Registry`.

    A context manager: leaving it closes the client (when it can be closed).
    """

    name = NAME
    max_page_size = MAX_PAGE_SIZE
    ids_per_request = IDS_PER_REQUEST

    def __init__(self, client: PageSource) -> None:
        self.client = client

    @classmethod
    @contextmanager
    def open(cls, settings: Settings) -> Iterator[CtgovRegistry]:
        """The registry with a client as the settings describe it."""
        with CtgovClient(
            settings.api_url,
            timeout=settings.http_timeout,
            max_attempts=settings.max_attempts,
            requests_per_minute=settings.requests_per_minute,
        ) as client:
            yield cls(client)

    @property
    def request_count(self) -> int:
        return self.client.request_count

    # -- planning (pure) ------------------------------------------------------------------

    # ``query`` is imported when first used: it imports ``watchlists``, which imports
    # ``config``, which imports this package for its default URL.

    def plan(self, criteria: Criteria, *, updated_since: date | None = None) -> Params:
        from trialwatch.registries.ctgov.query import build_search_params

        return build_search_params(criteria, updated_since=updated_since)

    def plan_ids(self, ids: Sequence[str], *, updated_since: date | None = None) -> Params:
        from trialwatch.registries.ctgov.query import build_ids_params

        return build_ids_params(ids, updated_since=updated_since)

    def listing(self, params: Params) -> Params:
        from trialwatch.registries.ctgov.query import listing_params

        return listing_params(params, parse.MEMBERSHIP_FIELDS)

    # -- asking ---------------------------------------------------------------------------

    def iter_pages(self, params: Params, *, page_size: int) -> Iterator[Page]:
        return self.client.iter_pages(params, page_size=page_size)

    def fetch(
        self, ids: Sequence[str], *, updated_since: date | None = None, page_size: int | None = None
    ) -> Iterator[Page]:
        if len(ids) > IDS_PER_REQUEST:
            raise ValueError(f"fetch takes at most {IDS_PER_REQUEST} IDs, not {len(ids)}")
        params = self.plan_ids(ids, updated_since=updated_since)
        return self.iter_pages(params, page_size=page_size or MAX_PAGE_SIZE)

    def data_version(self) -> str:
        return self.client.data_timestamp()

    # -- records --------------------------------------------------------------------------

    def record_id(self, record: Any) -> str:
        return parse.nct_id_of(record)

    def last_update(self, record: Any) -> str | None:
        return parse.last_update_of(record)

    def problem(self, record: Any) -> str | None:
        return parse.record_problem(record)

    def canonical(self, record: Any) -> bytes:
        return parse.canonical_json(record)

    def content_hash(self, canonical: bytes) -> str:
        return parse.content_hash(canonical)

    @staticmethod
    def summarise(record: Any) -> TrialSummary:
        return summary.summarise(record)

    @staticmethod
    def study_url(registry_id: str) -> str:
        return summary.study_url(registry_id)

    @staticmethod
    def diff(old: Any | None, new: Any) -> list[Change]:
        from trialwatch.registries.ctgov.differ import diff_records

        return diff_records(old, new)

    # -- context manager ------------------------------------------------------------------

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
