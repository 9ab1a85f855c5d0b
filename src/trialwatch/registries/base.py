"""The seam every registry sits behind: what the jobs may ask of a registry.

A registry adapts its own client, query builder and record parser (for
ClinicalTrials.gov: :mod:`trialwatch.registries.ctgov`) to :class:`Registry`; the
jobs hold a ``Registry`` and never import a registry's modules. Records stay the
registry's own JSON (``Any`` here): only the registry reads inside them.

The record methods that need no connection (``summarise``, ``study_url``,
``diff``) are also reachable by registry name through :mod:`.lookup`, for the
readers that hold a stored record, not an open registry. Not here yet:
``history(id)`` (past versions), which the "every past version" work adds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from trialwatch.config import Settings
    from trialwatch.diff.model import Change
    from trialwatch.trial import TrialSummary
    from trialwatch.watchlists import Criteria

Params = dict[str, str]
"""A request to the registry (for CT.gov: the query parameters of ``GET /studies``)."""


class RecordPage(Protocol):
    """One page of records, in the registry's order."""

    @property
    def number(self) -> int:
        """1-based."""
        ...

    @property
    def studies(self) -> Iterator[Any]:
        """The records, each parsed as it is taken (read once)."""
        ...

    @property
    def total_count(self) -> int | None:
        """How many records the whole search holds, when the registry says (first page)."""
        ...


class Registry(Protocol):
    """One registry, with an open connection to it (its requests are counted).

    Planning is pure (criteria in, the registry's request out); paging and fetching
    ask the registry; the record methods read one record the registry sent.
    """

    @property
    def name(self) -> str:
        """The key of :data:`trialwatch.registries.REGISTRIES` (``"ctgov"``)."""
        ...

    @property
    def request_count(self) -> int:
        """Requests made so far on this connection (retries included)."""
        ...

    @property
    def max_page_size(self) -> int:
        """The largest page the registry serves."""
        ...

    @property
    def ids_per_request(self) -> int:
        """How many record IDs one :meth:`fetch` request may name."""
        ...

    def plan(self, criteria: Criteria, *, updated_since: date | None = None) -> Params:
        """The search that finds the records of ``criteria`` (updated since that day)."""
        ...

    def plan_ids(self, ids: Sequence[str], *, updated_since: date | None = None) -> Params:
        """The request for exactly these records, without any filter of the criteria."""
        ...

    def listing(self, params: Params) -> Params:
        """The same search, asking only each record's ID and last update (a light listing)."""
        ...

    def iter_pages(self, params: Params, *, page_size: int) -> Iterator[RecordPage]:
        """The pages of a search, lazily: one page held at a time."""
        ...

    def fetch(
        self, ids: Sequence[str], *, updated_since: date | None = None, page_size: int | None = None
    ) -> Iterator[RecordPage]:
        """The pages holding the full records of ``ids`` (at most :attr:`ids_per_request`)."""
        ...

    def record_id(self, record: Any) -> str:
        """The registry's ID of a usable record (see :meth:`problem`)."""
        ...

    def last_update(self, record: Any) -> str | None:
        """The day (ISO text) the registry last posted an update of the record, if known."""
        ...

    def problem(self, record: Any) -> str | None:
        """Why a record of a page cannot be stored (one short phrase), or None if it can."""
        ...

    def canonical(self, record: Any) -> bytes:
        """The record as canonical JSON: what is stored and hashed."""
        ...

    def content_hash(self, canonical: bytes) -> str:
        """The hash of a canonical record: an unchanged hash is an unchanged version."""
        ...

    def summarise(self, record: Any) -> TrialSummary:
        """The record as a neutral trial (never fails on the record's content)."""
        ...

    def study_url(self, registry_id: str) -> str:
        """The trial's page on the registry's own site."""
        ...

    def diff(self, old: Any | None, new: Any) -> list[Change]:
        """What changed from one version of a record to the next (``old=None``: a new trial)."""
        ...

    def data_version(self) -> str | None:
        """The registry's data version now (CT.gov ``/version`` ``dataTimestamp``), or None
        for a registry that publishes none (every sync then asks for what moved)."""
        ...


class RegistryOpener(Protocol):
    """How :data:`~trialwatch.registries.REGISTRIES` opens a registry from the settings."""

    def __call__(self, settings: Settings) -> AbstractContextManager[Registry]: ...
