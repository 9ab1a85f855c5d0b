"""CtisClient against the loopback fake CTIS (recorded records), and respx for odd answers."""

from __future__ import annotations

import copy
import email.utils
import itertools
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from tests.support.fakectis import (
    FakeCtis,
    load_fixture_records,
    load_fixture_search_records,
    search_record,
)
from trialwatch import config
from trialwatch.config import load_settings
from trialwatch.errors import (
    ConfigError,
    PageLoop,
    RegistryBadResponse,
    RegistryUnavailable,
    ResultCapExceeded,
)
from trialwatch.registries.ctis import client as ctis_client
from trialwatch.registries.ctis.client import CtisClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ctis"
ARGENX = "2025-523333-26-00"  # trajnovd's retrieve sample
MSD = "2023-505613-24-00"  # ctrdata's demo trial, captured 2024 and 2026
ROCHE = "2025-523726-40-00"  # Gregory's search record (no dossier recorded)
BASE = "https://ctis.test/ctis-public-api"


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


class Stamped(httpx.BaseTransport):
    """A real transport that notes the fake clock and the headers of each request sent."""

    def __init__(self, waits: Waits) -> None:
        self.waits = waits
        self.sent: list[tuple[float, httpx.Request]] = []
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((self.waits.now, request))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def fake() -> Iterator[FakeCtis]:
    records = load_fixture_records()
    with FakeCtis(records, search_records=load_fixture_search_records()) as server:
        yield server


def make_client(base_url: str, waits: Waits, **overrides: Any) -> CtisClient:
    options: dict[str, Any] = {
        "requests_per_minute": 0,
        "max_attempts": 3,
        "sleep": waits.sleep,
        "clock": waits.clock,
        "jitter": lambda: 1.0,  # the top of the jitter range: waits are the backoff ceilings
    }
    options.update(overrides)
    return CtisClient(base_url, **options)


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return data


