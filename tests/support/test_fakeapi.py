"""End to end over real HTTP: CtgovClient against the fake ClinicalTrials.gov (support/fakeapi)."""

from __future__ import annotations

import copy
import datetime
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fakeapi import BadRequest, FakeCtgov, compile_essie, load_fixture_records
from trialwatch.errors import RegistryBadResponse
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.query import build_ids_params, build_search_params
from trialwatch.watchlists import PHASES, Criteria, load_watchlist_file

ROOT = Path(__file__).resolve().parents[2]
MMN = ["NCT05225675", "NCT06537999", "NCT06742190"]  # the constructed MMN records
RECORDS = load_fixture_records()
ALL_IDS = sorted({r["protocolSection"]["identificationModule"]["nctId"] for r in RECORDS})


@pytest.fixture
def fake() -> Iterator[FakeCtgov]:
    with FakeCtgov(RECORDS) as server:
        yield server


@pytest.fixture
def client(fake: FakeCtgov) -> Iterator[CtgovClient]:
    waits: list[float] = []
    with CtgovClient(fake.base_url, requests_per_minute=0, sleep=waits.append) as ctgov:
        yield ctgov


def ids(studies: Any) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]


def test_it_loads_every_full_fixture_record_once() -> None:
    """Fixture loading unwraps studies-response files, adds constructed/, skips the variant."""
    assert len(RECORDS) == len(ALL_IDS) == 15
    assert set(MMN) <= set(ALL_IDS)
    assert {"NCT03281889", "NCT06388018", "NCT02552212"} <= set(ALL_IDS)


# -- searches ---------------------------------------------------------------------------


def test_it_finds_the_mmn_trials_by_condition(client: CtgovClient) -> None:
    """query.cond "multifocal motor neuropathy" returns the three constructed MMN records."""
    studies = client.iter_studies({"query.cond": '"multifocal motor neuropathy"'})

    assert ids(studies) == MMN


def test_it_finds_the_mmn_watchlist_studies(client: CtgovClient, fake: FakeCtgov) -> None:
    """The shipped MMN watchlist's parameters select the MMN studies, oldest update first."""
    params = build_search_params(load_watchlist_file(ROOT / "config/watchlists/mmn.toml").criteria)

    studies = list(client.iter_studies(params))

    assert ids(studies) == MMN  # 2025-08-12, 2025-09-15, 2025-10-02
    assert fake.requests[-1] == (
        "/api/v2/studies",
        {**params, "pageSize": "1000", "countTotal": "true"},
    )


def test_it_finds_studies_by_intervention_other_name(client: CtgovClient) -> None:
    """query.intr matches intervention names and their otherNames (ARGX-117 = empasiprubart)."""
    params = build_search_params(Criteria(interventions=("ARGX-117",)))

    assert ids(client.iter_studies(params)) == ["NCT05225675", "NCT06742190"]


def test_it_keeps_only_studies_updated_since(client: CtgovClient) -> None:
    """updated_since becomes a LastUpdatePostDate RANGE that the search honours."""
    criteria = Criteria(conditions=("multifocal motor neuropathy",))
    params = build_search_params(criteria, updated_since=datetime.date(2025, 9, 15))

    assert ids(client.iter_studies(params)) == ["NCT06537999", "NCT06742190"]


def test_it_applies_status_phase_and_country_filters(client: CtgovClient) -> None:
    """Statuses, phases and countries all have to match."""
    base = Criteria(conditions=("multifocal motor neuropathy",))

    def search(**filters: tuple[str, ...]) -> list[str]:
        return ids(client.iter_studies(build_search_params(replace(base, **filters))))

    assert search(statuses=("RECRUITING",)) == ["NCT06537999", "NCT06742190"]
    assert search(phases=("PHASE3",)) == ["NCT06742190"]
    assert search(countries=("Netherlands",)) == ["NCT05225675", "NCT06742190"]
    assert search(countries=("United States",), statuses=("RECRUITING",)) == ["NCT06537999"]


def test_it_fetches_known_ids_with_filter_ids(client: CtgovClient) -> None:
    """filter.ids returns exactly the known studies that still exist."""
    params = build_ids_params(["NCT06742190", "NCT00973089", "NCT99999999"])

    assert ids(client.iter_studies(params)) == ["NCT00973089", "NCT06742190"]


