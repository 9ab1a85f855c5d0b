"""CtgovClient against respx routes built from recorded API responses."""

from __future__ import annotations

import gzip
import logging
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

import trialwatch
from trialwatch.errors import ConfigError, PageLoop, RegistryBadResponse, RegistryUnavailable
from trialwatch.registries.ctgov.client import CtgovClient

BASE = "https://ctgov.test/api/v2"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ctgov"
CAPTURES = FIXTURES / "captures"
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-28T09:00:04"}


class Waits:
    """An injected sleep that records waits and moves a fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


def make_client(waits: Waits, **overrides: Any) -> CtgovClient:
    options: dict[str, Any] = {
        "requests_per_minute": 0,
        "max_attempts": 3,
        "sleep": waits.sleep,
        "clock": waits.clock,
        "jitter": lambda: 1.0,  # the top of the jitter range: waits are the backoff ceilings
    }
    options.update(overrides)
    return CtgovClient(BASE, **options)


def capture(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- paging ---------------------------------------------------------------------------


def test_it_follows_next_page_tokens_over_three_pages(api: respx.MockRouter, waits: Waits) -> None:
    """Real captured pages are chained by pageToken until a page has no nextPageToken."""
    page2 = api.get(
        "/studies", params={"pageToken": "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4dnDeTsPkw"}
    )
    page2.respond(content=capture("search_phelan_next_20260811.json"))
    page3 = api.get(
        "/studies", params={"pageToken": "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4bmjeauvk_IQ"}
    )
    last = orjson.loads(capture("search_phelan_limit50_20260811.json"))
    page3.respond(json={"studies": last["studies"]})  # a last page: no token, no total
    page1 = api.get("/studies", params={"countTotal": "true"})
    page1.respond(content=capture("search_phelan_limit5_20260811.json"))
    params = {"format": "json", "query.cond": "Phelan-McDermid Syndrome"}

    with make_client(waits) as client:
        pages = list(client.iter_pages(params, page_size=5))

    assert [page.number for page in pages] == [1, 2, 3]
    assert [len(list(page.studies)) for page in pages] == [5, 5, 3]
    assert [page.total_count for page in pages] == [21, None, None]
    assert pages[-1].next_page_token is None
    sent = [dict(route.calls.last.request.url.params) for route in (page1, page2, page3)]
    assert sent[0] == {**params, "pageSize": "5", "countTotal": "true"}
    assert sent[1] == {**params, "pageSize": "5", "pageToken": pages[0].next_page_token}
    assert sent[2] == {**params, "pageSize": "5", "pageToken": pages[1].next_page_token}


def test_it_yields_every_study_of_every_page(api: respx.MockRouter, waits: Waits) -> None:
    """iter_studies flattens the pages into study records, in order."""
    api.get("/studies", params={"pageToken": "t2"}).respond(json={"studies": [{"n": 3}]})
    api.get("/studies", params={"pageToken": "t1"}).respond(
        json={"studies": [], "nextPageToken": "t2"}  # the spec allows an empty page
    )
    api.get("/studies").respond(json={"studies": [{"n": 1}, {"n": 2}], "nextPageToken": "t1"})

    with make_client(waits) as client:
        studies = list(client.iter_studies({"query.term": "x"}, page_size=2))

    assert studies == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_it_fetches_pages_lazily(api: respx.MockRouter, waits: Waits) -> None:
    """The next page is requested only when the caller asks for it."""
    api.get("/studies", params={"pageToken": "t1"}).respond(json={"studies": []})
    first = api.get("/studies").respond(json={"studies": [{"n": 1}], "nextPageToken": "t1"})

    with make_client(waits) as client:
        pages = client.iter_pages({})
        assert list(next(pages).studies) == [{"n": 1}]
        assert client.request_count == 1
        assert first.call_count == 1
        [last] = pages
        assert (last.number, list(last.studies), last.next_page_token) == (2, [], None)
        assert client.request_count == 2


def test_it_parses_a_real_studies_response_with_orjson(api: respx.MockRouter, waits: Waits) -> None:
    """A recorded {"studies": [...]} wrapper comes back as the full record."""
    raw = (FIXTURES / "studies-response-NCT06388018.json").read_bytes()
    api.get("/studies").respond(content=raw, headers={"Content-Type": "application/json"})

    with make_client(waits) as client:
        studies = list(client.iter_studies({"filter.ids": "NCT06388018"}))

    assert studies == orjson.loads(raw)["studies"]
    assert studies[0]["protocolSection"]["identificationModule"]["nctId"] == "NCT06388018"


@pytest.mark.parametrize("page_size", [0, -1, 1001])
def test_it_refuses_page_sizes_the_api_does_not_serve(waits: Waits, page_size: int) -> None:
    """pageSize must be 1..1000 (the API coerces larger values down to 1000)."""
    with make_client(waits) as client, pytest.raises(ValueError, match="page_size"):
        next(client.iter_pages({}, page_size=page_size))


def test_it_rejects_a_page_without_a_studies_list(api: respx.MockRouter, waits: Waits) -> None:
    """A JSON answer without `studies` is a permanent RegistryBadResponse."""
    api.get("/studies").respond(json={"totalCount": 3})

    with make_client(waits) as client, pytest.raises(RegistryBadResponse, match="'studies' list"):
        next(client.iter_pages({}))


def test_it_rejects_malformed_json(api: respx.MockRouter, waits: Waits) -> None:
    """A 200 whose body is not JSON (e.g. a maintenance page) is a RegistryBadResponse."""
    route = api.get("/studies").respond(text="<html>Down for maintenance</html>")

    with make_client(waits) as client, pytest.raises(RegistryBadResponse, match="malformed JSON"):
        next(client.iter_pages({}))
    assert route.call_count == 1


def test_it_reads_total_and_token_after_the_studies_and_parses_records_one_by_one(
    api: respx.MockRouter, waits: Waits
) -> None:
    """The API's layout (studies first, then totalCount and nextPageToken) is streamed:
    the scalars come from the page's tail, the records as they are taken, floats as
    orjson reads them (so a record hashes the same however it was parsed)."""
    body = (
        b'{"studies":[{"n":1,"x":1.10,"s":"a ] in text"},'
        b' {"n":2,"e":1e2,"nested":[[1],[2]]}],\n "totalCount": 2, "nextPageToken":"t]1"}'
    )
    api.get("/studies", params={"pageToken": "t]1"}).respond(json={"studies": []})
    api.get("/studies", params={"countTotal": "true"}).respond(content=body)

    with make_client(waits) as client:
        pages = client.iter_pages({})
        first = next(pages)
        assert (first.total_count, first.next_page_token) == (2, "t]1")
        assert not isinstance(first.studies, list)
        assert list(first.studies) == orjson.loads(body)["studies"]
        assert [list(page.studies) for page in pages] == [[]]


def test_it_parses_a_page_whose_scalars_come_first_whole(
    api: respx.MockRouter, waits: Waits
) -> None:
    """Another layout of the same members is parsed whole, with the same result."""
    api.get("/studies").respond(
        content=b'{"totalCount":1,"studies":[{"n":1}]}', headers={"Content-Type": "text/json"}
    )

    with make_client(waits) as client:
        [page] = client.iter_pages({})
        assert (page.total_count, page.next_page_token, list(page.studies)) == (1, None, [{"n": 1}])


def test_it_passes_on_an_item_that_is_not_an_object(api: respx.MockRouter, waits: Waits) -> None:
    """A studies item that is not an object is the caller's to skip, not the page's end."""
    api.get("/studies").respond(content=b'{"studies":[7,{"n":1}],"totalCount":2}')

    with make_client(waits) as client:
        [page] = client.iter_pages({})
        assert list(page.studies) == [7, {"n": 1}]


def test_it_rejects_a_body_that_breaks_off_inside_the_studies(
    api: respx.MockRouter, waits: Waits
) -> None:
    """Malformed JSON found part-way through the records is a RegistryBadResponse there."""
    api.get("/studies").respond(content=b'{"studies":[{"n":1},{"n":2 "x"}],"totalCount":2}')

    with make_client(waits) as client:
        [page] = client.iter_pages({})
        assert next(page.studies) == {"n": 1}
        with pytest.raises(RegistryBadResponse, match="malformed JSON"):
            next(page.studies)


def test_it_rejects_a_page_with_no_end_to_its_studies(api: respx.MockRouter, waits: Waits) -> None:
    """A body cut short (no closing bracket) is a RegistryBadResponse before any record."""
    api.get("/studies").respond(content=b'{"studies":[{"n":1},{"n":2}')

    with make_client(waits) as client, pytest.raises(RegistryBadResponse, match="malformed JSON"):
        next(client.iter_pages({}))


def test_it_stops_when_the_api_repeats_a_page_token(api: respx.MockRouter, waits: Waits) -> None:
    """A nextPageToken equal to the one just sent would loop forever: it is an error."""
    api.get("/studies", params={"pageToken": "same"}).respond(
        json={"studies": [], "nextPageToken": "same"}
    )
    api.get("/studies").respond(json={"studies": [], "nextPageToken": "same"})

    with (
        make_client(waits) as client,
        pytest.raises(RegistryBadResponse, match="same nextPageToken"),
    ):
        list(client.iter_pages({}))


def test_it_stops_when_page_tokens_cycle(api: respx.MockRouter, waits: Waits) -> None:
    """Tokens A → B → A: the third page would repeat the second; PageLoop, not a loop."""
    api.get("/studies", params={"pageToken": "B"}).respond(
        json={"studies": [], "nextPageToken": "A"}
    )
    api.get("/studies", params={"pageToken": "A"}).respond(
        json={"studies": [], "nextPageToken": "B"}
    )
    api.get("/studies").respond(json={"studies": [], "nextPageToken": "A"})

    with make_client(waits) as client, pytest.raises(PageLoop, match="earlier page"):
        list(client.iter_pages({}))
    assert client.request_count == 3


def test_it_stops_after_the_pages_total_count_allows(api: respx.MockRouter, waits: Waits) -> None:
    """totalCount=12 at pageSize 5 is 3 pages; with the margin of 2, a 6th is never fetched."""
    served = iter(range(1, 100))

    def fresh_token(request: httpx.Request) -> httpx.Response:
        total = {} if "pageToken" in request.url.params else {"totalCount": 12}
        return httpx.Response(
            200, json={"studies": [], "nextPageToken": f"t{next(served)}", **total}
        )

    api.get("/studies").mock(side_effect=fresh_token)

    with make_client(waits) as client, pytest.raises(PageLoop) as caught:
        list(client.iter_pages({}, page_size=5))
    assert client.request_count == 5
    assert "totalCount=12 at pageSize=5 allows at most 5 pages" in str(caught.value)


def test_it_reads_a_gzipped_body_through_the_request_deadline(
    api: respx.MockRouter, waits: Waits
) -> None:
    """The streamed body is decoded like httpx would: gzip answers still parse."""
    body = gzip.compress(orjson.dumps(VERSION))
    api.get("/version").respond(content=body, headers={"Content-Encoding": "gzip"})

    with make_client(waits) as client:
        assert client.data_timestamp() == VERSION["dataTimestamp"]


# -- single study and version ---------------------------------------------------------


def test_it_fetches_a_real_record_with_orjson(api: respx.MockRouter, waits: Waits) -> None:
    """get_study returns the full recorded record, parsed by orjson."""
    raw = (FIXTURES / "NCT04431453.json").read_bytes()
    route = api.get("/studies/NCT04431453").respond(content=raw)

    with make_client(waits) as client:
        record = client.get_study("NCT04431453")

    assert record == orjson.loads(raw)
    assert route.calls.last.request.url.params["format"] == "json"


def test_it_reports_an_unknown_study_as_a_404(api: respx.MockRouter, waits: Waits) -> None:
    """A 404 of get_study is a RegistryBadResponse with status_code 404, not retried."""
    route = api.get("/studies/NCT99999999").respond(404, text="Study not found")

    with make_client(waits) as client, pytest.raises(RegistryBadResponse) as caught:
        client.get_study("NCT99999999")

    assert caught.value.status_code == 404
    assert str(caught.value) == (
        "ClinicalTrials.gov has no study NCT99999999 (404): Study not found"
    )
    assert route.call_count == 1


def test_it_refuses_something_that_is_not_an_nct_id(waits: Waits) -> None:
    """get_study validates the ID before building a URL path from it."""
    with make_client(waits) as client, pytest.raises(ValueError, match="not an NCT ID"):
        client.get_study("../version")


def test_it_reads_the_data_timestamp(api: respx.MockRouter, waits: Waits) -> None:
    """data_timestamp returns dataTimestamp of GET /version."""
    api.get("/version").respond(json=VERSION)

    with make_client(waits) as client:
        assert client.data_timestamp() == "2026-11-28T09:00:04"


def test_it_rejects_a_version_without_data_timestamp(api: respx.MockRouter, waits: Waits) -> None:
    """The spec makes dataTimestamp optional; without it we cannot go on."""
    api.get("/version").respond(json={"apiVersion": "2.0.5"})

    with make_client(waits) as client, pytest.raises(RegistryBadResponse, match="dataTimestamp"):
        client.data_timestamp()


# -- errors and retries ---------------------------------------------------------------


def test_it_surfaces_the_api_message_of_a_400(api: respx.MockRouter, waits: Waits) -> None:
    """A 400 is permanent: not retried, the API's text/plain message on one line."""
    route = api.get("/studies").respond(
        400, text="Invalid filter.advanced:\n  unknown area 'Foo'\n"
    )

    with make_client(waits) as client, pytest.raises(RegistryBadResponse) as caught:
        next(client.iter_pages({"filter.advanced": "AREA[Foo]x"}))

    assert str(caught.value) == (
        "ClinicalTrials.gov rejected the request (400): Invalid filter.advanced: unknown area 'Foo'"
    )
    assert caught.value.status_code == 400
    assert route.call_count == 1
    assert waits.waits == []


