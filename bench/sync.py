"""Benchmark of the sync job: N generated studies, served over loopback HTTP, synced into SQLite.

Run it from the repository root::

    .venv/bin/python bench/sync.py                 # N=10,000
    .venv/bin/python bench/sync.py --scaling       # N then 2N (10,000, 20,000): peak RSS per N
    .venv/bin/python bench/sync.py --with-huge     # also copy the 1.5 MB NCT02513394 record

It prints figures and PASS/FAIL lines against the targets; it is not a test and
exits 0 whatever the figures (``--strict``: exit 1 when a target fails). Pacing is
off (``requests_per_minute=0``): the paced wall time at the default
TRIALWATCH_REQUESTS_PER_MINUTE is *computed* from the requests made
(requests x 60 / rpm), not waited for.

How it measures:

* Records: every fixture record of ``tests/fixtures/ctgov`` (and ``constructed/``),
  copied round-robin, each copy with a new NCT ID (``NCT9nnnnnnn``), a varied
  status, enrollment, last-update date (spread over ten years), one location
  dropped or duplicated and a title suffix, so that every content hash differs.
  Every copy gets the condition :data:`CONDITION`: the benchmark watchlist's only
  criterion. Ten more watchlists (``bench-0`` .. ``bench-9``) add four of the nine
  statuses each, so that they overlap: each holds ~4/9 of the studies, every study
  is in four or five of them.
* Servers: :class:`tests.support.fakeapi.FakeCtgov` in a subprocess (see the comment
  on :func:`server_process`): first the N records, then the same with 1 % of them
  edited (status and LastUpdatePostDate moved) and a later dataTimestamp.
* Phases, each in a fresh child process so that each peak RSS is its own:
  the baseline (httpx + orjson + one ``executemany`` per page into a bare SQLite
  table, page 1000), a parser comparison (a page parsed whole with orjson against
  one record at a time with ijson), the first sync at page 250 and at page 1000
  (each into its own fresh SQLite file), then on the page-1000 file a light full
  re-sync, a no-change incremental (dataTimestamp unchanged) and, against the
  edited server, an incremental where the timestamp moved; and the ten overlapping
  watchlists synced one at a time (each alone, as ``trialwatch sync SLUG`` does)
  against all ten as one batch (as the cycle does): first sync, again with nothing
  published, and after the edit.
* Peak RSS is ``getrusage(RUSAGE_SELF).ru_maxrss`` of the phase's process, with the
  RSS after imports (psutil) beside it and psutil's sampled peak as a cross-check.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for ``tests.support.fakeapi``

if TYPE_CHECKING:
    from trialwatch.registries.ctgov.client import CtgovClient, Page

# trialwatch, SQLAlchemy and the fake server are imported inside the functions that
# need them, so that the baseline's child process does not carry them in its RSS.

CONDITION = "trialwatch benchmark condition"
WATCHLIST = "bench"
OVERLAPPING = 10  # watchlists bench-0 .. bench-9
HUGE_NCT_ID = "NCT02513394"  # 1.5 MB pretty-printed, 0.76 MB as compact JSON
STATUSES = (
    "RECRUITING",
    "NOT_YET_RECRUITING",
    "ACTIVE_NOT_RECRUITING",
    "ENROLLING_BY_INVITATION",
    "COMPLETED",
    "SUSPENDED",
    "TERMINATED",
    "WITHDRAWN",
    "UNKNOWN",
)
FIRST_DAY = date(2015, 1, 1)
SPREAD_DAYS = 3650
EDITED_EVERY = 100  # the edited server moves every 100th study (1 %)
EDITED_DAY = "2026-11-30"
EDITED_TIMESTAMP = "2026-11-30T09:00:04"
DEFAULT_RPM = 40.0  # TRIALWATCH_REQUESTS_PER_MINUTE's default

# Targets.
MAX_PEAK_MB = 200.0  # first sync at page 1000
RESYNC_MIN_RATE = 5000.0  # studies/s, no-change light full re-sync
RESYNC_MAX_REQUESTS = 12  # for 10,000 studies
# "Not growing with N": the 2N peak is within this of the N peak.
GROWTH_TOLERANCE = 0.10  # fraction of the smaller peak...
GROWTH_SLACK_MB = 10.0  # ...or this many MB, whichever is larger


# -- records ----------------------------------------------------------------------


DEFAULT_PAGE_SIZE = 1000  # TRIALWATCH_PAGE_SIZE's default (tests/test_project.py checks)


def generate_records(n: int, *, seed: int, with_huge: bool) -> Iterator[dict[str, Any]]:
    """``n`` varied copies of the fixture records, all matching :data:`CONDITION`."""
    import orjson
    from tests.support.fakeapi import load_fixture_records

    templates = [
        orjson.dumps(record)
        for record in load_fixture_records()
        if with_huge or record["protocolSection"]["identificationModule"]["nctId"] != HUGE_NCT_ID
    ]
    rng = random.Random(seed)
    for i in range(n):
        record: dict[str, Any] = orjson.loads(templates[i % len(templates)])
        protocol = record["protocolSection"]
        ident = protocol["identificationModule"]
        ident["nctId"] = f"NCT9{i:07d}"
        ident.pop("nctIdAliases", None)  # the copies must not claim the originals' aliases
        ident["briefTitle"] = f"{ident.get('briefTitle') or 'Study'} (benchmark copy {i})"
        status = protocol.setdefault("statusModule", {})
        status["overallStatus"] = rng.choice(STATUSES)
        day = FIRST_DAY + timedelta(days=rng.randrange(SPREAD_DAYS))
        status["lastUpdatePostDateStruct"] = {"date": day.isoformat(), "type": "ACTUAL"}
        design = protocol.setdefault("designModule", {})
        enrollment = dict(design.get("enrollmentInfo") or {"type": "ESTIMATED"})
        enrollment["count"] = rng.randrange(10, 5000)
        design["enrollmentInfo"] = enrollment
        locations = (protocol.get("contactsLocationsModule") or {}).get("locations")
        if locations:
            where = rng.randrange(len(locations))
            if len(locations) > 1 and rng.random() < 0.5:
                del locations[where]
            else:
                locations.append(dict(locations[where]))
        conditions = protocol.setdefault("conditionsModule", {})
        conditions["conditions"] = [*(conditions.get("conditions") or []), CONDITION]
        yield record


def fixture_summary(with_huge: bool) -> str:
    from tests.support.fakeapi import load_fixture_records

    count = sum(
        1
        for record in load_fixture_records()
        if with_huge or record["protocolSection"]["identificationModule"]["nctId"] != HUGE_NCT_ID
    )
    huge = "included" if with_huge else "excluded (--with-huge to include it)"
    return f"{count} fixture records, {HUGE_NCT_ID} (1.5 MB file, 0.76 MB compact) {huge}"


def _edit(record: dict[str, Any]) -> None:
    status = record["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED" if status["overallStatus"] != "COMPLETED" else "UNKNOWN"
    status["lastUpdatePostDateStruct"] = {"date": EDITED_DAY, "type": "ACTUAL"}


def load_server(
    n: int, *, seed: int, with_huge: bool, edited: bool = False
) -> tuple[Any, dict[str, Any]]:
    """A started FakeCtgov holding the generated records (1 % edited if asked)."""
    import orjson
    from tests.support.fakeapi import FakeCtgov

    started = time.perf_counter()
    fake = FakeCtgov()
    sizes = []
    for i, record in enumerate(generate_records(n, seed=seed, with_huge=with_huge)):
        if edited and i % EDITED_EVERY == 0:
            _edit(record)
        sizes.append(len(orjson.dumps(record)))  # what the server sends for it
        fake.put(record)
    if edited:
        fake.data_timestamp = EDITED_TIMESTAMP
    fake.start()
    info = {
        "url": fake.base_url,
        "count": len(sizes),
        "mean_bytes": sum(sizes) / len(sizes) if sizes else 0.0,
        "max_bytes": max(sizes, default=0),
        "total_bytes": sum(sizes),
        "load_seconds": time.perf_counter() - started,
    }
    return fake, info


def serve(n: int, *, seed: int, with_huge: bool, edited: bool) -> None:
    """Child process: serve the records until stdin closes; first line of stdout is JSON."""
    fake, info = load_server(n, seed=seed, with_huge=with_huge, edited=edited)
    print(json.dumps(info), flush=True)
    try:
        sys.stdin.read()
    finally:
        fake.stop()


# -- memory -----------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class RssSampler:
    """psutil's RSS of this process sampled every ``interval`` s (None without psutil)."""

    def __init__(self, interval: float = 0.02) -> None:
        try:
            import psutil  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            self._process: Any = None
        else:
            self._process = psutil.Process()
        self.interval = interval
        self.start_mb: float | None = self._rss()
        self.peak_mb: float | None = self.start_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _rss(self) -> float | None:
        return None if self._process is None else float(self._process.memory_info().rss) / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = self._rss()
            if rss is not None and (self.peak_mb is None or rss > self.peak_mb):
                self.peak_mb = rss

    def __enter__(self) -> RssSampler:
        if self._process is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        rss = self._rss()
        if rss is not None and (self.peak_mb is None or rss > self.peak_mb):
            self.peak_mb = rss


