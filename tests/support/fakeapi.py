"""A fake ClinicalTrials.gov API v2 on loopback: real HTTP, for tests, benchmarks and demos.

It serves, in the shape of the OpenAPI spec (``ctg-oas-v2.yaml``, version 2.0.5):

* ``GET /api/v2/studies`` with ``query.cond``, ``query.intr``, ``query.term``,
  ``filter.ids``, ``filter.overallStatus``, ``filter.advanced``, ``sort`` (one date
  field), ``countTotal``, ``pageSize`` (up to 1,000) and ``pageToken``,
  ``format=json``, and ``fields`` of the pieces ``NCTId`` and ``LastUpdatePostDate``
  (each study then holds only those, nested as in a full record);
* ``GET /api/v2/studies/{nctId}`` (a 301 to the current ID for an alias, as the spec says);
* ``GET /api/v2/version``.

Other parameters of the spec answer 400 "not supported by the fake" rather than
being ignored, so a test never passes by accident. Queries are evaluated by a small
Essie interpreter (words, quoted phrases, AND/OR/NOT, parentheses, ``AREA[...]``,
``RANGE[...]`` on dates). Words and phrases match whole words, case-insensitively.

Records are serialised once with orjson on :meth:`FakeCtgov.put`; a page is joined
from those bytes, and search results are cached per query until the data changes.
Page tokens are opaque: they carry a hash of the query and the sort key of the
last study served (a "search after" cursor), so a token used with another query is
rejected and records added or changed between pages are handled like a live index.

Records put or removed while it serves move ``dataTimestamp`` of ``/version`` one
second on, as the registry's moves when it publishes new data.

Every request is logged (:attr:`FakeCtgov.requests`: path and query parameters), so
tests can assert what was asked, e.g. that a re-sync sent only ``fields=`` pages.

Run it for a demo: ``python tests/support/fakeapi.py [--port 8765] [DIR ...]``.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import datetime
import hashlib
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from trialwatch.vocab import OVERALL_STATUSES

API_PREFIX = "/api/v2"
API_VERSION = "2.0.5"  # info.version of the spec
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_NCT_PATTERN = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")  # spec pattern of nctId
_SEP = "\x00"  # between list items, so that a phrase never spans two items

# Parameters of GET /studies in the spec that the fake does not implement.
_UNSUPPORTED = frozenset(
    [
        "markupFormat",
        "query.locn",
        "query.titles",
        "query.outc",
        "query.spons",
        "query.lead",
        "query.id",
        "query.patient",
        "filter.geo",
        "filter.synonyms",
        "postFilter.overallStatus",
        "postFilter.geo",
        "postFilter.ids",
        "postFilter.advanced",
        "postFilter.synonyms",
        "aggFilters",
        "geoDecay",
    ]
)
_QUERIES = {
    "query.cond": "ConditionSearch",
    "query.intr": "InterventionSearch",
    "query.term": "BasicSearch",
}
_SUPPORTED = frozenset(
    {*_QUERIES, "format", "filter.ids", "filter.overallStatus", "filter.advanced"}
    | {"sort", "countTotal", "pageSize", "pageToken", "fields"}
)
# The pieces of ``fields`` the fake can project a record on (piece names of the API's
# data structure), as the API nests them: the rest answer 400.
_FIELDS = frozenset({"NCTId", "LastUpdatePostDate"})


class BadRequest(Exception):
    """A 400 answer; the message is the text/plain body."""


# -- records ----------------------------------------------------------------------


def _normalise(text: str) -> str:
    """Lower-case words separated and surrounded by single spaces: ' multifocal motor '."""
    return " " + " ".join(re.findall(r"[^\W_]+", text.casefold())) + " "


def _texts(values: Iterable[Any]) -> str:
    return _SEP.join(_normalise(v) for v in values if isinstance(v, str))


def _canonical_nct(value: str) -> str | None:
    match = _NCT_PATTERN.match(value.strip())
    return f"NCT{int(match.group(1)):08d}" if match else None


@dataclass(frozen=True, slots=True)
class _Entry:
    """One record: its JSON bytes and the few fields the searches need."""

    nct_id: str
    aliases: frozenset[str]
    body: bytes
    texts: dict[str, str]  # area -> normalised text (BasicSearch is computed on demand)
    enums: dict[str, frozenset[str]]  # area -> upper-case values
    dates: dict[str, str]  # area -> yyyy[-MM[-dd]]
    status: str

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> _Entry:
        protocol = record.get("protocolSection") or {}
        ident = protocol.get("identificationModule") or {}
        nct_id = ident.get("nctId")
        if not isinstance(nct_id, str) or _canonical_nct(nct_id) != nct_id:
            raise ValueError("record has no protocolSection.identificationModule.nctId")
        status_module = protocol.get("statusModule") or {}
        conditions_module = protocol.get("conditionsModule") or {}
        arms = protocol.get("armsInterventionsModule") or {}
        interventions = arms.get("interventions") or []
        names = [i.get("name") for i in interventions]
        other_names = [n for i in interventions for n in i.get("otherNames") or []]
        arm_names = [
            n for g in arms.get("armGroups") or [] for n in g.get("interventionNames") or []
        ]
        conditions = conditions_module.get("conditions") or []
        meshes = ((record.get("derivedSection") or {}).get("conditionBrowseModule") or {}).get(
            "meshes"
        ) or []
        locations = (protocol.get("contactsLocationsModule") or {}).get("locations") or []
        phases = (protocol.get("designModule") or {}).get("phases") or []
        status = str(status_module.get("overallStatus") or "")
        dates = {
            "LastUpdatePostDate": (status_module.get("lastUpdatePostDateStruct") or {}).get("date"),
            "StudyFirstPostDate": (status_module.get("studyFirstPostDateStruct") or {}).get("date"),
        }
        return cls(
            nct_id=nct_id,
            aliases=frozenset(
                c for c in (_canonical_nct(a) for a in ident.get("nctIdAliases") or []) if c
            ),
            body=orjson.dumps(record),
            texts={
                "ConditionSearch": _texts(
                    [*conditions, *(conditions_module.get("keywords") or [])]
                    + [m.get("term") for m in meshes]
                ),
                "InterventionSearch": _texts([*names, *other_names, *arm_names]),
                "Condition": _texts(conditions),
                "InterventionName": _texts(names),
                "InterventionOtherName": _texts(other_names),
                "LocationCountry": _texts(loc.get("country") for loc in locations),
            },
            enums={
                "NCTId": frozenset({nct_id}),
                "Phase": frozenset(str(p).upper() for p in phases),
                "OverallStatus": frozenset({status.upper()}),
            },
            dates={area: value for area, value in dates.items() if isinstance(value, str)},
            status=status,
        )


class _Doc:
    """An entry during one search; its BasicSearch text is built at most once, if asked for."""

    def __init__(self, entry: _Entry) -> None:
        self.entry = entry

    @cached_property
    def lowered(self) -> bytes:
        return self.entry.body.lower()

    @cached_property
    def basic(self) -> str:
        # Every string of the record: the JSON text without its keys and escapes.
        # (Regexes over the bytes: much faster than walking the parsed record.)
        return _JSON_NOISE.sub(b" ", self.entry.body).decode()


_JSON_NOISE = re.compile(rb'"[A-Za-z]+":|\\[nrtbf"\\/]')


# -- Essie ------------------------------------------------------------------------

Predicate = Callable[[_Doc], bool]

_TEXT_AREAS = frozenset(
    [
        "ConditionSearch",
        "InterventionSearch",
        "BasicSearch",
        "Condition",
        "InterventionName",
        "InterventionOtherName",
        "LocationCountry",
    ]
)
_ENUM_AREAS = frozenset({"NCTId", "Phase", "OverallStatus"})
_DATE_AREAS = frozenset({"LastUpdatePostDate", "StudyFirstPostDate"})
_AREAS = {name.casefold(): name for name in _TEXT_AREAS | _ENUM_AREAS | _DATE_AREAS}
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) |
        "(?P<phrase>[^"]*)" | (?P<quote>") |
        AREA\[(?P<area>[^\]]*)\] |
        RANGE\[(?P<range>[^\]]*)\] |
        (?P<operator>[A-Z]+\[) |
        (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)


def _tokenise(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    expression = expression.rstrip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None or match.lastgroup is None:
            raise BadRequest(f"Invalid Essie expression near '{expression[position:][:20]}'")
        kind, value = match.lastgroup, match.group(match.lastgroup)
        if kind == "quote":
            raise BadRequest("Invalid Essie expression: unterminated quoted phrase")
        if kind == "operator":
            raise BadRequest(f"Essie operator {value}...] is not supported by the fake API")
        if kind == "word" and value in ("AND", "OR", "NOT"):
            kind = value
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _EssieParser:
    """OR binds loosest, then AND (also implicit, by juxtaposition), then NOT."""

    def __init__(self, expression: str, default_area: str) -> None:
        self.tokens = _tokenise(expression)
        self.position = 0
        self.default_area = default_area

    def parse(self) -> Predicate:
        if not self.tokens:
            raise BadRequest("Invalid Essie expression: empty")
        predicate = self._or(self.default_area)
        if self.position < len(self.tokens):
            raise BadRequest(
                f"Invalid Essie expression: unexpected '{self.tokens[self.position][1]}'"
            )
        return predicate

    def _peek(self) -> str | None:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise BadRequest("Invalid Essie expression: unexpected end")
        self.position += 1
        return self.tokens[self.position - 1]

    def _or(self, area: str) -> Predicate:
        parts = [self._and(area)]
        while self._peek() == "OR":
            self._next()
            parts.append(self._and(area))
        return parts[0] if len(parts) == 1 else lambda doc: any(p(doc) for p in parts)

    def _and(self, area: str) -> Predicate:
        parts = [self._unary(area)]
        while self._peek() not in (None, "OR", "rpar"):
            if self._peek() == "AND":
                self._next()
            parts.append(self._unary(area))
        return parts[0] if len(parts) == 1 else lambda doc: all(p(doc) for p in parts)

    def _unary(self, area: str) -> Predicate:
        if self._peek() == "NOT":
            self._next()
            inner = self._unary(area)
            return lambda doc: not inner(doc)
        return self._primary(area)

    def _primary(self, area: str) -> Predicate:
        kind, value = self._next()
        if kind == "lpar":
            inner = self._or(area)
            if self._peek() != "rpar":
                raise BadRequest("Invalid Essie expression: missing ')'")
            self._next()
            return inner
        if kind == "area":
            name = _AREAS.get(value.strip().casefold())
            if name is None:
                raise BadRequest(f"Unknown search area: {value}")
            return self._unary(name)
        if kind == "range":
            return _range(area, value)
        if kind in ("word", "phrase"):
            return _term(area, value)
        raise BadRequest(f"Invalid Essie expression: unexpected '{value}'")


def _term(area: str, value: str) -> Predicate:
    if area in _DATE_AREAS:
        prefix = value.strip()
        return lambda doc: doc.entry.dates.get(area, "\x00").startswith(prefix)
    if area in _ENUM_AREAS:
        wanted = value.strip().upper()
        return lambda doc: wanted in doc.entry.enums[area]
    if area == "BasicSearch":
        words = re.findall(r"[^\W_]+", value)
        pattern = re.compile(
            r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, words)) + r"(?![^\W_])",
            re.IGNORECASE,
        )
        # A cheap pre-filter (substring of the lower-cased bytes) spares most regex scans.
        required = [w.lower().encode() for w in words if w.isascii()]

        def basic_match(doc: _Doc) -> bool:
            if not all(word in doc.lowered for word in required):
                return False
            return pattern.search(doc.basic) is not None

        return basic_match
    needle = _normalise(value)
    return lambda doc: needle in doc.entry.texts[area]


def _range(area: str, arguments: str) -> Predicate:
    if area not in _DATE_AREAS:
        raise BadRequest(f"RANGE is supported by the fake API only in date areas, not {area}")
    bounds = [b.strip() for b in arguments.split(",")]
    if len(bounds) != 2 or not all(b in ("MIN", "MAX") or _DATE.match(b) for b in bounds):
        raise BadRequest(f"Invalid RANGE[{arguments}]: expected RANGE[date|MIN,date|MAX]")
    low, high = bounds

    def in_range(doc: _Doc) -> bool:
        date = doc.entry.dates.get(area)
        if date is None:
            return False
        if low != "MIN" and date < low:
            return False
        return high == "MAX" or date[: len(high)] <= high

    return in_range


def compile_essie(expression: str, default_area: str = "BasicSearch") -> Predicate:
    """Compile an Essie expression into a predicate over records (raises BadRequest)."""
    return _EssieParser(expression, default_area).parse()


# -- search and paging ------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    keys: list[tuple[Any, ...]]
    entries: list[_Entry]


def _split_list(value: str) -> list[str]:
    return [item for item in re.split(r"[,|\s]+", value) if item]


def _sort_order(value: str | None) -> tuple[str | None, bool]:
    """(date area or None for nctId order, descending)."""
    if not value:
        return None, False
    items = _split_list(value)
    if len(items) != 1:
        raise BadRequest("The fake API supports exactly one sort field")
    field, _, direction = items[0].partition(":")
    if field not in _DATE_AREAS:
        raise BadRequest(f"The fake API cannot sort by '{field}' (only by {sorted(_DATE_AREAS)})")
    if direction not in ("", "asc", "desc"):
        raise BadRequest(f"Invalid sort direction '{direction}'")
    return field, direction != "asc"  # dates sort descending by default (spec)


def _sort_key(raw: tuple[int, str, str], descending: bool) -> tuple[Any, ...]:
    missing, value, nct_id = raw
    if descending:  # invert the string order; the final 1 puts a prefix after its extensions
        return (missing, (*(-ord(c) for c in value), 1), nct_id)
    return (missing, value, nct_id)


def _raw_key(entry: _Entry, field: str | None) -> tuple[int, str, str]:
    if field is None:
        return (0, "", entry.nct_id)
    value = entry.dates.get(field)
    return (1, "", entry.nct_id) if value is None else (0, value, entry.nct_id)


def _encode_token(query_hash: str, raw: tuple[int, str, str]) -> str:
    data = orjson.dumps([query_hash, *raw])
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode_token(token: str, query_hash: str) -> tuple[int, str, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        token_hash, missing, value, nct_id = data
        raw = (int(missing), str(value), str(nct_id))
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"Invalid pageToken '{token}'") from exc
    if token_hash != query_hash:
        raise BadRequest(
            "Invalid pageToken: the request parameters differ from those of the first page"
        )
    return raw


@dataclass
class _Fault:
    status: int
    remaining: int
    body: bytes
    headers: dict[str, str]
    path_prefix: str
    drop: bool = False
    drip: float = 0.0  # seconds between body bytes (0: send the body at once)

    def applies_to(self, path: str) -> bool:
        return path.startswith(self.path_prefix) or path.removeprefix(API_PREFIX).startswith(
            self.path_prefix
        )


class FakeCtgov:
    """An in-memory ClinicalTrials.gov served over real HTTP on loopback."""

    def __init__(
        self,
        records: Iterable[dict[str, Any]] = (),
        *,
        data_timestamp: str = "2026-11-28T09:00:04",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.data_timestamp = data_timestamp
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._aliases: dict[str, str] = {}
        self._version = 0
        self._cache: dict[tuple[Any, ...], _Result] = {}
        self._requests: list[tuple[str, dict[str, str]]] = []
        self._faults: list[_Fault] = []
        self._token_loop: str | None = None
        self._loop_count = 0
        self._first_page_extra: list[bytes] = []
        self._lockstep: tuple[str, threading.Barrier] | None = None
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for record in records:
            self.put(record)

    # -- lifecycle

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeCtgov is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    def start(self) -> FakeCtgov:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-ctgov",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()  # ends dripping bodies and lockstep waits
        if self._lockstep is not None:
            self._lockstep[1].abort()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()

    def __enter__(self) -> FakeCtgov:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- data

    def put(self, record: dict[str, Any]) -> None:
        """Add a record, or replace the one with the same nctId."""
        entry = _Entry.from_record(record)
        with self._lock:
            old = self._entries.get(entry.nct_id)
            for alias in old.aliases if old else ():
                self._aliases.pop(alias, None)
            self._entries[entry.nct_id] = entry
            for alias in entry.aliases:
                self._aliases[alias] = entry.nct_id
            self._changed()

    def remove(self, nct_id: str) -> None:
        """Delete a record; KeyError if there is none."""
        with self._lock:
            entry = self._entries.pop(nct_id)
            for alias in entry.aliases:
                self._aliases.pop(alias, None)
            self._changed()

    def get(self, nct_id: str) -> dict[str, Any]:
        """A fresh copy of a record; KeyError if there is none."""
        with self._lock:
            body = self._entries[nct_id].body
        record: dict[str, Any] = orjson.loads(body)
        return record

    def nct_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _changed(self) -> None:
        self._version += 1
        self._cache.clear()
        if self._server is not None:  # data published while serving: the registry's stamp moves
            stamp = datetime.datetime.fromisoformat(self.data_timestamp)
            self.data_timestamp = (stamp + datetime.timedelta(seconds=1)).isoformat()

    # -- observation and faults

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        """(path, query parameters) of every request served, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        body: str = "",
        headers: dict[str, str] | None = None,
        path_prefix: str = "",
    ) -> None:
        """Answer the next ``times`` requests whose path starts with ``path_prefix``
        (with or without ``/api/v2``) with ``status``, ``body`` and ``headers``."""
        fault = _Fault(status, times, body.encode(), dict(headers or {}), path_prefix)
        with self._lock:
            self._faults.append(fault)

    def drop_connections(self, times: int = 1, *, path_prefix: str = "") -> None:
        """Close the connection of the next ``times`` requests without answering."""
        with self._lock:
            self._faults.append(_Fault(0, times, b"", {}, path_prefix, drop=True))

    def drip_body(
        self, interval: float, *, times: int = 1, path_prefix: str = "", status: int = 0
    ) -> None:
        """Send the body of the next ``times`` matching answers one byte every ``interval``
        seconds (headers at once): a server that is never silent long enough for a read
        timeout. ``status`` 0 drips the normal answer; otherwise an empty-bodied one."""
        with self._lock:
            self._faults.append(_Fault(status, times, b"", {}, path_prefix, drip=interval))

    def loop_page_tokens(self, mode: str | None) -> None:
        """Make ``GET /studies`` page forever: every answer is the first page again, with
        a ``nextPageToken`` that cycles A → B → A (``"cycle"``) or is new every time
        (``"fresh"``). ``None`` restores normal paging."""
        if mode not in (None, "cycle", "fresh"):
            raise ValueError(f"unknown token loop {mode!r}")
        with self._lock:
            self._token_loop = mode
            self._loop_count = 0

    def append_to_first_page(self, *records: Any) -> None:
        """Serve ``records`` as they are (malformed ones too) at the end of the first page
        of every ``GET /studies`` search; ``totalCount`` counts them."""
        with self._lock:
            self._first_page_extra.extend(orjson.dumps(r) for r in records)

    def lockstep(self, parties: int, *, path_prefix: str = "/studies", wait: float = 5.0) -> None:
        """Hold each matching request until ``parties`` of them are waiting, then answer
        them together (at most ``wait`` seconds): clients paging through the same search
        get, and then store, each page at the same moment. ``parties`` 0 turns it off."""
        with self._lock:
            old = self._lockstep
            self._lockstep = (
                (path_prefix, threading.Barrier(parties, timeout=wait)) if parties else None
            )
        if old is not None:
            old[1].abort()

    def _wait_in_lockstep(self, path: str) -> None:
        with self._lock:
            step = self._lockstep
        if step is None or not _Fault(0, 1, b"", {}, step[0]).applies_to(path):
            return
        try:
            step[1].wait()
        except threading.BrokenBarrierError:  # no partner in time: answer alone
            if not self._stopping.is_set():
                with contextlib.suppress(RuntimeError):
                    step[1].reset()

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.applies_to(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- request handling

    def _respond(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Return (status, headers, body) for a GET; a BadRequest becomes a 400."""
        try:
            if path == f"{API_PREFIX}/studies":
                return 200, _JSON, self._studies(params)
            if path.startswith(f"{API_PREFIX}/studies/"):
                return self._study(path.removeprefix(f"{API_PREFIX}/studies/"), params)
            if path == f"{API_PREFIX}/version":
                _check_params(params, set())
                body = orjson.dumps(
                    {"apiVersion": API_VERSION, "dataTimestamp": self.data_timestamp}
                )
                return 200, _JSON, body
        except BadRequest as exc:
            return 400, _TEXT, str(exc).encode()
        return 404, _TEXT, f"Not found: {path}".encode()

    def _study(self, nct: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        _check_params(params, {"format"})
        if params.get("format", "json") != "json":
            raise BadRequest("The fake API serves only format=json")
        nct_id = _canonical_nct(nct)
        if nct_id is None:
            raise BadRequest(f"Invalid NCT ID: {nct}")
        with self._lock:
            entry = self._entries.get(nct_id)
            actual = self._aliases.get(nct_id)
        if entry is not None:
            return 200, _JSON, entry.body
        if actual is not None:
            return 301, {"Location": f"{API_PREFIX}/studies/{actual}"}, b""
        return 404, _TEXT, f"Study {nct_id} not found".encode()

    def _studies(self, params: dict[str, str]) -> bytes:
        _check_params(params, _SUPPORTED)
        if params.get("format", "json") != "json":
            raise BadRequest("The fake API serves only format=json")
        page_size = _page_size(params.get("pageSize"))
        count_total = _boolean(params, "countTotal")
        identity = sorted((k, v) for k, v in params.items() if k not in _PAGE_PARAMS)
        query_hash = hashlib.sha256(repr(identity).encode()).hexdigest()[:16]
        field, descending = _sort_order(params.get("sort"))
        result = self._search(params, identity, field, descending)
        start = 0
        token = params.get("pageToken")
        with self._lock:
            loop, extra = self._token_loop, list(self._first_page_extra)
            self._loop_count += 1
            count = self._loop_count
        if token and loop is None:
            start = bisect.bisect_right(
                result.keys, _sort_key(_decode_token(token, query_hash), descending)
            )
        chunk = result.entries[start : start + page_size]
        project = _projection(params.get("fields"))
        bodies = [project(e) for e in chunk] + (extra if start == 0 else [])
        parts = [b'{"studies":[', b",".join(bodies), b"]"]
        if count_total and not token:
            parts.append(b',"totalCount":%d' % (len(result.entries) + len(extra)))
        next_token: str | None = None
        if loop == "cycle":
            next_token = "loop-B" if token == "loop-A" else "loop-A"
        elif loop == "fresh":
            next_token = f"loop-{count}"
        elif start + page_size < len(result.entries):
            next_token = _encode_token(query_hash, _raw_key(chunk[-1], field))
        if next_token is not None:
            parts.append(b',"nextPageToken":' + orjson.dumps(next_token))
        parts.append(b"}")
        return b"".join(parts)

    def _search(
        self,
        params: dict[str, str],
        identity: list[tuple[str, str]],
        field: str | None,
        descending: bool,
    ) -> _Result:
        with self._lock:
            cache_key = (self._version, tuple(identity))
            cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
            entries = list(self._entries.values())
        predicate = _compile_request(params)
        matches = [e for e in entries if predicate(_Doc(e))]
        matches.sort(key=lambda e: _sort_key(_raw_key(e, field), descending))
        result = _Result([_sort_key(_raw_key(e, field), descending) for e in matches], matches)
        with self._lock:
            if self._version == cache_key[0]:
                if len(self._cache) >= 32:
                    self._cache.clear()
                self._cache[cache_key] = result
        return result


_JSON = {"Content-Type": "application/json"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
_PAGE_PARAMS = frozenset({"countTotal", "pageSize", "pageToken"})  # may change between pages


def _check_params(params: dict[str, str], allowed: set[str] | frozenset[str]) -> None:
    for name in params:
        if name in allowed:
            continue
        if name in _UNSUPPORTED:
            raise BadRequest(f"Parameter '{name}' is not supported by the fake API")
        raise BadRequest(f"Unknown parameter '{name}'")


def _projection(value: str | None) -> Callable[[_Entry], bytes]:
    """How a study is served: whole, or only the pieces ``fields`` names."""
    if value is None:
        return lambda entry: entry.body
    pieces = set(_split_list(value))
    if not pieces:
        raise BadRequest("Parameter 'fields' must be a non-empty list")
    unknown = sorted(pieces - _FIELDS)
    if unknown:
        raise BadRequest(f"Field '{unknown[0]}' in 'fields' is not supported by the fake API")

    def light(entry: _Entry) -> bytes:
        protocol: dict[str, Any] = {}
        if "NCTId" in pieces:
            protocol["identificationModule"] = {"nctId": entry.nct_id}
        day = entry.dates.get("LastUpdatePostDate")
        if "LastUpdatePostDate" in pieces and day is not None:
            protocol["statusModule"] = {"lastUpdatePostDateStruct": {"date": day}}
        return orjson.dumps({"protocolSection": protocol} if protocol else {})

    return light


def _page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise BadRequest(f"Invalid pageSize '{value}': must be an integer") from None
    if size < 0:
        raise BadRequest(f"Invalid pageSize '{value}': must not be negative")
    # Spec: "If not specified or set to 0, the default value will be used.
    # It will be coerced down to 1,000, if greater than that."
    return min(size, MAX_PAGE_SIZE) if size else DEFAULT_PAGE_SIZE


def _boolean(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise BadRequest(f"Invalid {name} '{params[name]}': must be true or false")
    return value == "true"


def _only_nct_ids(value: str) -> list[str] | None:
    items = _split_list(value)
    ids = [_canonical_nct(item) for item in items]
    if not items or None in ids:
        return None
    return [i for i in ids if i is not None]


def _id_predicate(ids: Iterable[str]) -> Predicate:
    wanted = frozenset(ids)
    return lambda doc: doc.entry.nct_id in wanted or bool(doc.entry.aliases & wanted)


def _compile_request(params: dict[str, str]) -> Predicate:
    """All query.* and filter.* parameters, ANDed (filters ignored if a query is only IDs)."""
    parts: list[Predicate] = []
    ignore_filters = False
    for name, area in _QUERIES.items():
        value = params.get(name, "").strip()
        if not value:
            continue
        ids = _only_nct_ids(value)
        if ids is not None:  # spec: "If any query parameter contains only NCT IDs,
            ignore_filters = True  # ... filters are ignored."
            parts.append(_id_predicate(ids))
        else:
            parts.append(compile_essie(value, area))
    if not ignore_filters:
        if params.get("filter.ids"):
            ids = _only_nct_ids(params["filter.ids"])
            if ids is None:
                raise BadRequest(f"Invalid filter.ids '{params['filter.ids']}'")
            parts.append(_id_predicate(ids))
        if params.get("filter.overallStatus"):
            statuses = frozenset(_split_list(params["filter.overallStatus"]))
            unknown = sorted(statuses - OVERALL_STATUSES)
            if unknown:
                raise BadRequest(f"Invalid filter.overallStatus value '{unknown[0]}'")
            parts.append(lambda doc: doc.entry.status in statuses)
        if params.get("filter.advanced", "").strip():
            parts.append(compile_essie(params["filter.advanced"]))
    return lambda doc: all(p(doc) for p in parts)


# -- HTTP server --------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeCtgov
    ) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (or a dropped connection) is not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake handler threads waiting on idle keep-alive connections."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeCtgov/1"
    timeout = 30  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, Nagle's algorithm and delayed
        # ACKs stall every keep-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        with fake._lock:
            fake._requests.append((url.path, params))
            fault = fake._take_fault(url.path)
        if fault is not None and fault.drop:
            self.close_connection = True
            return
        fake._wait_in_lockstep(url.path)
        if fault is not None and (fault.status or not fault.drip):
            status, headers, body = fault.status, fault.headers, fault.body
        else:
            status, headers, body = fake._respond(url.path, params)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault is not None and fault.drip:
            self._drip(body, fault.drip)
        else:
            self.wfile.write(body)

    def _drip(self, body: bytes, interval: float) -> None:
        """Write ``body`` one byte at a time until done, the client leaves or the fake stops."""
        self.close_connection = True
        self.wfile.flush()
        for offset in range(len(body)):
            self.wfile.write(body[offset : offset + 1])
            self.wfile.flush()
            if self.server.fake._stopping.wait(interval):
                return

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# -- fixtures and command line ----------------------------------------------------


def load_fixture_records(directory: Path | None = None) -> list[dict[str, Any]]:
    """The full API v2 records of ``directory`` (default ``tests/fixtures/ctgov``) and its
    ``constructed/`` folder; ``{"studies": [...]}`` files are unwrapped, ``*.variant-*``
    files (another snapshot of a study already present) are skipped."""
    directory = FIXTURES if directory is None else directory
    paths = sorted(directory.glob("*.json"))
    if (directory / "constructed").is_dir():
        paths += sorted((directory / "constructed").glob("*.json"))
    records: list[dict[str, Any]] = []
    for path in paths:
        if ".variant-" in path.name:
            continue
        data = orjson.loads(path.read_bytes())
        for record in data.get("studies", []) if "studies" in data else [data]:
            if isinstance(record, dict) and "protocolSection" in record:
                records.append(record)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake ClinicalTrials.gov API v2.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("dirs", nargs="*", type=Path, help="folders of records (default: fixtures)")
    args = parser.parse_args(argv)
    records = [r for d in args.dirs or [None] for r in load_fixture_records(d)]
    fake = FakeCtgov(records, host=args.host, port=args.port).start()
    print(f"Fake ClinicalTrials.gov serving {len(fake)} studies at {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
