"""HTTP client of the EU CTIS public API (euclinicaltrials.eu): the only httpx user for CTIS.

The API has no published specification; what is known of it (what ctrdata and
Gregory send and read, checked against recorded answers) is in the registry samples'
README. Three calls are made here:

* ``POST /search`` with ``{"pagination": {"page", "size"}, "searchCriteria", "sort"}``,
  pages 1-based, at most 100 records a page, sorted by ``lastPublicationUpdate``
  newest first. One query lists **at most 10,000** results: a search that counts
  more raises :class:`~trialwatch.errors.ResultCapExceeded` before its first record
  is yielded, never a silently truncated list;
* ``GET /retrieve/{ctNumber}``, the whole public dossier of one trial; an unknown
  number answers 404 or ``200 {}`` (both reported), and both give ``None``.

Every httpx exception is caught here and re-raised as a :mod:`trialwatch.errors` type:

* :class:`~trialwatch.errors.RegistryUnavailable` (transient) when the API stays
  unreachable, slow, refused by its web application firewall (403), rate-limiting
  (429) or failing (5xx) after ``max_attempts``;
* :class:`~trialwatch.errors.RegistryBadResponse` (permanent) for any other 4xx, for
  a 200 whose body is an HTML page (the site's, not the API's) and for JSON that is
  not the shape the calls above answer.

Requests go out one at a time (a lock), at least ``60 / requests_per_minute``
seconds apart (retries included), and are retried with exponential backoff and
full jitter; ``Retry-After`` (seconds or HTTP-date) replaces the computed wait.
Sleep, clock and jitter are injected so that tests never really wait. ``timeout``
bounds each attempt as a whole: the body is streamed and a monotonic deadline is
checked between its chunks.

Over 400 lines because it is the only httpx user for CTIS: pacing, retries, the
request deadline and the checks of each answer are one request's life.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

import trialwatch
from trialwatch.errors import (
    ConfigError,
    PageLoop,
    RegistryBadResponse,
    RegistryUnavailable,
    ResultCapExceeded,
)
from trialwatch.registries.http import describe, one_line, retry_after, url_text

logger = logging.getLogger("trialwatch.registries.ctis")

DEFAULT_URL = "https://euclinicaltrials.eu/ctis-public-api"
NAME = "EU CTIS"  # how messages name the registry
MAX_PAGE_SIZE = 100  # the largest page size its known users verified
RESULT_CAP = 10_000  # the most results one query lists (ctrdata issue 59)
SORT = {"property": "lastPublicationUpdate", "direction": "DESC"}
# A Retry-After longer than this is not worth waiting for inside one sync run: we
# give up at once with RegistryUnavailable and let the next scheduled run try again.
MAX_RETRY_AFTER = 600.0
# Pages allowed beyond what the first page's totalRecords needs: records added while paging.
PAGE_MARGIN = 2
_CT_NUMBER = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}$")  # EU CT number, e.g. 2023-505613-24-00
_TRANSIENT = frozenset({403, 408, 429})  # and every 5xx


@dataclass(frozen=True)
class SearchPage:
    """One page of ``POST /search``: its records, in the API's order, and its counts.

    ``records`` holds the ``data`` items as they came: an item that is not a JSON
    object is passed on for the caller to skip.
    """

    number: int  # 1-based
    records: list[Any]
    total_records: int
    total_pages: int


@dataclass(frozen=True)
class _Answer:
    """A complete HTTP answer, its body read within the deadline."""

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    url: str  # scheme, host and path: no query


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed in a way worth retrying."""

    cause: str  # one line, e.g. "connection refused" or "HTTP 429 Too Many Requests"
    unreachable: bool  # no HTTP answer at all (connect error, timeout, dropped connection)
    retry_after: float | None = None  # seconds, from a Retry-After header