# -- phases -----------------------------------------------------------------------


def search_params(page_size: int) -> dict[str, str]:
    """The parameters of the benchmark watchlist's full sync (as ``sync_watchlist`` sends)."""
    from trialwatch.registries.ctgov.query import build_search_params
    from trialwatch.watchlists import Criteria

    params = build_search_params(Criteria(conditions=(CONDITION,)))
    params["pageSize"] = str(page_size)
    return params


def phase_baseline(url: str, db: Path, page_size: int) -> dict[str, Any]:
    """Fetch, parse with orjson, insert (nct_id, json) rows: one transaction per page.

    The cyclic GC is paused during the pages, as in the sync job, so that the two are
    compared on the same footing.
    """
    import httpx
    import orjson

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw_study (nct_id TEXT PRIMARY KEY, json TEXT NOT NULL)")
    conn.commit()
    params = search_params(page_size)
    fetch = parse = store = 0.0
    studies = pages = 0
    token: str | None = None
    started = time.perf_counter()
    gc.disable()
    with httpx.Client(timeout=120.0) as http:
        while True:
            query = dict(params)
            if token is None:
                query["countTotal"] = "true"
            else:
                query["pageToken"] = token
            t0 = time.perf_counter()
            response = http.get(f"{url}/studies", params=query)
            response.raise_for_status()
            body = response.content
            del response
            t1 = time.perf_counter()
            data = orjson.loads(body)
            del body
            t2 = time.perf_counter()
            rows = [
                (s["protocolSection"]["identificationModule"]["nctId"], orjson.dumps(s).decode())
                for s in data["studies"]
            ]
            with conn:
                conn.executemany("INSERT INTO raw_study (nct_id, json) VALUES (?, ?)", rows)
            t3 = time.perf_counter()
            fetch, parse, store = fetch + t1 - t0, parse + t2 - t1, store + t3 - t2
            studies += len(rows)
            pages += 1
            token = data.get("nextPageToken")
            del data, rows
            gc.collect(0)
            if token is None:
                break
    gc.enable()
    seconds = time.perf_counter() - started
    conn.close()
    return {
        "seconds": seconds,
        "studies": studies,
        "pages": pages,
        "fetch_seconds": fetch,
        "parse_seconds": parse,
        "store_seconds": store,
    }