def test_it_retries_on_500(api: respx.MockRouter, waits: Waits) -> None:
    """500, 500, 200 succeeds after three requests, with growing backoff waits."""
    route = api.get("/version")
    route.side_effect = [
        httpx.Response(500),
        httpx.Response(500),
        httpx.Response(200, json=VERSION),
    ]

    with make_client(waits, max_attempts=6) as client:
        assert client.data_timestamp() == "2026-11-28T09:00:04"
        assert client.request_count == 3

    assert route.call_count == 3
    assert waits.waits == [1.0, 2.0]


def test_it_keeps_jittered_waits_under_the_exponential_ceiling(
    api: respx.MockRouter, waits: Waits
) -> None:
    """With real jitter each wait lies in [0, min(backoff_max, initial * 2**n)]."""
    api.get("/version").respond(503)

    client = make_client(waits, max_attempts=6, backoff_max=5.0, jitter=random.random)
    with client, pytest.raises(RegistryUnavailable):
        client.data_timestamp()

    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(waits.waits) == len(ceilings)
    assert all(0.0 <= wait <= ceiling for wait, ceiling in zip(waits.waits, ceilings, strict=True))


def test_it_gives_up_on_5xx_after_max_attempts(api: respx.MockRouter, waits: Waits) -> None:
    """A 503 that never ends becomes RegistryUnavailable naming the URL and the cause."""
    route = api.get("/version").respond(503)

    with make_client(waits) as client, pytest.raises(RegistryUnavailable) as caught:
        client.data_timestamp()

    assert str(caught.value) == (
        "ClinicalTrials.gov is unavailable at https://ctgov.test/api/v2/version: "
        "HTTP 503 Service Unavailable (after 3 attempts)"
    )
    assert route.call_count == 3


