"""HTTP client of the ClinicalTrials.gov API v2: the only module of TrialWatch that imports httpx.

Every httpx exception is caught here and re-raised as a :mod:`trialwatch.errors` type:

* :class:`~trialwatch.errors.RegistryUnavailable` (transient) when the API stays
  unreachable, slow, rate-limiting (429) or failing (5xx) after ``max_attempts``;
* :class:`~trialwatch.errors.RegistryBadResponse` (permanent) for any other 4xx, with
  the API's own text/plain message and ``status_code``, and for bodies that are not
  the JSON the spec promises. ``get_study`` of an unknown NCT ID raises it with
  ``status_code=404`` (it is the API's answer, not a mistyped command).

Requests are spaced by a client-side limiter and retried with exponential backoff
and full jitter; ``Retry-After`` (seconds or HTTP-date) replaces the computed wait.
Sleep, clock and jitter are injected so that tests never really wait.

``timeout`` bounds each attempt as a whole, not each socket read: the body is
streamed and a monotonic deadline is checked between chunks, so a server that
drips one byte at a time cannot hold a request open (an attempt that overruns is
a transient failure, retried like a read timeout). Paging stops with
:class:`~trialwatch.errors.PageLoop` when a page token repeats or the pages
outnumber what the first page's ``totalCount`` allows.

Size: over the ~400-line aim because it is the one httpx boundary: paging, retries,
the rate limit and the request deadline all wrap the same request.

Over 400 lines because it is the only httpx user for ClinicalTrials.gov: pacing,
retries, streamed pages and the checks of each answer are one request's life.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

import trialwatch
from trialwatch.errors import ConfigError, PageLoop, RegistryBadResponse, RegistryUnavailable
from trialwatch.registries.ctgov import DEFAULT_API_URL, pages
from trialwatch.registries.http import describe, one_line, retry_after, url_text

logger = logging.getLogger("trialwatch.registries.ctgov")

MAX_PAGE_SIZE = 1000  # spec: pageSize "will be coerced down to 1,000, if greater than that"
# A Retry-After longer than this is not worth waiting for inside one sync run: we
# give up at once with RegistryUnavailable and let the next scheduled run try again.
MAX_RETRY_AFTER = 600.0
# Pages allowed beyond ceil(totalCount / pageSize): records added while paging.
PAGE_MARGIN = 2
# Spec pattern of the nctId path parameter of GET /studies/{nctId}.
_NCT_ID = re.compile(r"^[Nn][Cc][Tt]0*[1-9]\d{0,7}$")


@dataclass(frozen=True)
class Page:
    """One page of ``GET /studies``: its study records, in the API's order.

    ``studies`` is read once: each record is parsed from the page's body as it is
    taken (:mod:`trialwatch.registries.ctgov.pages`), so a page of 1,000 full records is never
    held parsed whole.
    An item that is not a JSON object is passed on for the caller to skip; a body
    that turns out malformed part-way raises :class:`RegistryBadResponse` there.
    """

    number: int  # 1-based
    studies: Iterator[Any]
    next_page_token: str | None
    total_count: int | None  # only on the first page (we always ask countTotal=true)


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed in a way worth retrying."""

    cause: str  # one line, e.g. "connection refused" or "HTTP 503 Service Unavailable"
    unreachable: bool  # no HTTP answer at all (connect error, timeout, dropped connection)
    retry_after: float | None = None  # seconds, from a Retry-After header