def phase_parse(url: str, page_size: int) -> dict[str, Any]:
    """Each page body read three ways, each record then dumped as canonical JSON (as the
    store hashes it), GC off as in the sync: parsed whole with orjson; one record at a
    time with ijson (yajl2_c); cut into records, each parsed with orjson
    (``ctgov.pages``, what the sync does). Memory: Python's peak while parsing the
    first page (tracemalloc), whole against one record at a time."""
    import tracemalloc

    import httpx
    import ijson  # type: ignore[import-untyped,unused-ignore]
    import orjson

    from trialwatch.registries.ctgov import pages

    def cut(body: bytes) -> Iterator[Any]:
        chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        opening = pages.STUDIES_FIRST.match(pages.head(chunks))
        _, tail_size = pages.page_tail(pages.tail(chunks), url)
        size = opening.end() if opening else 0
        return pages.iter_studies(chunks, head_size=size, tail_size=tail_size, where=url)

    readers: dict[str, Any] = {
        "orjson": lambda body: orjson.loads(body)["studies"],
        "ijson": lambda body: ijson.items(body, "studies.item", use_float=True),
        "cut": cut,
    }
    seconds = dict.fromkeys(readers, 0.0)
    held = dict.fromkeys(readers, 0)
    total_bytes = pages_read = 0
    params = search_params(page_size)
    token: str | None = None
    gc.disable()
    with httpx.Client(timeout=120.0) as http:
        while True:
            query = dict(params)
            query["countTotal" if token is None else "pageToken"] = token or "true"
            body = http.get(f"{url}/studies", params=query).raise_for_status().content
            for name, reader in readers.items():
                started = time.perf_counter()
                for study in reader(body):
                    orjson.dumps(study, option=orjson.OPT_SORT_KEYS)
                seconds[name] += time.perf_counter() - started
                if pages_read == 0:
                    tracemalloc.start()
                    for study in reader(body):
                        del study
                    held[name] = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
            token = pages.page_tail(pages.tail([body]), url)[0].get("nextPageToken")
            total_bytes += len(body)
            pages_read += 1
            del body
            gc.collect(0)
            if token is None:
                break
    gc.enable()
    return {"pages": pages_read, "bytes": total_bytes, "seconds": seconds, "held": held}


