"""A fake EU CTIS public API on loopback: real HTTP, for tests, benchmarks and demos.

It serves, in the shapes of the recorded answers in ``tests/fixtures/ctis/`` (and of
what the registry samples' README says of them):

* ``POST /ctis-public-api/search`` with ``{"pagination": {"page", "size"},
  "searchCriteria", "sort"}``: pages 1-based (page 0 counts nothing, as the real one
  answers), ``size`` up to 100, sorted by ``lastPublicationUpdate`` (or
  ``lastUpdated``) ``DESC``/``ASC``; ``searchCriteria`` keys ``number`` (one CT
  number), ``medicalCondition`` (a case-insensitive substring of the conditions and
  titles), ``sponsor`` (of the sponsor's name), ``containAll`` / ``containAny``
  (words, each a substring of the whole record) and ``status`` (public status codes).
  Other keys answer 400 "not supported by the fake", so a test never passes by
  accident. The answer is ``{"showWarning", "pagination": {"totalRecords",
  "currentPage", "totalPages", "nextPage", "prevPage"}, "data"}``; no source shows
  the type of ``nextPage`` / ``prevPage``: here they are booleans;
* ``GET /ctis-public-api/retrieve/{ctNumber}``: the record as recorded (without the
  keys ctrdata adds, ``_id``, ``ctrname``, ``record_last_import``); an unknown number
  answers 404, or ``200 {}`` with ``unknown="empty"`` (both are reported);
* ``GET /ctis-public-api/search`` answers 403, as the real one does.

A trial's search record (the ``data[]`` item) is built from its retrieve record:
the search-format fields ctrdata laid over its top level where they are there in
today's types, else derived — ``ctStatus`` from ``ctPublicStatusCode``, ``ctTitle``
from the full title, ``conditions`` from the medical conditions, ``sponsor`` from
the primary sponsor, ``trialCountries`` from the member states' public codes, dates
as ``DD/MM/YYYY`` (``lastUpdated`` / ``lastPublicationUpdate`` from ``publishDate``
when missing: the fake's assumption). Keyword arguments of :meth:`FakeCtis.put`
override any of them. A recorded search record with no dossier is served by
:meth:`FakeCtis.put_search_record` (its retrieve is then unknown).

Faults, each switchable: a 403 firewall page for the next N requests, 429 with
``Retry-After``, an HTML page with status 200, any status, a ``totalRecords`` over
the 10,000 cap, two neighbours of the order swapped (the real order is not strictly
monotonic) and a schema drift (``ctStatus`` served as text, as before 2024-06-17).

Run it for a demo: ``python tests/support/fakectis.py [--port 8766]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import re
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

API_PREFIX = "/ctis-public-api"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctis"
MAX_PAGE_SIZE = 100
CTRDATA_KEYS = ("_id", "ctrname", "record_last_import")
SORTABLE = ("lastPublicationUpdate", "lastUpdated")
CRITERIA = frozenset(
    {"number", "medicalCondition", "sponsor", "containAll", "containAny", "status"}
)
# Search fields copied from a record's top level when there in today's type (ctrdata's overlay).
_OVERLAY_TYPES: dict[str, type] = {
    "shortTitle": str,
    "trialCountries": list,
    "decisionDateOverall": str,
    "therapeuticAreas": list,
    "sponsorType": str,
    "trialPhase": str,
    "ageGroup": str,
    "gender": str,
    "trialRegion": int,
    "totalNumberEnrolled": str,
    "resultsFirstReceived": str,
    "endDateEU": str,
}
# The public status codes and their words (README; Gregory's portal-confirmed table).
PUBLIC_STATUSES = {
    1: "Under evaluation",
    2: "Authorised, recruitment pending",
    3: "Authorised, recruiting",
    4: "Ongoing, recruiting",
    5: "Ongoing, recruitment ended",
    6: "Temporarily halted",
    7: "Suspended",
    8: "Ended",
    9: "Expired",
    10: "Revoked",
    11: "Not authorised",
    12: "Cancelled",
}
_DMY = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_PER_COUNTRY = re.compile(r"^[A-Z]{2}: ")  # "IT: 24/06/2026, ES: 26/06/2026"
_WAF_PAGE = b"<html><head><title>403 Forbidden</title></head><body>Request blocked.</body></html>"
_SITE_PAGE = b"<!DOCTYPE html><html><head><title>CTIS</title></head><body></body></html>"
_JSON = {"Content-Type": "application/json"}
_HTML = {"Content-Type": "text/html; charset=utf-8"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class BadRequest(Exception):
    """A 400 answer; the message is the text/plain body."""


# -- records ----------------------------------------------------------------------


def _dmy(value: Any) -> str | None:
    """``DD/MM/YYYY`` from a search-format or ISO date, else None."""
    if not isinstance(value, str):
        return None
    if _DMY.match(value):
        return value
    iso = _ISO_DAY.match(value)
    return f"{iso.group(3)}/{iso.group(2)}/{iso.group(1)}" if iso else None


def _part_one(record: dict[str, Any]) -> dict[str, Any]:
    part: Any = (record.get("authorizedApplication") or {}).get("authorizedPartI") or {}
    return part if isinstance(part, dict) else {}


def search_record(record: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The ``/search`` record of a retrieve record (see the module docstring)."""
    part = _part_one(record)
    ids = (part.get("trialDetails") or {}).get("clinicalTrialIdentifiers") or {}
    found: dict[str, Any] = {"ctNumber": record["ctNumber"]}
    if isinstance(record.get("ctPublicStatusCode"), int):
        found["ctStatus"] = record["ctPublicStatusCode"]
    if ids.get("fullTitle"):
        found["ctTitle"] = ids["fullTitle"]
    if ids.get("shortTitle"):
        found["shortTitle"] = ids["shortTitle"]
    conditions = [c.get("medicalCondition") for c in part.get("medicalConditions") or []]
    if conditions:
        found["conditions"] = ", ".join(c for c in conditions if isinstance(c, str))
    sponsors = [s for s in part.get("sponsors") or [] if s.get("primary")]
    if sponsors and (sponsors[0].get("organisation") or {}).get("name"):
        found["sponsor"] = sponsors[0]["organisation"]["name"]
    states = (record.get("authorizedApplication") or {}).get("memberStatesConcerned") or []
    if states and all(isinstance(s.get("mscPublicStatusCode"), int) for s in states):
        found["trialCountries"] = [f"{s['mscName']}:{s['mscPublicStatusCode']}" for s in states]
    for key, kind in _OVERLAY_TYPES.items():
        if isinstance(record.get(key), kind):
            found[key] = record[key]
    decision = record.get("decisionDate")
    if isinstance(decision, str) and _PER_COUNTRY.match(decision):
        found["decisionDate"] = decision
    elif _dmy(decision) and "decisionDateOverall" not in found:
        found["decisionDateOverall"] = _dmy(decision)
    for key in ("startDateEU", "lastUpdated", "lastPublicationUpdate"):
        day = _dmy(record.get(key)) or (
            None if key == "startDateEU" else _dmy(record.get("publishDate"))
        )
        if day:
            found[key] = day
    found.update(overrides)
    return found