class CtgovClient:
    """Synchronous client of ``GET /studies``, ``/studies/{nctId}`` and ``/version``.

    ``requests_per_minute`` is a token bucket (retries included): up to ``burst``
    requests go out at once, then one every ``60 / requests_per_minute`` seconds, so
    no minute sees more than ``burst + requests_per_minute``; 0 disables the limiter. The OpenAPI
    spec (ctg-oas-v2.yaml, 2.0.5) documents neither a rate limit nor a 429; notes on
    the API elsewhere report throttling at about 50 requests per minute per IP
    address, so the default of 40 keeps a margin. A 429 is still handled (retried,
    honouring Retry-After).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        requests_per_minute: float = 40.0,
        burst: int = 5,
        user_agent: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"ClinicalTrials.gov base URL must start with https://: {base_url!r}")
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
        self._burst = max(1, burst)
        self._tokens = float(self._burst)
        self._last_refill: float | None = None
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        agent = user_agent or (
            f"trialwatch/{trialwatch.__version__} (+https://github.com/trialwatch/trialwatch)"
        )
        self._http = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": agent, "Accept": "application/json"},
            # The spec answers GET /studies/{alias} with a 301 to the current NCT ID.
            follow_redirects=True,
            transport=transport,
        )

    # -- public API ---------------------------------------------------------------

    def iter_pages(self, params: Mapping[str, str], *, page_size: int = 1000) -> Iterator[Page]:
        """Yield the pages of ``GET /studies`` lazily, following ``nextPageToken``.

        Only one page is held at a time. ``pageSize``, ``pageToken`` and
        ``countTotal`` are managed here; the other parameters are sent unchanged on
        every page, as the spec requires. A token seen before, or more pages than
        ``ceil(totalCount / page_size) + PAGE_MARGIN``, raises :class:`PageLoop`
        before the next page is fetched.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        base = {
            key: value
            for key, value in params.items()
            if key not in ("pageSize", "pageToken", "countTotal")
        }
        base["pageSize"] = str(page_size)
        token: str | None = None
        seen_tokens: set[str] = set()
        allowed: int | None = None  # pages, from the first page's totalCount
        total: int | None = None
        number = 0
        while True:
            number += 1
            query = dict(base)
            if token is None:
                query["countTotal"] = "true"
            else:
                query["pageToken"] = token
            response = self._get("/studies", query)
            page = self._parse_page(response, number)
            where = url_text(response.request.url)
            del response  # keep only the parsed page alive while the caller works
            next_token = page.next_page_token
            if number == 1 and page.total_count is not None:
                total = page.total_count
                allowed = math.ceil(total / page_size) + PAGE_MARGIN
            held = [page]
            del page
            # Hold no reference while suspended: a local would keep this page alive
            # while the next one is fetched and parsed (two pages in memory).
            yield held.pop()
            if next_token is None:
                return
            if next_token == token:
                raise PageLoop(
                    f"ClinicalTrials.gov returned the same nextPageToken twice at {where}"
                )
            if next_token in seen_tokens:
                raise PageLoop(
                    f"ClinicalTrials.gov page tokens loop at {where}: page {number} "
                    "sent a nextPageToken of an earlier page"
                )
            if allowed is not None and number >= allowed:
                raise PageLoop(
                    f"ClinicalTrials.gov kept paging at {where}: page {number} still has a "
                    f"nextPageToken, but totalCount={total} at pageSize={page_size} allows "
                    f"at most {allowed} pages"
                )
            seen_tokens.add(next_token)
            token = next_token

    def iter_studies(
        self, params: Mapping[str, str], *, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Yield every study record of the search, one page in memory at a time."""
        for page in self.iter_pages(params, page_size=page_size):
            yield from page.studies

    def get_study(self, nct_id: str) -> dict[str, Any]:
        """Return the full record of one study (``GET /studies/{nctId}``).

        An unknown NCT ID raises :class:`RegistryBadResponse` with ``status_code=404``.
        """
        if not _NCT_ID.match(nct_id):
            raise ValueError(f"not an NCT ID: {nct_id!r}")
        response = self._get(
            f"/studies/{nct_id.upper()}",
            {"format": "json"},
            not_found=f"ClinicalTrials.gov has no study {nct_id.upper()} (404)",
        )
        data = _decode(response)
        if not isinstance(data, dict):
            raise RegistryBadResponse(
                f"ClinicalTrials.gov answered {url_text(response.request.url)}"
                " with JSON that is not a study"
            )
        return data

    def data_timestamp(self) -> str:
        """Return the ``dataTimestamp`` of ``GET /version`` (UTC, ``yyyy-MM-dd'T'HH:mm:ss``)."""
        response = self._get("/version", None)
        data = _decode(response)
        stamp = data.get("dataTimestamp") if isinstance(data, dict) else None
        if not isinstance(stamp, str):
            raise RegistryBadResponse(
                f"ClinicalTrials.gov answered {url_text(response.request.url)}"
                " without a dataTimestamp"
            )
        return stamp

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

    def _get(
        self, path: str, params: Mapping[str, str] | None, *, not_found: str | None = None
    ) -> httpx.Response:
        url = self.base_url + path
        failure = _Failure("no attempt made", unreachable=True)  # replaced by the first attempt
        last_exc: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            self._throttle()
            self.request_count += 1
            logger.debug("GET %s %s (attempt %d)", url, dict(params or {}), attempt)
            try:
                response = self._fetch(url, params)
            except httpx.UnsupportedProtocol as exc:
                raise ConfigError(f"ClinicalTrials.gov base URL is not usable: {url}") from exc
            except httpx.TransportError as exc:
                failure = _Failure(describe(exc, self._timeout), unreachable=True)
                last_exc = exc
            except httpx.HTTPError as exc:  # e.g. TooManyRedirects, DecodingError
                raise RegistryBadResponse(
                    f"ClinicalTrials.gov answered {url} unusably: {one_line(str(exc))}"
                ) from exc
            else:
                if isinstance(response, _Failure):  # past the whole-request deadline
                    failure = response
                else:
                    status_failure = _check_status(response, not_found)
                    if status_failure is None:
                        return response
                    failure = status_failure
                last_exc = None
            if attempt == self.max_attempts:
                break
            wait = self._wait_before_retry(attempt, failure, url)
            logger.info(
                "ClinicalTrials.gov request %s failed (attempt %d of %d): %s; retrying in %.1f s",
                url,
                attempt,
                self.max_attempts,
                failure.cause,
                wait,
            )
            self._sleep(wait)
        state = "unreachable" if failure.unreachable else "unavailable"
        raise RegistryUnavailable(
            f"ClinicalTrials.gov is {state} at {url}: {failure.cause} "
            f"(after {self.max_attempts} attempts)"
        ) from last_exc

    def _fetch(self, url: str, params: Mapping[str, str] | None) -> httpx.Response | _Failure:
        """One attempt, read whole within ``timeout`` seconds of its start, else a failure.

        httpx's timeouts apply to each socket read; the deadline here applies to the
        request, checked between the chunks of the streamed body.
        """
        deadline = time.monotonic() + self._timeout
        with self._http.stream("GET", url, params=params) as streamed:
            chunks: list[bytes] = []
            for chunk in streamed.iter_raw():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    return _Failure(
                        f"response not complete within {self._timeout:g} s "
                        f"(whole-request timeout; {sum(map(len, chunks))} bytes received)",
                        unreachable=True,
                    )
            # A complete response, its body kept in the chunks it came in (a page of
            # 1,000 records is ~40 MB: never joined into a second copy); httpx decodes
            # it (gzip) when it is read. The stream is closed.
            return httpx.Response(
                streamed.status_code,
                headers=streamed.headers,
                stream=_Chunks(chunks),
                request=streamed.request,
                extensions={
                    key: value
                    for key, value in streamed.extensions.items()
                    if key in ("reason_phrase", "http_version")
                },
            )

    def _wait_before_retry(self, attempt: int, failure: _Failure, url: str) -> float:
        if failure.retry_after is not None:
            if failure.retry_after > MAX_RETRY_AFTER:
                raise RegistryUnavailable(
                    f"ClinicalTrials.gov is unavailable at {url}: {failure.cause}, "
                    f"asked to retry after {failure.retry_after:.0f} s "
                    f"(more than {MAX_RETRY_AFTER:.0f} s; giving up for now)"
                )
            return failure.retry_after
        ceiling: float = min(self._backoff_max, self._backoff_initial * 2.0 ** (attempt - 1))
        return ceiling * self._jitter()  # "full jitter": uniform in [0, ceiling]

    def _throttle(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._last_refill is not None:
            elapsed = now - self._last_refill
            self._tokens = min(float(self._burst), self._tokens + elapsed / self._interval)
        self._last_refill = now
        if self._tokens < 1.0:
            wait = (1.0 - self._tokens) * self._interval
            self._sleep(wait)
            self._last_refill = now + wait
            self._tokens = 1.0
        self._tokens -= 1.0

    # -- response parsing ---------------------------------------------------------

    @staticmethod
    def _parse_page(response: httpx.Response, number: int) -> Page:
        where = url_text(response.request.url)
        chunks = [chunk for chunk in response.iter_bytes() if chunk]  # decoded, not joined
        opening = pages.STUDIES_FIRST.match(pages.head(chunks))
        if opening:
            meta, tail_size = pages.page_tail(pages.tail(chunks), where)
            studies: Iterator[Any] = pages.iter_studies(
                chunks, head_size=opening.end(), tail_size=tail_size, where=where
            )
        else:
            data = _decode(response, b"".join(chunks))
            listed = data.get("studies") if isinstance(data, dict) else None
            if not isinstance(data, dict) or not isinstance(listed, list):
                raise RegistryBadResponse(
                    f"ClinicalTrials.gov answered {where} without a 'studies' list"
                )
            meta, studies = data, iter(listed)
        token = meta.get("nextPageToken")
        total = meta.get("totalCount")
        if token is not None and (not isinstance(token, str) or not token):
            raise RegistryBadResponse(
                f"ClinicalTrials.gov answered {where} with a bad nextPageToken"
            )
        if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
            raise RegistryBadResponse(f"ClinicalTrials.gov answered {where} with a bad totalCount")
        return Page(number=number, studies=studies, next_page_token=token, total_count=total)


class _Chunks(httpx.SyncByteStream):
    """A body already read, in the chunks it came in."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, []
        yield from chunks


def _check_status(response: httpx.Response, not_found: str | None) -> _Failure | None:
    """Return None for a 2xx, a retryable failure for 429/5xx; raise for the rest."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    response.read()
    cause = f"HTTP {status} {response.reason_phrase}".rstrip()
    if status == 429 or status >= 500:
        return _Failure(
            cause,
            unreachable=False,
            retry_after=retry_after(response.headers.get("Retry-After")),
        )
    message = one_line(response.text) or response.reason_phrase or "no message"
    if status == 404 and not_found is not None:
        prefix = not_found
    else:
        prefix = f"ClinicalTrials.gov rejected the request ({status})"
    raise RegistryBadResponse(f"{prefix}: {message}", status_code=status)


def _decode(response: httpx.Response, body: bytes | None = None) -> Any:
    """The JSON of the response's body (or of ``body``, when it was read already)."""
    try:
        return orjson.loads(response.read() if body is None else body)
    except orjson.JSONDecodeError as exc:
        raise RegistryBadResponse(
            f"ClinicalTrials.gov answered {url_text(response.request.url)}"
            f" with malformed JSON: {exc}"
        ) from exc