def fill(fake: FakeCtis, count: int) -> list[str]:
    """Put ``count`` more trials (copies of a recorded one), one published each day of
    2026 from 1 January on; return their numbers, newest first."""
    base = recorded(f"trajnovd_ctis_retrieve_sample_{ARGENX}.json")
    numbers = []
    for i in range(count):
        record = copy.deepcopy(base)
        record["ctNumber"] = number = f"2026-5{i:05d}-10-00"
        day = datetime(2026, 1, 1) + timedelta(days=i)
        fake.put(record, lastPublicationUpdate=day.strftime("%d/%m/%Y"))
        numbers.append(number)
    return numbers[::-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- search and paging ----------------------------------------------------------------


def test_it_pages_over_three_pages_newest_first(fake: FakeCtis, waits: Waits) -> None:
    """Pages 1, 2, 3 of ten are asked for with the same criteria and sort, and end there."""
    for number in fake.ct_numbers():
        fake.remove(number)
    newest_first = fill(fake, 25)

    with make_client(fake.base_url, waits) as client:
        pages = list(client.iter_pages({"medicalCondition": "graves"}, size=10))
        assert client.request_count == 3

    assert [(p.number, len(p.records)) for p in pages] == [(1, 10), (2, 10), (3, 5)]
    assert {(p.total_records, p.total_pages) for p in pages} == {(25, 3)}
    assert [r["ctNumber"] for p in pages for r in p.records] == newest_first
    bodies = [body for _, _, body in fake.requests]
    assert [b["pagination"] for b in bodies] == [{"page": n, "size": 10} for n in (1, 2, 3)]
    assert {orjson.dumps(b["searchCriteria"]) for b in bodies} == {b'{"medicalCondition":"graves"}'}
    assert {orjson.dumps(b["sort"]) for b in bodies} == {
        b'{"property":"lastPublicationUpdate","direction":"DESC"}'
    }


def test_it_yields_the_recorded_search_records(fake: FakeCtis, waits: Waits) -> None:
    """iter_search flattens the pages; a recorded search record is served as recorded."""
    with make_client(fake.base_url, waits) as client:
        records = list(client.iter_search({}))
        found = list(client.iter_search({"number": ROCHE}))

    assert {r["ctNumber"] for r in records} == {ARGENX, MSD, ROCHE}
    assert found == [recorded(f"gregory_search-record_{ROCHE}_captured-2026-07-18.json")]
    assert fake.requests[0][2]["pagination"] == {"page": 1, "size": 100}


def test_the_fake_builds_search_records_from_retrieve_records() -> None:
    """Today's search fields ctrdata laid over its record are kept; the others derived."""
    msd = search_record(recorded(f"ctrdata-demo_CTIS_{MSD}_imported-2026-03-08.json"))
    assert msd["ctStatus"] == 4
    assert msd["trialCountries"] == ["Poland:4", "Belgium:4", "Greece:4"]
    assert msd["sponsor"] == "Merck Sharp & Dohme LLC"
    assert msd["conditions"] == "Fungal infection"
    assert (msd["lastUpdated"], msd["lastPublicationUpdate"]) == ("19/08/2025", "20/08/2025")
    old = search_record(recorded(f"ctrdata-demo_CTIS_{MSD}_imported-2024-06-23.json"))
    assert "trialRegion" not in old  # recorded as text then: not today's type
    assert old["startDateEU"] == "28/04/2021"


def test_it_filters_as_the_criteria_say(fake: FakeCtis, waits: Waits) -> None:
    """Each criterion of the fake narrows the search (a check of the fake itself)."""
    with make_client(fake.base_url, waits) as client:

        def numbers(criteria: dict[str, Any]) -> set[str]:
            return {r["ctNumber"] for r in client.iter_search(criteria)}

        assert numbers({"medicalCondition": "MULTIPLE sclerosis"}) == {ROCHE}
        assert numbers({"containAll": "posaconazole pediatric"}) == {MSD}
        assert numbers({"containAny": "posaconazole ocrelizumab"}) == {MSD, ROCHE}
        assert numbers({"status": [1, 8]}) == {ARGENX}
        assert numbers({"sponsor": "argenx"}) == {ARGENX}


def test_it_refuses_a_search_over_the_10000_cap(fake: FakeCtis, waits: Waits) -> None:
    """totalRecords over 10,000 raises ResultCapExceeded before any record is yielded."""
    fake.report_total(10_001)
    records: list[Any] = []

    with make_client(fake.base_url, waits) as client, pytest.raises(ResultCapExceeded) as caught:
        records.extend(client.iter_search({"containAny": "infection"}))

    assert records == []
    assert isinstance(caught.value, RegistryBadResponse)
    assert (caught.value.total, caught.value.cap) == (10_001, 10_000)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "EU CTIS counts 10,001 trials for this search but lists at most 10,000: "
        "narrow the search so that none is missed"
    )
    assert len(fake.requests) == 1


def test_it_pages_a_search_of_exactly_10000(fake: FakeCtis, waits: Waits) -> None:
    """10,000 is within the cap; paging stops at the first empty page."""
    fake.report_total(10_000)

    with make_client(fake.base_url, waits) as client:
        pages = list(client.iter_pages({}))

    assert [len(p.records) for p in pages] == [3, 0]
    assert pages[0].total_pages == 100


def test_it_stops_when_pages_outgrow_the_first_count(waits: Waits) -> None:
    """A totalPages that keeps growing raises PageLoop, not an endless loop."""
    with respx.mock(base_url=BASE) as api:
        route = api.post("/search")
        route.side_effect = lambda request: httpx.Response(
            200,
            json={
                "pagination": {"totalRecords": 1, "totalPages": 999},
                "data": [{"ctNumber": "x"}],
            },
        )
        with make_client(BASE, waits) as client, pytest.raises(PageLoop) as caught:
            list(client.iter_pages({}, size=1))

    assert route.call_count == 3  # one page, plus PAGE_MARGIN
    assert "page 3 of 999" in str(caught.value)