def test_it_honours_retry_after_seconds_on_429(api: respx.MockRouter, waits: Waits) -> None:
    """A 429 with Retry-After: 1 waits exactly one second (no jitter), then retries."""
    route = api.get("/version")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json=VERSION),
    ]

    with make_client(waits, backoff_initial=30.0) as client:
        client.data_timestamp()

    assert waits.waits == [1.0]


def test_it_honours_retry_after_as_an_http_date(api: respx.MockRouter, waits: Waits) -> None:
    """A Retry-After HTTP-date already past means: retry at once."""
    route = api.get("/version")
    route.side_effect = [
        httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, json=VERSION),
    ]

    with make_client(waits) as client:
        client.data_timestamp()

    assert waits.waits == [0.0]


def test_it_gives_up_at_once_when_retry_after_is_too_long(
    api: respx.MockRouter, waits: Waits
) -> None:
    """A Retry-After beyond ten minutes is not waited for inside one run."""
    route = api.get("/version").respond(429, headers={"Retry-After": "3600"})

    with make_client(waits) as client, pytest.raises(RegistryUnavailable, match="3600 s") as caught:
        client.data_timestamp()

    assert route.call_count == 1
    assert waits.waits == []
    assert "HTTP 429 Too Many Requests" in str(caught.value)