def _day(value: Any) -> datetime.date | None:
    if isinstance(value, str) and _DMY.match(value):
        day, month, year = value.split("/")
        with contextlib.suppress(ValueError):
            return datetime.date(int(year), int(month), int(day))
    return None


@dataclass(frozen=True)
class _Entry:
    """One trial: its search record, its retrieve body (None: no dossier) and its texts."""

    ct_number: str
    search: dict[str, Any]
    retrieve: bytes | None
    everything: str  # the whole record, lower-cased, for containAll / containAny
    titles: str  # conditions and titles, lower-cased, for medicalCondition

    @classmethod
    def make(cls, search: dict[str, Any], retrieve: dict[str, Any] | None) -> _Entry:
        part = _part_one(retrieve or {})
        ids = (part.get("trialDetails") or {}).get("clinicalTrialIdentifiers") or {}
        titles = [search.get("conditions"), search.get("ctTitle"), search.get("shortTitle")]
        titles += [ids.get("publicTitle"), ids.get("fullTitle")]
        titles += [c.get("medicalCondition") for c in part.get("medicalConditions") or []]
        body = orjson.dumps(retrieve) if retrieve is not None else None
        return cls(
            ct_number=str(search["ctNumber"]),
            search=search,
            retrieve=body,
            everything=(orjson.dumps(search) + (body or b"")).decode().casefold(),
            titles="\x00".join(t for t in titles if isinstance(t, str)).casefold(),
        )