def test_it_computes_pages_when_totalpages_is_missing(waits: Waits) -> None:
    """Without totalPages the count of pages comes from totalRecords (nextPage unused)."""
    with respx.mock(base_url=BASE) as api:
        answers = iter(
            [
                {"pagination": {"totalRecords": 3, "nextPage": 7}, "data": [{"n": 1}, {"n": 2}]},
                {"pagination": {"totalRecords": 3}, "data": [{"n": 3}]},
            ]
        )
        api.post("/search").mock(
            side_effect=lambda request: httpx.Response(200, json=next(answers))
        )
        with make_client(BASE, waits) as client:
            assert list(client.iter_search({}, size=2)) == [{"n": 1}, {"n": 2}, {"n": 3}]


@pytest.mark.parametrize(
    ("answer", "missing"),
    [
        ({"data": []}, "without a 'pagination'"),
        ({"pagination": {"totalRecords": 0}}, "without a 'data' list"),
        ({"pagination": {"totalRecords": "5"}, "data": []}, "with a bad totalRecords"),
        ([], "without a 'pagination'"),
    ],
)
def test_it_rejects_a_search_answer_of_another_shape(
    waits: Waits, answer: Any, missing: str
) -> None:
    """A search answer without its pagination, data or count is a RegistryBadResponse."""
    with respx.mock(base_url=BASE) as api:
        api.post("/search").respond(json=answer)
        with make_client(BASE, waits) as client, pytest.raises(RegistryBadResponse) as caught:
            client.search({}, 1)

    assert str(caught.value) == f"EU CTIS answered {BASE}/search {missing}"


def test_it_checks_page_and_size_before_asking(waits: Waits) -> None:
    """Pages are 1-based (page 0 answers nothing) and at most 100 records long."""
    with make_client(BASE, waits) as client:
        with pytest.raises(ValueError, match="1-based"):
            client.search({}, 0)
        with pytest.raises(ValueError, match="between 1 and 100"):
            client.search({}, 1, size=101)
        assert client.request_count == 0


# -- faults -----------------------------------------------------------------------------


def test_it_retries_after_the_firewall_refuses(fake: FakeCtis, waits: Waits) -> None:
    """403 (the web application firewall) twice, then an answer: backoff 1 s, 2 s."""
    fake.refuse(times=2)

    with make_client(fake.base_url, waits) as client:
        records = list(client.iter_search({"number": ARGENX}))
        assert client.request_count == 3

    assert [r["ctNumber"] for r in records] == [ARGENX]
    assert waits.waits == [1.0, 2.0]