def test_it_really_sleeps_for_retry_after(api: respx.MockRouter) -> None:
    """With the default sleep, Retry-After: 1 really delays the retry by about a second."""
    route = api.get("/version")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json=VERSION),
    ]

    started = time.monotonic()
    with CtgovClient(BASE, requests_per_minute=0) as client:
        client.data_timestamp()

    assert time.monotonic() - started >= 0.9


def test_it_retries_read_timeouts(api: respx.MockRouter, waits: Waits) -> None:
    """A read timeout is transient and retried."""
    route = api.get("/version")
    route.side_effect = [httpx.ReadTimeout("timed out"), httpx.Response(200, json=VERSION)]

    with make_client(waits, timeout=5) as client:
        client.data_timestamp()

    assert route.call_count == 2


def test_it_names_the_timeout_when_giving_up(api: respx.MockRouter, waits: Waits) -> None:
    """Timeouts to the end give a one-line RegistryUnavailable naming the kind of timeout."""
    api.get("/version").mock(side_effect=httpx.ConnectTimeout("timed out"))

    with make_client(waits, timeout=5) as client, pytest.raises(RegistryUnavailable) as caught:
        client.data_timestamp()

    assert str(caught.value) == (
        "ClinicalTrials.gov is unreachable at https://ctgov.test/api/v2/version: "
        "connect timeout after 5 s (after 3 attempts)"
    )