class CtisClient:
    """Synchronous client of ``POST /search`` and ``GET /retrieve/{ctNumber}``.

    CTIS publishes no rate limit, but since 2025 answers 403 (a web application
    firewall) and 429 under load: requests are sent one at a time, each at least
    ``60 / requests_per_minute`` seconds after the previous one ended (0.5 s at the
    default 120, as its known users pace themselves); 0 disables the pacing.
    ``request_count`` counts attempts, retries included.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        requests_per_minute: float = 120.0,
        user_agent: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{NAME} base URL must start with https://: {base_url!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout <= 0 or backoff_initial < 0 or backoff_max < 0 or requests_per_minute < 0:
            raise ValueError("timeout must be positive; backoff and rate limit not negative")
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.request_count = 0
        self._timeout = timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._last_request: float | None = None  # clock reading when the last attempt ended
        self._one_at_a_time = threading.Lock()
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        agent = user_agent or (
            f"trialwatch/{trialwatch.__version__} (+https://github.com/trialwatch/trialwatch)"
        )
        self._http = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": agent, "Accept": "application/json"},
            transport=transport,
        )

    # -- public API ---------------------------------------------------------------

    def search(
        self, criteria: Mapping[str, Any], page: int, size: int = MAX_PAGE_SIZE
    ) -> dict[str, Any]:
        """One page of ``POST /search`` (``page`` 1-based), its answer checked and decoded.

        The answer holds ``pagination`` (``totalRecords``, ``totalPages``, ...) and
        ``data`` (the page's search records). It is returned whatever its
        ``totalRecords``: :meth:`iter_pages` is where the 10,000 cap is enforced.
        """
        if page < 1:
            raise ValueError(f"CTIS pages are 1-based, not {page}")  # page 0 answers nothing
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be between 1 and {MAX_PAGE_SIZE}, not {size}")
        body = {
            "pagination": {"page": page, "size": size},
            "searchCriteria": dict(criteria),
            "sort": SORT,
        }
        answer = self._request("POST", "/search", orjson.dumps(body))
        data = _decode(answer)
        pagination = data.get("pagination") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(pagination, dict):
            raise RegistryBadResponse(f"{NAME} answered {answer.url} without a 'pagination'")
        if not isinstance(data.get("data"), list):
            raise RegistryBadResponse(f"{NAME} answered {answer.url} without a 'data' list")
        if _count(pagination.get("totalRecords")) is None:
            raise RegistryBadResponse(f"{NAME} answered {answer.url} with a bad totalRecords")
        return data

    def iter_pages(
        self, criteria: Mapping[str, Any], *, size: int = MAX_PAGE_SIZE
    ) -> Iterator[SearchPage]:
        """Yield the pages of the search lazily, from page 1 to its last.

        The last page is the one ``totalPages`` names (computed from
        ``totalRecords`` when absent; ``nextPage``, whose type no source confirms,
        is not relied on), or an empty one. A ``totalRecords`` over 10,000 raises
        :class:`ResultCapExceeded` before that page is yielded; more pages than the
        first ``totalRecords`` allows (plus a margin) raise :class:`PageLoop`.
        """
        number = 0
        allowed: int | None = None
        while True:
            number += 1
            page = self._page(self.search(criteria, number, size), number, size)
            if page.total_records > RESULT_CAP:
                raise ResultCapExceeded(
                    f"{NAME} counts {page.total_records:,} trials for this search but lists "
                    f"at most {RESULT_CAP:,}: narrow the search so that none is missed",
                    total=page.total_records,
                    cap=RESULT_CAP,
                )
            if allowed is None:
                allowed = max(1, math.ceil(page.total_records / size)) + PAGE_MARGIN
            last = not page.records or number >= page.total_pages
            yield page
            if last:
                return
            if number >= allowed:
                raise PageLoop(
                    f"{NAME} kept paging at {self.base_url}/search: page {number} of "
                    f"{page.total_pages}, but the first page's count allows at most {allowed}"
                )

    def iter_search(
        self, criteria: Mapping[str, Any], *, size: int = MAX_PAGE_SIZE
    ) -> Iterator[Any]:
        """Yield every search record of every page, in the API's order, one page at a time."""
        for page in self.iter_pages(criteria, size=size):
            yield from page.records

    def retrieve(self, ct_number: str) -> dict[str, Any] | None:
        """The whole public record of one trial (``GET /retrieve/{ctNumber}``), or None.

        None when CTIS has no such trial: it answers 404, or ``200 {}``.
        """
        if not _CT_NUMBER.match(ct_number):
            raise ValueError(f"not an EU CT number: {ct_number!r}")
        answer = self._request("GET", f"/retrieve/{ct_number}", None, not_found_ok=True)
        if answer.status == 404:
            logger.debug("%s has no trial %s (404)", NAME, ct_number)
            return None
        data = _decode(answer)
        if not isinstance(data, dict):
            raise RegistryBadResponse(f"{NAME} answered {answer.url} with JSON that is not a trial")
        if not data:
            logger.debug("%s has no trial %s (an empty record)", NAME, ct_number)
            return None
        number = data.get("ctNumber")
        if number is not None and number != ct_number:
            raise RegistryBadResponse(f"{NAME} answered {answer.url} with trial {number!r}")
        return data

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests and retries -----------------------------------------------------

    def _request(
        self, method: str, path: str, body: bytes | None, *, not_found_ok: bool = False
    ) -> _Answer:
        """The answer of a 2xx, or of a 404 when ``not_found_ok``; raises for the rest."""
        url = self.base_url + path
        with self._one_at_a_time:
            failure = _Failure("no attempt made", unreachable=True)  # replaced by the first
            last_exc: Exception | None = None
            for attempt in range(1, self.max_attempts + 1):
                self._pace()
                self.request_count += 1
                logger.debug("%s %s (attempt %d)", method, url, attempt)
                try:
                    outcome = self._attempt(method, url, body)
                except httpx.UnsupportedProtocol as exc:
                    raise ConfigError(f"{NAME} base URL is not usable: {url}") from exc
                except httpx.TransportError as exc:
                    failure = _Failure(describe(exc, self._timeout), unreachable=True)
                    outcome, last_exc = failure, exc
                except httpx.HTTPError as exc:  # e.g. DecodingError
                    raise RegistryBadResponse(
                        f"{NAME} answered {url} unusably: {one_line(str(exc))}"
                    ) from exc
                finally:
                    self._last_request = self._clock()
                if isinstance(outcome, _Answer):
                    if outcome.status == 404 and not_found_ok:
                        return outcome
                    checked = _check(outcome)
                    if isinstance(checked, _Answer):
                        return checked
                    outcome, last_exc = checked, None
                failure = outcome
                if attempt < self.max_attempts:
                    self._back_off(attempt, failure, url)
        state = "unreachable" if failure.unreachable else "unavailable"
        raise RegistryUnavailable(
            f"{NAME} is {state} at {url}: {failure.cause} (after {self.max_attempts} attempts)"
        ) from last_exc

    def _attempt(self, method: str, url: str, body: bytes | None) -> _Answer | _Failure:
        """One attempt, read whole within ``timeout`` seconds of its start, else a failure."""
        deadline = time.monotonic() + self._timeout
        headers = {"Content-Type": "application/json"} if body is not None else None
        with self._http.stream(method, url, content=body, headers=headers) as streamed:
            chunks: list[bytes] = []
            for chunk in streamed.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    return _Failure(
                        f"response not complete within {self._timeout:g} s "
                        f"(whole-request timeout; {sum(map(len, chunks))} bytes received)",
                        unreachable=True,
                    )
            return _Answer(
                status=streamed.status_code,
                reason=streamed.reason_phrase,
                headers=streamed.headers,
                body=b"".join(chunks),
                url=url_text(streamed.request.url),
            )

    def _back_off(self, attempt: int, failure: _Failure, url: str) -> None:
        if failure.retry_after is not None:
            if failure.retry_after > MAX_RETRY_AFTER:
                raise RegistryUnavailable(
                    f"{NAME} is unavailable at {url}: {failure.cause}, asked to retry after "
                    f"{failure.retry_after:.0f} s (more than {MAX_RETRY_AFTER:.0f} s; "
                    "giving up for now)"
                )
            wait = failure.retry_after
        else:
            ceiling = min(self._backoff_max, self._backoff_initial * 2.0 ** (attempt - 1))
            wait = ceiling * self._jitter()  # "full jitter": uniform in [0, ceiling]
        logger.info(
            "%s request %s failed (attempt %d of %d): %s; retrying in %.1f s",
            NAME,
            url,
            attempt,
            self.max_attempts,
            failure.cause,
            wait,
        )
        self._sleep(wait)

    def _pace(self) -> None:
        """Wait until ``interval`` seconds have passed since the previous attempt ended."""
        if not self._interval or self._last_request is None:
            return
        wait = self._last_request + self._interval - self._clock()
        if wait > 0:
            self._sleep(wait)

    # -- answers ------------------------------------------------------------------

    @staticmethod
    def _page(data: dict[str, Any], number: int, size: int) -> SearchPage:
        """A checked answer of :meth:`search` as a :class:`SearchPage`."""
        pagination = data["pagination"]
        total = _count(pagination.get("totalRecords")) or 0
        pages = _count(pagination.get("totalPages"))
        return SearchPage(
            number=number,
            records=data["data"],
            total_records=total,
            total_pages=math.ceil(total / size) if pages is None else pages,
        )


def _check(answer: _Answer) -> _Answer | _Failure:
    """The answer of a 2xx that is not HTML; a retryable failure for 403/408/429/5xx;
    raise for the rest."""
    status = answer.status
    if 200 <= status < 300:
        content_type = answer.headers.get("Content-Type", "").lower()
        if "text/html" in content_type or answer.body.lstrip()[:1] == b"<":
            raise RegistryBadResponse(
                f"{NAME} answered {answer.url} with an HTML page, not JSON (HTTP {status})",
                status_code=status,
            )
        return answer
    cause = f"HTTP {status} {answer.reason}".rstrip()
    if status in _TRANSIENT or status >= 500:
        if status == 403:
            cause += " (refused by its web application firewall)"
        return _Failure(
            cause,
            unreachable=False,
            retry_after=retry_after(answer.headers.get("Retry-After")),
        )
    message = one_line(answer.body.decode("utf-8", "replace")) or answer.reason or "no message"
    raise RegistryBadResponse(
        f"{NAME} rejected the request to {answer.url} ({status}): {message}", status_code=status
    )


def _count(value: Any) -> int | None:
    """A JSON count: a non-negative int (not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _decode(answer: _Answer) -> Any:
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError as exc:
        raise RegistryBadResponse(
            f"{NAME} answered {answer.url} with malformed JSON: {exc}"
        ) from exc