def test_it_gives_up_in_one_line_when_the_firewall_keeps_refusing(
    fake: FakeCtis, waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    """After max_attempts 403s: RegistryUnavailable naming the firewall; retries logged."""
    fake.refuse(times=5)
    caplog.set_level("INFO", logger="trialwatch.registries.ctis")

    with make_client(fake.base_url, waits) as client, pytest.raises(RegistryUnavailable) as caught:
        client.retrieve(ARGENX)

    assert str(caught.value) == (
        f"EU CTIS is unavailable at {fake.base_url}/retrieve/{ARGENX}: HTTP 403 Forbidden "
        "(refused by its web application firewall) (after 3 attempts)"
    )
    assert len(caplog.records) == 2
    assert "failed (attempt 1 of 3)" in caplog.records[0].getMessage()


def test_it_honours_retry_after_seconds_on_429(fake: FakeCtis, waits: Waits) -> None:
    """A 429 with Retry-After: 7 waits exactly seven seconds (not the backoff), then retries."""
    fake.rate_limit("7")

    with make_client(fake.base_url, waits) as client:
        assert client.retrieve(ARGENX) is not None

    assert waits.waits == [7.0]


def test_it_honours_retry_after_as_an_http_date(fake: FakeCtis, waits: Waits) -> None:
    """A Retry-After HTTP-date is waited for until that moment."""
    when = datetime.now(UTC) + timedelta(seconds=30)
    fake.rate_limit(email.utils.format_datetime(when, usegmt=True), path_prefix="/search")

    with make_client(fake.base_url, waits) as client:
        assert len(list(client.iter_search({}))) == 3

    assert len(waits.waits) == 1
    assert 25.0 < waits.waits[0] <= 30.0


def test_it_gives_up_at_once_when_retry_after_is_too_long(fake: FakeCtis, waits: Waits) -> None:
    """A Retry-After beyond ten minutes is not waited for inside one run."""
    fake.rate_limit("3600")

    with make_client(fake.base_url, waits) as client, pytest.raises(RegistryUnavailable) as caught:
        client.retrieve(ARGENX)

    assert client.request_count == 1
    assert waits.waits == []
    assert "asked to retry after 3600 s" in str(caught.value)


def test_it_retries_a_5xx_and_not_a_400(fake: FakeCtis, waits: Waits) -> None:
    """5xx is transient; any other 4xx is the API's answer, with its status code."""
    fake.fail_next(503)
    with make_client(fake.base_url, waits) as client:
        assert len(list(client.iter_search({}))) == 3

        with pytest.raises(RegistryBadResponse) as caught:
            list(client.iter_search({"phase": "3"}))  # the fake knows no such criterion
        assert client.request_count == 3

    assert caught.value.status_code == 400
    assert str(caught.value) == (
        f"EU CTIS rejected the request to {fake.base_url}/search (400): "
        "searchCriteria 'phase' is not supported by the fake"
    )


def test_an_html_page_with_status_200_is_an_error(fake: FakeCtis, waits: Waits) -> None:
    """A 200 whose body is HTML is a RegistryBadResponse naming the path, not retried."""
    fake.serve_html()

    with make_client(fake.base_url, waits) as client, pytest.raises(RegistryBadResponse) as caught:
        list(client.iter_search({}))

    assert str(caught.value) == (
        f"EU CTIS answered {fake.base_url}/search with an HTML page, not JSON (HTTP 200)"
    )
    assert client.request_count == 1


def test_an_html_body_without_its_content_type_is_an_error(waits: Waits) -> None:
    """A body that starts with '<' is HTML whatever its Content-Type says."""
    with respx.mock(base_url=BASE) as api:
        api.get(f"/retrieve/{ARGENX}").respond(
            content=b"\n<html></html>", headers={"Content-Type": "application/json"}
        )
        with make_client(BASE, waits) as client, pytest.raises(RegistryBadResponse, match="HTML"):
            client.retrieve(ARGENX)


def test_it_serves_the_drift_as_recorded_and_the_client_passes_it_on(
    fake: FakeCtis, waits: Waits
) -> None:
    """ctStatus as text (the old type) and a non-monotonic order are yielded as served."""
    fake.drift()
    fake.swap_neighbours(0)

    with make_client(fake.base_url, waits) as client:
        records = list(client.iter_search({}))

    assert [r["ctNumber"] for r in records] == [ROCHE, ARGENX, MSD]
    assert [r["ctStatus"] for r in records] == [
        "Ongoing, recruiting",
        "Under evaluation",
        "Ongoing, recruiting",
    ]


def test_it_reports_an_unreachable_api_in_one_line(waits: Waits) -> None:
    """Connection refused on every attempt: RegistryUnavailable, 'unreachable'."""
    base = f"http://127.0.0.1:{free_port()}/ctis-public-api"

    with make_client(base, waits) as client, pytest.raises(RegistryUnavailable) as caught:
        client.retrieve(ARGENX)

    message = str(caught.value)
    assert message.startswith(f"EU CTIS is unreachable at {base}/retrieve/{ARGENX}: ")
    assert message.endswith("(after 3 attempts)")
    assert "\n" not in message


def test_a_slow_body_overruns_the_whole_request_deadline(waits: Waits) -> None:
    """A body that keeps coming past ``timeout`` is a transient failure of the attempt."""

    def dripping() -> Iterator[bytes]:
        for _ in range(20):
            time.sleep(0.02)
            yield b" "

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=dripping()))
    with (
        make_client(BASE, waits, transport=transport, timeout=0.05, max_attempts=1) as client,
        pytest.raises(RegistryUnavailable, match="whole-request timeout"),
    ):
        client.retrieve(ARGENX)


# -- retrieve ---------------------------------------------------------------------------


def test_it_retrieves_the_recorded_record(fake: FakeCtis, waits: Waits) -> None:
    """retrieve answers the record as recorded, without the keys ctrdata added."""
    with make_client(fake.base_url, waits) as client:
        record = client.retrieve(MSD)

    stored = recorded(f"ctrdata-demo_CTIS_{MSD}_imported-2026-03-08.json")
    assert record == {k: v for k, v in stored.items() if k not in ("ctrname", "record_last_import")}
    assert fake.requests == [("GET", f"/ctis-public-api/retrieve/{MSD}", None)]