def test_it_searches_any_text_with_query_term(client: CtgovClient) -> None:
    """query.term searches the whole record (BasicSearch), whole words, any case."""
    assert ids(client.iter_studies({"query.term": "claseprubart"})) == ["NCT06537999"]
    assert ids(client.iter_studies({"query.term": "claseprub"})) == []


# -- paging -----------------------------------------------------------------------------


def test_it_walks_every_page_of_two_studies(client: CtgovClient, fake: FakeCtgov) -> None:
    """pageSize=2 walks all 15 records in 8 pages, nctId order, totalCount on page 1 only."""
    pages = [(p, list(p.studies)) for p in client.iter_pages({}, page_size=2)]

    assert [len(studies) for _, studies in pages] == [2] * 7 + [1]
    assert [s for _, studies in pages for s in ids(studies)] == ALL_IDS
    assert [p.total_count for p, _ in pages] == [15] + [None] * 7
    sent = [params for path, params in fake.requests]
    assert "pageToken" not in sent[0]
    assert [params["pageToken"] for params in sent[1:]] == [
        p.next_page_token for p, _ in pages[:-1]
    ]


def test_it_answers_pages_in_the_shape_of_the_api(fake: FakeCtgov) -> None:
    """First page: studies, totalCount, nextPageToken; later pages: no totalCount."""
    url = f"{fake.base_url}/studies"
    with httpx.Client() as http:
        first = http.get(url, params={"countTotal": "true", "pageSize": "10"})
        second = http.get(
            url,
            params={
                "countTotal": "true",
                "pageSize": "10",
                "pageToken": first.json()["nextPageToken"],
            },
        )

    assert first.headers["Content-Type"] == "application/json"
    assert list(first.json()) == ["studies", "totalCount", "nextPageToken"]
    assert list(second.json()) == ["studies"]
    assert len(second.json()["studies"]) == 5


def test_it_coerces_a_page_size_over_1000_like_the_spec_says(fake: FakeCtgov) -> None:
    """pageSize=5000 is served as 1000 (the spec: "coerced down to 1,000"); -1 is a 400."""
    url = f"{fake.base_url}/studies"
    with httpx.Client() as http:
        big = http.get(url, params={"pageSize": "5000"})
        negative = http.get(url, params={"pageSize": "-1"})

    assert big.status_code == 200
    assert len(big.json()["studies"]) == 15
    assert negative.status_code == 400
    assert negative.headers["Content-Type"].startswith("text/plain")
    assert "pageSize" in negative.text


def test_it_rejects_a_page_token_of_another_query(fake: FakeCtgov) -> None:
    """A pageToken only works with the parameters of the first page."""
    url = f"{fake.base_url}/studies"
    with httpx.Client() as http:
        token = http.get(url, params={"pageSize": "2"}).json()["nextPageToken"]
        other = http.get(url, params={"pageSize": "2", "query.term": "placebo", "pageToken": token})
        garbage = http.get(url, params={"pageToken": "not-a-token"})

    assert other.status_code == 400
    assert "pageToken" in other.text
    assert garbage.status_code == 400