@dataclass
class _Fault:
    status: int
    remaining: int
    body: bytes
    headers: dict[str, str]
    path_prefix: str

    def applies_to(self, path: str) -> bool:
        return path.removeprefix(API_PREFIX).startswith(self.path_prefix)


@dataclass
class _Switches:
    total: int | None = None  # totalRecords reported instead of the true count
    swap_at: int | None = None  # this position and the next are served swapped
    drift: bool = False  # ctStatus served as text
    unknown: str = "404"  # or "empty": how an unknown retrieve answers
    faults: list[_Fault] = field(default_factory=list)


class FakeCtis:
    """An in-memory EU CTIS served over real HTTP on loopback."""

    def __init__(
        self,
        records: Iterable[dict[str, Any]] = (),
        *,
        search_records: Iterable[dict[str, Any]] = (),
        unknown: str = "404",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._switches = _Switches(unknown=unknown)
        self._requests: list[tuple[str, str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for record in records:
            self.put(record)
        for search in search_records:
            self.put_search_record(search)

    # -- lifecycle

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeCtis is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    def start(self) -> FakeCtis:
        if self._server is None:
            self._server = _Server((self._host, self._port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-ctis",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()

    def __enter__(self) -> FakeCtis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- data

    def put(self, record: dict[str, Any], **search: Any) -> None:
        """Add a retrieve record (or replace the one with its ctNumber); ``search``
        overrides fields of its search record, e.g. ``lastPublicationUpdate="01/02/2026"``."""
        retrieve = {k: v for k, v in record.items() if k not in CTRDATA_KEYS}
        entry = _Entry.make(search_record(retrieve, **search), retrieve)
        with self._lock:
            self._entries[entry.ct_number] = entry

    def put_search_record(self, search: dict[str, Any]) -> None:
        """Add a recorded search record with no dossier: searches find it, retrieve does not."""
        entry = _Entry.make(dict(search), None)
        with self._lock:
            self._entries[entry.ct_number] = entry

    def remove(self, ct_number: str) -> None:
        """Delete a trial; KeyError if there is none."""
        with self._lock:
            del self._entries[ct_number]

    def ct_numbers(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- observation and faults

    @property
    def requests(self) -> list[tuple[str, str, Any]]:
        """(method, path, decoded JSON body or None) of every request, oldest first."""
        with self._lock:
            return list(self._requests)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        path_prefix: str = "",
    ) -> None:
        """Answer the next ``times`` requests whose path (after ``/ctis-public-api``)
        starts with ``path_prefix`` with ``status``, ``body`` and ``headers``."""
        with self._lock:
            self._switches.faults.append(
                _Fault(status, times, body, dict(headers or _TEXT), path_prefix)
            )

    def refuse(self, times: int = 1, *, path_prefix: str = "") -> None:
        """The web application firewall: 403 and an HTML page for the next ``times``."""
        self.fail_next(403, times=times, body=_WAF_PAGE, headers=_HTML, path_prefix=path_prefix)

    def rate_limit(self, retry_after: str = "2", *, times: int = 1, path_prefix: str = "") -> None:
        """429 Too Many Requests with ``Retry-After`` (seconds or an HTTP date)."""
        headers = {**_TEXT, "Retry-After": retry_after}
        self.fail_next(
            429, times=times, body=b"Too Many Requests", headers=headers, path_prefix=path_prefix
        )

    def serve_html(self, times: int = 1, *, path_prefix: str = "") -> None:
        """A 200 whose body is the site's HTML page, not the API's JSON."""
        self.fail_next(200, times=times, body=_SITE_PAGE, headers=_HTML, path_prefix=path_prefix)

    def report_total(self, total: int | None) -> None:
        """Report ``totalRecords`` = ``total`` (and its pages) on every search; None: the truth."""
        with self._lock:
            self._switches.total = total

    def swap_neighbours(self, position: int | None) -> None:
        """Serve results ``position`` and ``position + 1`` (0-based) swapped; None: in order."""
        with self._lock:
            self._switches.swap_at = position

    def drift(self, enabled: bool = True) -> None:
        """Serve ``ctStatus`` as text, its public status words (the pre-2024-06-17 type)."""
        with self._lock:
            self._switches.drift = enabled

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._switches.faults:
            if fault.applies_to(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._switches.faults.remove(fault)
                return fault
        return None

    # -- request handling

    def respond(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request, faults included."""
        body: Any = None
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.loads(raw) if raw else None
        with self._lock:
            self._requests.append((method, path, body))
            fault = self._take_fault(path)
        if fault is not None:
            return fault.status, fault.headers, fault.body
        try:
            if path == f"{API_PREFIX}/search":
                if method != "POST":
                    return 403, _HTML, _WAF_PAGE
                return 200, _JSON, orjson.dumps(self._search(body))
            if path.startswith(f"{API_PREFIX}/retrieve/") and method == "GET":
                return self._retrieve(path.removeprefix(f"{API_PREFIX}/retrieve/"))
        except BadRequest as exc:
            return 400, _TEXT, str(exc).encode()
        return 404, _TEXT, f"Not found: {method} {path}".encode()

    def _retrieve(self, ct_number: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            entry = self._entries.get(ct_number)
            unknown = self._switches.unknown
        if entry is not None and entry.retrieve is not None:
            return 200, _JSON, entry.retrieve
        if unknown == "empty":
            return 200, _JSON, b"{}"
        return 404, _TEXT, f"Trial {ct_number} not found".encode()

    def _search(self, body: Any) -> dict[str, Any]:
        page, size, criteria, key, descending = _parse_search(body)
        with self._lock:
            entries = list(self._entries.values())
            switches = _Switches(self._switches.total, self._switches.swap_at, self._switches.drift)
        found = [e for e in entries if _matches(e, criteria)]
        found.sort(key=lambda e: e.ct_number)
        dated = [e for e in found if _day(e.search.get(key))]
        dated.sort(key=lambda e: _day(e.search.get(key)) or datetime.date.min, reverse=descending)
        found = dated + [e for e in found if not _day(e.search.get(key))]  # undated last
        at = switches.swap_at
        if at is not None and 0 <= at < len(found) - 1:
            found[at], found[at + 1] = found[at + 1], found[at]
        total = len(found) if switches.total is None else switches.total
        pages = math.ceil(total / size)
        chunk = found[(page - 1) * size : page * size] if page >= 1 else []
        records = [_served(e.search, switches.drift) for e in chunk]
        return {
            "showWarning": False,
            "pagination": {
                "totalRecords": total if page >= 1 else 0,
                "currentPage": page,
                "totalPages": pages if page >= 1 else 0,
                "nextPage": 1 <= page < pages,
                "prevPage": page > 1,
            },
            "data": records,
        }


def _served(search: dict[str, Any], drift: bool) -> dict[str, Any]:
    if drift and isinstance(search.get("ctStatus"), int):
        return {**search, "ctStatus": PUBLIC_STATUSES.get(search["ctStatus"], "Unknown")}
    return search


def _parse_search(body: Any) -> tuple[int, int, dict[str, Any], str, bool]:
    """(page, size, searchCriteria, sort field, descending) of a search body, or BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    pagination, criteria, sort = (
        body.get("pagination"),
        body.get("searchCriteria"),
        body.get("sort"),
    )
    if not isinstance(pagination, dict) or not isinstance(criteria, dict):
        raise BadRequest("The body needs 'pagination' and 'searchCriteria' objects")
    page, size = pagination.get("page"), pagination.get("size")
    if not isinstance(page, int) or not isinstance(size, int) or page < 0 or size < 1:
        raise BadRequest("pagination.page and pagination.size must be integers")
    if size > MAX_PAGE_SIZE:
        raise BadRequest(f"The fake serves pages of at most {MAX_PAGE_SIZE}")
    unknown = sorted(set(criteria) - CRITERIA)
    if unknown:
        raise BadRequest(f"searchCriteria '{unknown[0]}' is not supported by the fake")
    status = criteria.get("status")
    if status is not None and not (
        isinstance(status, list) and all(isinstance(s, int) for s in status)
    ):
        raise BadRequest("searchCriteria.status must be a list of public status codes")
    if not isinstance(sort, dict) or sort.get("property") not in SORTABLE:
        raise BadRequest(f"The fake sorts only by one of {list(SORTABLE)}")
    if sort.get("direction") not in ("ASC", "DESC"):
        raise BadRequest("sort.direction must be ASC or DESC")
    return page, size, criteria, sort["property"], sort["direction"] == "DESC"


def _matches(entry: _Entry, criteria: dict[str, Any]) -> bool:
    number = criteria.get("number")
    if number and entry.ct_number != str(number).strip():
        return False
    condition = str(criteria.get("medicalCondition") or "").strip().casefold()
    if condition and condition not in entry.titles:
        return False
    sponsor = str(criteria.get("sponsor") or "").strip().casefold()
    if sponsor and sponsor not in str(entry.search.get("sponsor") or "").casefold():
        return False
    every = str(criteria.get("containAll") or "").casefold().split()
    if not all(word in entry.everything for word in every):
        return False
    some = str(criteria.get("containAny") or "").casefold().split()
    if some and not any(word in entry.everything for word in some):
        return False
    statuses = criteria.get("status")
    return not statuses or entry.search.get("ctStatus") in statuses


# -- HTTP server --------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, address: tuple[str, int], fake: FakeCtis) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not worth a traceback."""
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
    server_version = "FakeCtis/1"
    timeout = 30  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        status, headers, body = self.server.fake.respond(method, path, raw)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# -- fixtures and command line ----------------------------------------------------


def load_fixture_records(directory: Path | None = None) -> list[dict[str, Any]]:
    """The retrieve records of ``directory`` (default ``tests/fixtures/ctis``), the newest
    capture of each trial only (files sort by their capture date)."""
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted((directory or FIXTURES).glob("*.json")):
        record = orjson.loads(path.read_bytes())
        if isinstance(record, dict) and "ctNumber" in record and "authorizedApplication" in record:
            newest[record["ctNumber"]] = record
    return list(newest.values())


def load_fixture_search_records(directory: Path | None = None) -> list[dict[str, Any]]:
    """The recorded search records (``*search-record*.json``) of ``directory``."""
    return [
        orjson.loads(path.read_bytes())
        for path in sorted((directory or FIXTURES).glob("*search-record*.json"))
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake EU CTIS public API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    fake = FakeCtis(
        load_fixture_records(),
        search_records=load_fixture_search_records(),
        host=args.host,
        port=args.port,
    ).start()
    print(f"Fake EU CTIS serving {len(fake)} trials at {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