@pytest.mark.parametrize("unknown", ["404", "empty"])
def test_an_unknown_trial_is_none(waits: Waits, unknown: str) -> None:
    """Both reported answers for an unknown number, 404 and 200 {}, give None, at once."""
    with (
        FakeCtis(
            load_fixture_records(), search_records=load_fixture_search_records(), unknown=unknown
        ) as fake,
        make_client(fake.base_url, waits) as client,
    ):
        assert client.retrieve("2025-599999-99-00") is None
        assert client.retrieve(ROCHE) is None  # searchable, but no dossier recorded
        assert client.request_count == 2


def test_it_refuses_something_that_is_not_a_ct_number(waits: Waits) -> None:
    """retrieve validates the number before building a URL path from it."""
    with make_client(BASE, waits) as client, pytest.raises(ValueError, match="not an EU CT"):
        client.retrieve("../search")


def test_a_record_of_another_trial_is_an_error(waits: Waits) -> None:
    """A retrieve that answers another trial's record is never passed on as this one."""
    with respx.mock(base_url=BASE) as api:
        api.get(f"/retrieve/{ARGENX}").respond(json={"ctNumber": MSD})
        with make_client(BASE, waits) as client, pytest.raises(RegistryBadResponse) as caught:
            client.retrieve(ARGENX)

    assert str(caught.value) == f"EU CTIS answered {BASE}/retrieve/{ARGENX} with trial '{MSD}'"


# -- pacing and settings ----------------------------------------------------------------


def test_requests_are_paced_half_a_second_apart(fake: FakeCtis, waits: Waits) -> None:
    """At the default 120 a minute, each request starts 0.5 s after the last one ended."""
    transport = Stamped(waits)
    fill(fake, 150)  # 153 trials: two pages of 100

    with make_client(fake.base_url, waits, transport=transport, requests_per_minute=120) as client:
        list(client.iter_search({}))
        client.retrieve(ARGENX)
        client.retrieve(MSD)

    starts = [stamp for stamp, _ in transport.sent]
    assert len(starts) == 4
    assert [b - a for a, b in itertools.pairwise(starts)] == [0.5, 0.5, 0.5]
    assert waits.waits == [0.5, 0.5, 0.5]  # the first request did not wait
    search = transport.sent[0][1]
    assert search.method == "POST"
    assert search.headers["Content-Type"] == "application/json"
    assert search.headers["User-Agent"].startswith("trialwatch/")


def test_pacing_counts_the_time_already_passed(fake: FakeCtis, waits: Waits) -> None:
    """A request made long after the last one does not wait; 0 a minute never waits."""
    with make_client(fake.base_url, waits, requests_per_minute=60) as client:
        client.retrieve(ARGENX)
        waits.now += 0.25
        client.retrieve(ARGENX)
        waits.now += 5
        client.retrieve(ARGENX)
    assert waits.waits == [0.75]

    with make_client(fake.base_url, Waits()) as unpaced:
        unpaced.retrieve(ARGENX)
        unpaced.retrieve(ARGENX)


def test_the_settings_name_the_clients_default_url() -> None:
    """config owns the CTIS default without importing the client; both agree."""
    assert config.DEFAULT_CTIS_URL == ctis_client.DEFAULT_URL
    settings = load_settings({"TRIALWATCH_CONFIG": "/dev/null"})
    assert (settings.ctis_url, settings.ctis_requests_per_minute) == (ctis_client.DEFAULT_URL, 120)
    moved = load_settings({"TRIALWATCH_CONFIG": "/dev/null", "TRIALWATCH_CTIS_URL": BASE + "/"})
    assert moved.ctis_url == BASE
    with pytest.raises(ConfigError, match="TRIALWATCH_CTIS_URL: must start with http"):
        load_settings({"TRIALWATCH_CONFIG": "/dev/null", "TRIALWATCH_CTIS_URL": "ftp://x"})