def test_it_gives_up_when_the_connection_is_refused(waits: Waits) -> None:
    """Connection refused on every attempt ends in a one-line RegistryUnavailable."""
    base = f"http://127.0.0.1:{free_port()}/api/v2"
    client = CtgovClient(base, requests_per_minute=0, sleep=waits.sleep, clock=waits.clock)

    with client, pytest.raises(RegistryUnavailable) as caught:
        client.data_timestamp()

    assert str(caught.value) == (
        f"ClinicalTrials.gov is unreachable at {base}/version: connection refused "
        "(after 6 attempts)"
    )
    assert client.request_count == 6
    assert len(waits.waits) == 5
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_it_logs_each_retry_at_info(
    api: respx.MockRouter, waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry logs the attempt number, the cause and the wait (INFO: only the final
    error is a one-line message on a terminal)."""
    route = api.get("/version")
    route.side_effect = [httpx.Response(502), httpx.Response(200, json=VERSION)]

    with (
        caplog.at_level(logging.DEBUG, logger="trialwatch.registries.ctgov"),
        make_client(waits) as client,
    ):
        client.data_timestamp()

    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert retries == [
        "ClinicalTrials.gov request https://ctgov.test/api/v2/version failed "
        "(attempt 1 of 3): HTTP 502 Bad Gateway; retrying in 1.0 s"
    ]
    assert (
        sum(
            r.levelno == logging.DEBUG
            for r in caplog.records
            if r.name == "trialwatch.registries.ctgov"
        )
        == 2
    )


# -- rate limit, headers, configuration -----------------------------------------------


def test_it_spaces_requests_by_the_rate_limit(api: respx.MockRouter, waits: Waits) -> None:
    """At 60 requests/minute with no burst, three requests are one second apart."""
    api.get("/version").respond(json=VERSION)

    with make_client(waits, requests_per_minute=60, burst=1) as client:
        for _ in range(3):
            client.data_timestamp()

    assert waits.waits == [1.0, 1.0]


def test_it_allows_a_burst_then_keeps_the_rate(api: respx.MockRouter, waits: Waits) -> None:
    """With a burst of 3, three requests go at once; the next ones wait one interval each."""
    api.get("/version").respond(json=VERSION)

    with make_client(waits, requests_per_minute=60, burst=3) as client:
        for _ in range(5):
            client.data_timestamp()

    assert waits.waits == [pytest.approx(1.0), pytest.approx(1.0)]


def test_it_counts_time_already_passed_against_the_rate_limit(
    api: respx.MockRouter, waits: Waits
) -> None:
    """Time spent elsewhere between requests shortens the limiter's wait."""
    api.get("/version").respond(json=VERSION)

    with make_client(waits, requests_per_minute=60, burst=1) as client:
        client.data_timestamp()
        waits.now += 0.75
        client.data_timestamp()
        waits.now += 5.0
        client.data_timestamp()

    assert waits.waits == [pytest.approx(0.25)]


def test_it_does_not_limit_when_the_rate_is_zero(api: respx.MockRouter, waits: Waits) -> None:
    """requests_per_minute=0 disables the limiter."""
    api.get("/version").respond(json=VERSION)

    with make_client(waits, requests_per_minute=0) as client:
        for _ in range(5):
            client.data_timestamp()

    assert waits.waits == []


def test_it_sends_a_descriptive_user_agent(api: respx.MockRouter, waits: Waits) -> None:
    """Requests carry trialwatch/<version> and the project URL in User-Agent."""
    route = api.get("/version").respond(json=VERSION)

    with make_client(waits) as client:
        client.data_timestamp()

    assert route.calls.last.request.headers["User-Agent"] == (
        f"trialwatch/{trialwatch.__version__} (+https://github.com/trialwatch/trialwatch)"
    )


def test_it_refuses_a_base_url_that_is_not_http() -> None:
    """A base URL without http(s):// is a configuration error."""
    with pytest.raises(ConfigError, match="base URL"):
        CtgovClient("clinicaltrials.gov/api/v2")