class TimedSource:
    """The real CtgovClient, with the time spent fetching and parsing pages counted."""

    def __init__(self, client: CtgovClient) -> None:
        self.client = client
        self.fetch_seconds = 0.0

    @property
    def request_count(self) -> int:
        return self.client.request_count

    def data_timestamp(self) -> str:
        return self.client.data_timestamp()

    def iter_pages(self, params: Mapping[str, str], *, page_size: int = 1000) -> Iterator[Page]:
        pages = self.client.iter_pages(params, page_size=page_size)
        while True:
            started = time.perf_counter()
            try:
                held = [next(pages)]
            except StopIteration:
                return
            finally:
                self.fetch_seconds += time.perf_counter() - started
            # Yield without keeping a reference in this frame while suspended: the
            # wrapper must not keep a page alive longer than the sync and client do.
            yield held.pop()


def _sum_results(results: list[Any], seconds: float, source: TimedSource) -> dict[str, Any]:
    failed = [r.failure for r in results if getattr(r, "failure", None) is not None]
    if failed:
        raise SystemExit(f"a sync failed: {failed[0]}")
    return {
        "seconds": seconds,
        "studies": sum(r.seen for r in results),
        "pages": sum(r.pages for r in results),
        "requests": source.request_count,
        # Code before light listings downloaded every study it saw.
        "fetched": sum(getattr(r, "fetched", r.seen) for r in results),
        "fetch_seconds": source.fetch_seconds,
        "store_seconds": seconds - source.fetch_seconds,
        "mode": ",".join(sorted({r.mode for r in results})),
        "new": sum(r.new for r in results),
        "updated": sum(r.updated for r in results),
        "unchanged": sum(r.unchanged for r in results),
        "left": sum(r.left for r in results),
        "changes": sum(r.changes for r in results),
        "watchlists": len(results),
    }