def test_it_still_serves_a_study_updated_while_paging(client: CtgovClient, fake: FakeCtgov) -> None:
    """Sorted by LastUpdatePostDate, a study updated mid-walk moves to the end and is seen."""
    pages = client.iter_pages({"sort": "LastUpdatePostDate:asc"}, page_size=4)
    first = ids(next(pages).studies)
    moved = fake.get(first[0])
    moved["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-11-27"
    fake.put(moved)

    rest = [nct for page in pages for nct in ids(page.studies)]

    assert rest[-1] == first[0]
    assert len(first) + len(rest) == 16


def test_it_sorts_by_last_update_descending_by_default(fake: FakeCtgov) -> None:
    """A date sort without direction is descending, as the spec documents."""
    with httpx.Client() as http:
        body = http.get(
            f"{fake.base_url}/studies", params={"sort": "LastUpdatePostDate", "pageSize": "3"}
        )

    dates = [
        s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
        for s in body.json()["studies"]
    ]
    assert dates == ["2025-10-02", "2025-09-15", "2025-08-12"]


# -- single study, version ------------------------------------------------------------


def test_it_serves_a_single_study_and_404s_an_unknown_one(client: CtgovClient) -> None:
    """GET /studies/{nctId} returns the stored record; an unknown ID is a 404."""
    record = client.get_study("NCT05225675")

    assert record == next(r for r in RECORDS if ids([r]) == ["NCT05225675"])
    with pytest.raises(RegistryBadResponse) as caught:
        client.get_study("NCT00000001")
    assert caught.value.status_code == 404
    assert "NCT00000001" in str(caught.value)


def test_it_redirects_an_alias_to_the_current_study(client: CtgovClient, fake: FakeCtgov) -> None:
    """An NCT ID found in nctIdAliases is answered with a 301 that the client follows."""
    record = fake.get("NCT06742190")
    record["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT06700000"]
    fake.put(record)

    assert ids([client.get_study("NCT06700000")]) == ["NCT06742190"]
    assert [path for path, _ in fake.requests[-2:]] == [
        "/api/v2/studies/NCT06700000",
        "/api/v2/studies/NCT06742190",
    ]


def test_it_serves_the_version(client: CtgovClient, fake: FakeCtgov) -> None:
    """GET /version has apiVersion and dataTimestamp, as the spec's Version schema."""
    fake.data_timestamp = "2026-12-01T08:00:00"

    assert client.data_timestamp() == "2026-12-01T08:00:00"
    with httpx.Client() as http:
        assert http.get(f"{fake.base_url}/version").json() == {
            "apiVersion": "2.0.5",
            "dataTimestamp": "2026-12-01T08:00:00",
        }


def test_it_sees_records_added_and_removed(client: CtgovClient, fake: FakeCtgov) -> None:
    """put() and remove() change what the next search returns."""
    added = copy.deepcopy(fake.get("NCT06537999"))
    added["protocolSection"]["identificationModule"]["nctId"] = "NCT07000001"
    fake.put(added)
    fake.remove("NCT05225675")

    params = {"query.cond": '"multifocal motor neuropathy"'}
    assert ids(client.iter_studies(params)) == ["NCT06537999", "NCT06742190", "NCT07000001"]


def test_it_moves_the_data_timestamp_when_its_data_changes(fake: FakeCtgov) -> None:
    """A put or remove while serving is a publication: dataTimestamp moves a second on."""
    fake.data_timestamp = "2026-12-01T08:00:00"
    fake.put(fake.get("NCT06537999"))
    assert fake.data_timestamp == "2026-12-01T08:00:01"
    fake.remove("NCT06537999")
    assert fake.data_timestamp == "2026-12-01T08:00:02"


def test_it_serves_only_the_fields_asked_for_nested_as_in_a_full_record(
    fake: FakeCtgov,
) -> None:
    """fields=NCTId,LastUpdatePostDate: each study holds those two pieces, 1000 a page."""
    params = {
        "query.cond": '"multifocal motor neuropathy"',
        "fields": "NCTId,LastUpdatePostDate",
        "pageSize": "1000",
        "countTotal": "true",
    }
    with httpx.Client() as http:
        page = http.get(f"{fake.base_url}/studies", params=params).json()
        only_ids = http.get(f"{fake.base_url}/studies", params={**params, "fields": "NCTId"}).json()
        unknown = http.get(f"{fake.base_url}/studies", params={**params, "fields": "BriefTitle"})

    first = page["studies"][0]
    full = fake.get(first["protocolSection"]["identificationModule"]["nctId"])
    day = full["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    assert first == {
        "protocolSection": {
            "identificationModule": {
                "nctId": full["protocolSection"]["identificationModule"]["nctId"]
            },
            "statusModule": {"lastUpdatePostDateStruct": {"date": day}},
        }
    }
    assert page["totalCount"] == 3 == len(page["studies"])
    assert all(set(s["protocolSection"]) == {"identificationModule"} for s in only_ids["studies"])
    assert unknown.status_code == 400
    assert "not supported by the fake" in unknown.text
    assert [p["fields"] for path, p in fake.requests] == [
        "NCTId,LastUpdatePostDate",
        "NCTId",
        "BriefTitle",
    ]


# -- errors and faults ------------------------------------------------------------------


def test_it_recovers_from_an_injected_500(client: CtgovClient, fake: FakeCtgov) -> None:
    """fail_next(500) answers one request with 500; the client retries and succeeds."""
    fake.fail_next(500, body="Internal Server Error", path_prefix="/studies")

    assert ids(client.iter_studies({"filter.ids": "NCT05225675"})) == ["NCT05225675"]
    assert client.request_count == 2
    assert len(fake.requests) == 2


def test_it_recovers_from_a_dropped_connection(client: CtgovClient, fake: FakeCtgov) -> None:
    """A connection closed without an answer is transient too."""
    fake.drop_connections(1)

    assert client.data_timestamp() == "2026-11-28T09:00:04"
    assert client.request_count == 2


def _get_json(fake: FakeCtgov, path: str, **params: str) -> Any:
    response = httpx.get(fake.base_url + path, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


@pytest.mark.parametrize(("mode", "second"), [("cycle", "loop-B"), ("fresh", "loop-2")])
def test_it_pages_forever_when_told_to_loop_page_tokens(
    fake: FakeCtgov, mode: str, second: str
) -> None:
    """loop_page_tokens serves page 1 again and again with looping (or ever new) tokens."""
    fake.loop_page_tokens(mode)
    first = _get_json(fake, "/studies", pageSize="2", countTotal="true")
    again = _get_json(fake, "/studies", pageSize="2", pageToken=first["nextPageToken"])

    assert (first["totalCount"], ids(again["studies"])) == (15, ids(first["studies"]))
    assert again["nextPageToken"] == second
    fake.loop_page_tokens(None)
    assert "nextPageToken" not in _get_json(fake, "/studies", pageSize="20")


def test_it_appends_raw_records_to_the_first_page(fake: FakeCtgov) -> None:
    """append_to_first_page serves records that put() would refuse, on page 1 only."""
    fake.append_to_first_page({"hasResults": False})
    first = _get_json(fake, "/studies", pageSize="10", countTotal="true")
    second = _get_json(fake, "/studies", pageSize="10", pageToken=first["nextPageToken"])

    assert (len(first["studies"]), first["totalCount"]) == (11, 16)
    assert first["studies"][-1] == {"hasResults": False}
    assert len(second["studies"]) == 5


@pytest.mark.timeout(30)
def test_it_drips_a_body_and_stops_dripping_when_stopped() -> None:
    """drip_body sends headers at once and the body slowly; stop() does not wait for it."""
    fake = FakeCtgov(RECORDS).start()
    fake.drip_body(0.5, path_prefix="/studies")
    with httpx.stream("GET", fake.base_url + "/studies", timeout=5) as response:
        assert response.status_code == 200
        assert next(response.iter_raw()) == b"{"
    started = datetime.datetime.now(datetime.UTC)
    fake.stop()
    assert (datetime.datetime.now(datetime.UTC) - started).total_seconds() < 5


def test_it_honours_an_injected_retry_after(fake: FakeCtgov) -> None:
    """A 429 with Retry-After from the fake makes the client wait that long."""
    waits: list[float] = []
    fake.fail_next(429, times=2, headers={"Retry-After": "7"}, path_prefix="/api/v2/version")

    with CtgovClient(fake.base_url, requests_per_minute=0, sleep=waits.append) as ctgov:
        ctgov.data_timestamp()

    assert waits == [7.0, 7.0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter.advanced": "AREA[Nonsense]x"}, "Unknown search area: Nonsense"),
        ({"bogus": "1"}, "Unknown parameter 'bogus'"),
        ({"filter.overallStatus": "OPEN"}, "Invalid filter.overallStatus value 'OPEN'"),
        ({"query.term": '"unterminated'}, "unterminated quoted phrase"),
    ],
)
def test_it_surfaces_a_400_message(
    client: CtgovClient, params: dict[str, str], message: str
) -> None:
    """The fake's 400 text reaches the caller in RegistryBadResponse, with status_code 400."""
    with pytest.raises(RegistryBadResponse, match="rejected the request \\(400\\)") as caught:
        list(client.iter_studies(params))

    assert message in str(caught.value)
    assert caught.value.status_code == 400


# -- the Essie evaluator ----------------------------------------------------------------


def matching(expression: str, area: str = "BasicSearch") -> list[str]:
    fake = FakeCtgov(RECORDS)
    predicate = compile_essie(expression, area)
    from tests.support.fakeapi import _Doc

    return [nct for nct in ALL_IDS if predicate(_Doc(fake._entries[nct]))]


def test_it_evaluates_essie_boolean_operators() -> None:
    """AND, implicit AND, OR, NOT and parentheses combine as expected."""
    assert matching("MMN AND Germany") == ["NCT06537999"]
    assert matching("MMN Germany") == ["NCT06537999"]
    assert matching("MMN AND NOT (Germany OR Canada)") == ["NCT05225675"]
    assert matching("AREA[Phase]PHASE3 AND AREA[Condition]MMN") == []
    assert matching("AREA[Phase]PHASE3 AND AREA[ConditionSearch]MMN") == ["NCT06742190"]


def test_it_matches_phrases_on_word_boundaries() -> None:
    """A phrase matches whole words in order, not parts of words or across list items."""
    assert matching('"motor neuropathy"', "Condition") == MMN
    assert matching('"motor neuro"', "Condition") == []
    assert matching('"neuropathy MMN"', "ConditionSearch") == []


def test_it_evaluates_date_ranges() -> None:
    """RANGE[a,b] with MIN/MAX compares dates; a partial upper bound covers its month."""
    assert matching("AREA[LastUpdatePostDate]RANGE[2025-09-01,MAX]") == MMN[1:]
    assert matching("AREA[LastUpdatePostDate]RANGE[MIN,2015-08]") == ["NCT00973089"]
    assert matching("AREA[LastUpdatePostDate]RANGE[2025-08-12,2025-09-15]") == MMN[:2]


def test_it_refuses_essie_it_does_not_understand() -> None:
    """Unknown areas, RANGE outside dates and unbalanced parentheses are 400s."""
    for expression in (
        "AREA[Foo]x",
        "AREA[Condition]RANGE[a,b]",
        "(a OR b",
        "a)",
        "COVERAGE[FullMatch]x",
    ):
        with pytest.raises(BadRequest):
            compile_essie(expression)


words = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
)
word_lists = st.lists(words.filter(lambda w: w.strip()), max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(
    conditions=word_lists,
    interventions=word_lists,
    nct_ids=st.lists(st.integers(1, 99_999_999).map(lambda n: f"NCT{n:08d}"), max_size=3).map(
        tuple
    ),
    countries=word_lists,
    phases=st.lists(st.sampled_from(sorted(PHASES)), max_size=2).map(tuple),
)
def test_every_generated_query_is_valid_essie(
    conditions: tuple[str, ...],
    interventions: tuple[str, ...],
    nct_ids: tuple[str, ...],
    countries: tuple[str, ...],
    phases: tuple[str, ...],
) -> None:
    """Whatever the literals, build_search_params produces Essie the evaluator accepts."""
    criteria = Criteria(
        conditions=conditions,
        interventions=interventions,
        nct_ids=nct_ids,
        countries=countries,
        phases=phases,
    )
    if not (conditions or interventions or nct_ids):
        return
    params = build_search_params(criteria, updated_since=datetime.date(2025, 1, 1))
    for name, area in (("query.cond", "ConditionSearch"), ("query.intr", "InterventionSearch")):
        if name in params:
            compile_essie(params[name], area)
    compile_essie(params.get("query.term", "x"))
    compile_essie(params["filter.advanced"])


# -- demo entry point -------------------------------------------------------------------


@pytest.mark.slow
def test_it_runs_as_a_demo_server() -> None:
    """`python tests/support/fakeapi.py --port 0` prints its base URL and serves the fixtures."""
    script = ROOT / "tests" / "support" / "fakeapi.py"
    with subprocess.Popen(
        [sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            base_url = line.rsplit(" ", 1)[-1].strip()
            assert line.startswith(
                "Fake ClinicalTrials.gov serving 15 studies at http://127.0.0.1:"
            )
            with httpx.Client() as http:
                body = http.get(f"{base_url}/studies", params={"countTotal": "true"}).content
            assert orjson.loads(body)["totalCount"] == 15
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
