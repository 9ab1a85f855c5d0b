"""A page of GET /studies read one record at a time: every layout, every chunking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fakeapi import load_fixture_records
from trialwatch.errors import RegistryBadResponse
from trialwatch.registries.ctgov import pages

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ctgov" / "captures"
WHERE = "https://ctgov.test/api/v2/studies"


def read(body: bytes, chunk: int = 65536) -> tuple[list[Any], dict[str, Any]]:
    """The records and the scalars of a body cut into chunks of ``chunk`` bytes."""
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    opening = pages.STUDIES_FIRST.match(pages.head(chunks))
    assert opening is not None
    meta, tail_size = pages.page_tail(pages.tail(chunks), WHERE)
    records = list(
        pages.iter_studies(chunks, head_size=opening.end(), tail_size=tail_size, where=WHERE)
    )
    return records, meta


@pytest.mark.parametrize("chunk", [997, 65536])
@pytest.mark.parametrize("indent", [False, True])
def test_it_reads_real_records_whatever_the_chunks_and_the_whitespace(
    chunk: int, indent: bool
) -> None:
    """Fixture records, compact or pretty-printed, in chunks of any size: the same values."""
    page = {"studies": load_fixture_records(), "totalCount": 99, "nextPageToken": "a-b_c"}
    body = json.dumps(page, indent=2).encode() if indent else orjson.dumps(page)

    records, meta = read(body, chunk)

    assert records == page["studies"]
    assert meta == {"totalCount": 99, "nextPageToken": "a-b_c"}


def test_it_reads_a_real_capture_with_its_scalars() -> None:
    """A recorded API page (fields= subset, pretty-printed): records, totalCount, token."""
    body = (CAPTURES / "search_phelan_limit5_20260811.json").read_bytes()

    records, meta = read(body)

    assert records == orjson.loads(body)["studies"]
    assert len(records) == 5
    assert meta["totalCount"] == 21
    assert meta["nextPageToken"].startswith("ZVt07")


def test_it_reads_an_empty_page() -> None:
    assert read(b'{"studies":[],"totalCount":0}') == ([], {"totalCount": 0})


@pytest.mark.parametrize(
    "studies",
    [
        [{"protocolSection": {"x": '},{"protocolSection":'}}, {"protocolSection": {}}],
        [{"hasResults": True, "protocolSection": {}}, {"protocolSection": {"n": 2}}],
        [{"protocolSection": {}}, {"derivedSection": {}}, 7, {"protocolSection": {"n": 3}}],
        [{"protocolSection": {"a": [{"b": 1}, {"protocolSection": 2}]}}, {"protocolSection": 3}],
    ],
    ids=["key-in-a-string", "another-key-first", "not-records", "nested-key"],
)
def test_it_reads_any_layout_of_the_records(studies: list[Any]) -> None:
    """Keys in strings, other first keys, items that are not records: read as they are."""
    body = orjson.dumps({"studies": studies, "nextPageToken": "t"})
    assert read(body, 5) == (studies, {"nextPageToken": "t"})


def test_it_raises_where_the_json_breaks() -> None:
    """The records before the break are read; the break is a RegistryBadResponse."""
    body = b'{"studies":[{"protocolSection":{}},{"protocolSection":{"n":1 "x"}}],"totalCount":2}'
    chunks = [body]
    _, tail_size = pages.page_tail(body, WHERE)
    records = pages.iter_studies(chunks, head_size=12, tail_size=tail_size, where=WHERE)

    assert next(records) == {"protocolSection": {}}
    with pytest.raises(RegistryBadResponse, match="malformed JSON"):
        next(records)


def test_a_body_without_the_end_of_its_studies_is_malformed() -> None:
    with pytest.raises(RegistryBadResponse, match="malformed JSON"):
        pages.page_tail(b'{"studies":[{"protocolSection":{}}', WHERE)


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='{}[],:"\\ protcolSecin', max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
_records = st.builds(
    lambda first, rest: {"protocolSection": first, **rest},
    _values,
    st.dictionaries(st.sampled_from(["derivedSection", "hasResults", "x"]), _values),
)


@settings(max_examples=200, deadline=None)
@given(
    studies=st.lists(_records | _values, max_size=5),
    chunk=st.integers(1, 64),
    indent=st.booleans(),
)
def test_it_reads_what_orjson_reads(studies: list[Any], chunk: int, indent: bool) -> None:
    """Any records (strings full of brackets, quotes and the key), any chunks: as orjson."""
    page = {"studies": studies, "totalCount": len(studies)}
    body = json.dumps(page, indent=1).encode() if indent else orjson.dumps(page)

    records, meta = read(body, chunk)

    assert records == orjson.loads(body)["studies"]
    assert meta == {"totalCount": len(studies)}