def phase_sync(kind: str, url: str, db: Path, page_size: int) -> dict[str, Any]:
    """One sync on ``db``: ``first``/``full``/``incremental`` of the benchmark watchlist,
    or the ten overlapping watchlists ``each`` alone or as one ``batch``.

    Only ``batch`` needs ``sync_watchlists``: the others run on earlier code too
    (``--only``, to measure the code before a change in the same session).
    """
    from trialwatch.jobs.sync import sync_watchlist
    from trialwatch.registries.ctgov.client import CtgovClient
    from trialwatch.store.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    source = TimedSource(CtgovClient(url, requests_per_minute=0, timeout=120.0))
    registry: Any = source  # code before the registry seam took the client itself
    try:
        from trialwatch.registries.ctgov.registry import CtgovRegistry
    except ImportError:
        pass
    else:
        registry = CtgovRegistry(source)
    overlapping = [f"{WATCHLIST}-{k}" for k in range(OVERLAPPING)]
    try:
        started = time.perf_counter()
        if kind in ("first", "full", "incremental"):
            results: list[Any] = [
                sync_watchlist(
                    engine, registry, WATCHLIST, full=kind != "incremental", page_size=page_size
                )
            ]
        elif kind == "each":
            results = [
                sync_watchlist(engine, registry, slug, page_size=page_size) for slug in overlapping
            ]
        elif kind == "batch":
            from trialwatch.jobs.sync import sync_watchlists

            results = sync_watchlists(engine, registry, overlapping, page_size=page_size)
        else:
            raise ValueError(f"unknown sync phase {kind!r}")
        seconds = time.perf_counter() - started
    finally:
        source.client.close()
        engine.dispose()
    return _sum_results(results, seconds, source)


def setup_database(db: Path) -> None:
    """Create the schema, the benchmark watchlist and the ten overlapping ones (not timed)."""
    from trialwatch.services import watchlist_files
    from trialwatch.store.db import make_engine, make_sessionmaker, session_scope, upgrade
    from trialwatch.watchlists import Criteria, WatchlistSpec

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    specs = [
        WatchlistSpec(
            slug=WATCHLIST,
            name="Benchmark",
            criteria=Criteria(conditions=(CONDITION,)),
            source="bench/sync.py",
        )
    ]
    for k in range(OVERLAPPING):
        statuses = tuple(sorted(STATUSES[(k + j) % len(STATUSES)] for j in range(4)))
        specs.append(
            WatchlistSpec(
                slug=f"{WATCHLIST}-{k}",
                name=f"Benchmark {k}",
                criteria=Criteria(conditions=(CONDITION,), statuses=statuses),
                source="bench/sync.py",
            )
        )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, specs, datetime.now(UTC))
    engine.dispose()


def _import_for(phase: str) -> None:
    import httpx  # noqa: F401
    import orjson  # noqa: F401

    from trialwatch.registries.ctgov import query  # noqa: F401

    if phase not in ("baseline", "parse"):
        import sqlalchemy  # noqa: F401

        from trialwatch.jobs import sync  # noqa: F401
        from trialwatch.registries.ctgov import client  # noqa: F401
        from trialwatch.store import db, studies  # noqa: F401


def run_phase(phase: str, url: str, db: Path, page_size: int) -> dict[str, Any]:
    """Run one phase in this process; adds its memory figures to the result."""
    _import_for(phase)  # so that the start RSS includes the phase's imports
    sampler = RssSampler()
    with sampler:
        if phase == "baseline":
            result = phase_baseline(url, db, page_size)
        elif phase == "parse":
            result = phase_parse(url, page_size)
        else:
            result = phase_sync(phase, url, db, page_size)
    result.update(
        phase=phase,
        peak_rss_mb=peak_rss_mb(),
        start_rss_mb=sampler.start_mb,
        sampled_peak_mb=sampler.peak_mb,
    )
    return result


# -- orchestration ----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    phase: str
    db: str | None  # file name in the work folder; None: no database
    page_size: int
    edited: bool = False  # against the server with 1 % of the studies edited


STEPS = (
    Step("baseline", "baseline: httpx+orjson+executemany", "baseline", "baseline.db", 1000),
    Step("parse", "parsers", "parse", None, 1000),
    Step("first250", "first sync, page 250", "first", "p250.db", 250),
    Step("first1000", "first sync, page 1000", "first", "p1000.db", 1000),
    Step("full", "light full re-sync, no change", "full", "p1000.db", 1000),
    Step("incremental", "incremental, same dataTimestamp", "incremental", "p1000.db", 1000),
    Step("each_first", "10 overlapping one at a time: first", "each", "each.db", 1000),
    Step("batch_first", "10 overlapping as one batch: first", "batch", "batch.db", 1000),
    Step("each_same", "10 overlapping one at a time: no change", "each", "each.db", 1000),
    Step("batch_same", "10 overlapping as one batch: no change", "batch", "batch.db", 1000),
    Step("moved", "incremental, 1 % edited", "incremental", "p1000.db", 1000, edited=True),
    Step("each_moved", "10 overlapping one at a time: 1 % ed.", "each", "each.db", 1000, True),
    Step("batch_moved", "10 overlapping as one batch: 1 % ed.", "batch", "batch.db", 1000, True),
)


@dataclass
class Run:
    n: int
    info: dict[str, Any]
    results: dict[str, dict[str, Any]]
    steps: tuple[Step, ...]


def _child_phase(step: Step, url: str, workdir: Path) -> dict[str, Any]:
    # Write back what earlier phases left dirty (hundreds of MB of SQLite pages), so that
    # no phase is slowed by the kernel flushing the one before it.
    os.sync()
    db = workdir / (step.db or "none.db")
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", step.phase]
    command += ["--url", url, "--db", str(db), "--page-size", str(step.page_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {step.key} failed (exit {done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# Why the fake server runs in its own process. Measured on a 2-vCPU VM (shared with
# other jobs, load average ~2), N=10,000, page size 1000, same code:
#
#                                  server in a thread   server in a subprocess
#     baseline                          12.62 s               12.71 s
#     (1) first sync                    19.04 s               21.34 s
#     (2) no-change full re-sync        14.30 s               15.56 s
#
# The GIL does not distort the times: client and server never compute at once (the
# client waits in recv() while the server joins and sends a page), and the
# differences are within the run-to-run noise of this machine (+-20 %). What does
# distort the figures is memory: in a thread, the server's 10,000 records (~360 MB
# of bytes plus its search index) share the measured process, so its peak RSS
# would say nothing about the sync. A subprocess keeps the timings honest and makes
# each phase's peak RSS its own; ``--server thread`` is kept to re-check the times.
@contextlib.contextmanager
def server_process(n: int, *, seed: int, with_huge: bool, edited: bool) -> Iterator[dict[str, Any]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--n", str(n)]
    command += ["--seed", str(seed)] + (["--with-huge"] if with_huge else [])
    command += ["--edited"] if edited else []
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdin is None or proc.stdout is None:
        raise RuntimeError("no pipes to the server process")
    try:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the fake server process did not start")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _warm_up(url: str) -> None:
    """One request with the sync's parameters, so the server's search cache is ready."""
    import httpx

    httpx.get(f"{url}/studies", params=search_params(1), timeout=120.0).raise_for_status()


def run_all(args: argparse.Namespace, n: int, workdir: Path) -> Run:
    results: dict[str, dict[str, Any]] = {}
    steps: tuple[Step, ...] = args.steps
    for name in {step.db for step in steps if step.db and step.db != "baseline.db"}:
        setup_database(workdir / name)
    info: dict[str, Any] = {}
    for edited in sorted({step.edited for step in steps}):
        with server_process(n, seed=args.seed, with_huge=args.with_huge, edited=edited) as served:
            info = info or served
            _warm_up(served["url"])
            for step in steps:
                if step.edited == edited:
                    results[step.key] = _child_phase(step, served["url"], workdir)
                    took = results[step.key]["seconds"]
                    total = sum(took.values()) if isinstance(took, dict) else took
                    print(f"  ... {step.key} done in {total:.2f} s", flush=True)
    db = workdir / "p1000.db"
    info["db_mb"] = db.stat().st_size / 2**20 if db.exists() else None
    return Run(n=n, info=info, results=results, steps=steps)


def _fmt_mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _paced(requests: int, rpm: float = DEFAULT_RPM) -> float:
    return requests * 60.0 / rpm


def report(run: Run, args: argparse.Namespace) -> None:
    info, results = run.info, run.results
    print()
    print(f"== N={run.n:,} studies, pacing off ==")
    print(f"records: copies of {fixture_summary(args.with_huge)}")
    print(
        f"mean record size {info['mean_bytes'] / 1024:.1f} KB (largest "
        f"{info['max_bytes'] / 1024:.0f} KB), {info['total_bytes'] / 2**20:.0f} MB served per "
        f"full pass; server loaded in {info['load_seconds']:.1f} s"
    )
    header = (
        f"{'phase':<40}{'studies':>8}{'req':>6}{'fetched':>8}{'seconds':>9}{'studies/s':>11}"
        f"{'paced s':>9}{'peak MB':>9}{'start MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for step in run.steps:
        if step.key == "parse":
            continue
        r = results[step.key]
        rate = r["studies"] / r["seconds"] if r["seconds"] else 0.0
        requests = r.get("requests", r["pages"])
        fetched = r.get("fetched", r["studies"])
        print(
            f"{step.title:<40}{r['studies']:>8}{requests:>6}{fetched:>8}{r['seconds']:>9.2f}"
            f"{rate:>11,.0f}{_paced(requests):>9.0f}{_fmt_mb(r['peak_rss_mb']):>9}"
            f"{_fmt_mb(r['start_rss_mb']):>9}"
        )
    print(
        "  (studies = listed or paged; req = HTTP requests, /version included; fetched = full"
        " records downloaded; paced s = req x 60 / "
        f"{DEFAULT_RPM:g}, the default TRIALWATCH_REQUESTS_PER_MINUTE, computed, not waited;"
        " peak MB = ru_maxrss of the phase's process, start MB = its RSS after imports)"
    )
    sampled = ", ".join(
        f"{s.key} {_fmt_mb(results[s.key]['sampled_peak_mb'])}"
        for s in run.steps
        if s.key != "parse"
    )
    print(f"  psutil sampled peak RSS MB (cross-check): {sampled}")
    for key in ("first250", "first1000"):
        if key in results:
            first = results[key]
            print(
                f"  {key}: fetch+parse {first['fetch_seconds']:.2f} s, store"
                f" {first['store_seconds']:.2f} s; new={first['new']} changes={first['changes']}"
            )
    for key in ("full", "incremental", "moved", "each_moved", "batch_moved"):
        if key not in results:
            continue
        r = results[key]
        print(
            f"  {key}: mode={r['mode']} seen={r['studies']} fetched={r['fetched']} new={r['new']}"
            f" updated={r['updated']} unchanged={r['unchanged']} left={r['left']}"
        )
    if "parse" in results:
        _report_parse(results["parse"])
    if info["db_mb"] is not None:
        print(f"database file (page 1000): {info['db_mb']:.0f} MB")


def _report_parse(parse: dict[str, Any]) -> None:
    mb = parse["bytes"] / 2**20
    took, held = parse["seconds"], parse["held"]
    names = {
        "orjson": "orjson.loads of the whole page",
        "ijson": "ijson.items one record at a time",
        "cut": "cut into records, orjson each (the sync's)",
    }
    print(
        f"reading the same {parse['pages']} page bodies ({mb:.0f} MB) and dumping each record"
        " canonically, GC off: "
        + "; ".join(
            f"{names[k]} {took[k]:.2f} s ({mb / took[k]:.0f} MB/s, Python peak"
            f" {held[k] / 2**20:.1f} MB on one page)"
            for k in names
        )
    )


def _line(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return ok


def targets(runs: list[Run]) -> bool:
    run = runs[0]
    r = run.results
    print(f"\nTargets (N={run.n:,}):")
    ok = True
    if "first1000" in r:
        first = r["first1000"]
        ok &= _line(
            first["peak_rss_mb"] < MAX_PEAK_MB,
            f"first sync at page 1000 peak RSS < {MAX_PEAK_MB:.0f} MB: "
            f"{first['peak_rss_mb']:.0f} MB",
        )
    if "first1000" in r and "first250" in r:
        first, first250 = r["first1000"], r["first250"]
        ok &= _line(
            first["seconds"] <= first250["seconds"] * 1.05,
            f"first sync at page 1000 no slower than at page 250 (5 % noise): "
            f"{first['seconds']:.2f} s vs {first250['seconds']:.2f} s",
        )
    if "full" in r:
        full = r["full"]
        full_rate = full["studies"] / full["seconds"]
        ok &= _line(
            full["requests"] <= RESYNC_MAX_REQUESTS * max(1, run.n // 10_000)
            and full_rate >= RESYNC_MIN_RATE,
            f"no-change full re-sync <= {RESYNC_MAX_REQUESTS} requests per 10,000 and >= "
            f"{RESYNC_MIN_RATE:,.0f} studies/s: {full['requests']} requests, "
            f"{full_rate:,.0f} studies/s",
        )
    if "incremental" in r:
        ok &= _line(
            r["incremental"]["requests"] == 1 and r["incremental"]["fetched"] == 0,
            f"no-change incremental makes 1 request: {r['incremental']['requests']}",
        )
    for when in ("first", "same", "moved"):
        if f"each_{when}" not in r or f"batch_{when}" not in r:
            continue
        each, batch = r[f"each_{when}"], r[f"batch_{when}"]
        # A first sync downloads every study anyway: there the batch saves downloads (each
        # shared study once), not requests (it lists each watchlist, then fetches by ID).
        fewer = (
            batch["fetched"] < each["fetched"]
            if when == "first"
            else (batch["requests"] < each["requests"] and batch["fetched"] <= each["fetched"])
        )
        ok &= _line(
            fewer,
            f"10 overlapping watchlists ({when}): one batch {batch['requests']} requests,"
            f" {batch['fetched']} full records, {batch['seconds']:.1f} s; one at a time"
            f" {each['requests']} requests, {each['fetched']} full records,"
            f" {each['seconds']:.1f} s",
        )
    if len(runs) < 2:
        print("SKIP  peak RSS not growing with N: run with --scaling")
        return ok
    small, large = runs[0], runs[-1]
    print("\nPeak RSS by N (MB, ru_maxrss of each phase's process):")
    print(f"{'phase':<40}{f'N={small.n:,}':>10}{f'N={large.n:,}':>10}{'growth':>9}")
    grown = []
    for step in run.steps:
        if step.key == "parse":
            continue
        a = small.results[step.key]["peak_rss_mb"]
        b = large.results[step.key]["peak_rss_mb"]
        print(f"{step.title:<40}{a:>10.0f}{b:>10.0f}{b - a:>+9.0f}")
        if step.key in ("first250", "first1000", "full") and b - a > max(
            GROWTH_SLACK_MB, GROWTH_TOLERANCE * a
        ):
            grown.append(f"{step.key} {a:.0f} -> {b:.0f}")
    ok &= _line(
        not grown,
        f"first syncs and light re-sync peak RSS flat from N={small.n:,} to N={large.n:,} "
        f"(tolerance {GROWTH_TOLERANCE:.0%} or {GROWTH_SLACK_MB:.0f} MB): "
        + ("; ".join(grown) if grown else "flat"),
    )
    return ok


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000, help="studies to generate (10,000)")
    parser.add_argument("--with-huge", action="store_true", help=f"include {HUGE_NCT_ID}")
    parser.add_argument("--scaling", action="store_true", help="run N and 2N studies")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--only",
        help="comma-separated steps to run (e.g. to measure earlier code, which has no batch)",
    )
    # Internal: the child processes.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--edited", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        serve(args.n, seed=args.seed, with_huge=args.with_huge, edited=args.edited)
        return 0
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.url, args.db, args.page_size)))
        return 0

    import ijson  # type: ignore[import-untyped,unused-ignore]
    import orjson
    import sqlalchemy

    print(
        f"TrialWatch sync benchmark: Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, orjson "
        f"{orjson.__version__}, ijson {ijson.__version__} ({ijson.backend}), "
        f"{os.cpu_count()} CPUs, load average {_load()}"
    )
    args.steps = STEPS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {step.key for step in STEPS}
        if unknown:
            parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
        args.steps = tuple(step for step in STEPS if step.key in wanted)
    sizes = [args.n, 2 * args.n] if args.scaling else [args.n]
    runs: list[Run] = []
    for n in sizes:
        workdir = Path(tempfile.mkdtemp(prefix="trialwatch-bench-"))
        try:
            print(f"running N={n:,} ...", flush=True)
            run = run_all(args, n, workdir)
            report(run, args)
            runs.append(run)
        finally:
            if args.keep:
                print(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average at the end: {_load()} (other work on the machine skews the times)")
    ok = targets(runs)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
