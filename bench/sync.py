"""Benchmark of the sync job: N generated studies, served over loopback HTTP, synced into SQLite.

Run it from the repository root::

    .venv/bin/python bench/sync.py                 # N=10,000, page size 1000
    .venv/bin/python bench/sync.py --scaling       # N then 2N (10,000, 20,000): peak RSS per N
    .venv/bin/python bench/sync.py --with-huge     # also copy the 1.5 MB NCT02513394 record
    .venv/bin/python bench/sync.py --profile       # + cProfile top functions of each sync phase

It prints figures and PASS/FAIL lines against the targets; it is not a test and
exits 0 whatever the figures (``--strict``: exit 1 when a target fails).

How it measures:

* Records: every fixture record of ``tests/fixtures/ctgov`` (and ``constructed/``),
  copied round-robin, each copy with a new NCT ID (``NCT9nnnnnnn``), a varied
  status, enrollment, last-update date (spread over ten years), one location
  dropped or duplicated and a title suffix, so that every content hash differs.
  Every copy gets the condition :data:`CONDITION`, which is the benchmark
  watchlist's only criterion (``query.cond``: a substring test in the fake server,
  on text it indexes once at ``put``).
* Server: :class:`tests.support.fakeapi.FakeCtgov` in a subprocess (see the comment on
  :func:`server_process` for why; ``--server thread`` runs it in a thread instead).
* Phases, each in a fresh child process so that each peak RSS is its own:
  the baseline (httpx + orjson + one ``executemany`` per page into a bare SQLite
  table), a parser comparison (stdlib ``json`` against ``orjson`` on the same page
  bodies: parsing, and the canonical sorted-keys dump the store hashes), then on
  one fresh SQLite file: (1) the first sync, (2) a no-change full re-sync, (3) a
  no-change incremental re-sync.
* Peak RSS is ``getrusage(RUSAGE_SELF).ru_maxrss`` of the phase's process, with the
  RSS after imports (psutil) beside it and psutil's sampled peak as a cross-check.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import platform
import pstats
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
    from trialwatch.ctgov.client import CtgovClient, Page

# trialwatch, SQLAlchemy and the fake server are imported inside the functions that
# need them, so that the baseline's child process does not carry them in its RSS.

CONDITION = "trialwatch benchmark condition"
WATCHLIST = "bench"
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
SYNC_PHASES = ("first", "full", "incremental")
PHASE_TITLES = {
    "baseline": "baseline: httpx+orjson+executemany",
    "first": "(1) first sync (full)",
    "full": "(2) no-change full re-sync",
    "incremental": "(3) no-change incremental re-sync",
}

# Targets.
FIRST_MIN_RATE = 1000.0  # studies/s
FIRST_MAX_VS_BASELINE = 3.0  # x the baseline's time
RESYNC_MIN_RATE = 3000.0  # studies/s, no-change full re-sync
MAX_PEAK_MB = 300.0
# "Not growing with N": the 2N peak is within this of the N peak (N=2,000 was tried and
# is too small: 8 pages, so the allocator's warm-up looked like growth).
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


def load_server(n: int, *, seed: int, with_huge: bool) -> tuple[Any, dict[str, Any]]:
    """A started FakeCtgov holding the generated records, and facts about them."""
    import orjson
    from tests.support.fakeapi import FakeCtgov

    started = time.perf_counter()
    fake = FakeCtgov()
    sizes = []
    for record in generate_records(n, seed=seed, with_huge=with_huge):
        sizes.append(len(orjson.dumps(record)))  # what the server sends for it
        fake.put(record)
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


def serve(n: int, *, seed: int, with_huge: bool) -> None:
    """Child process: serve the records until stdin closes; first line of stdout is JSON."""
    fake, info = load_server(n, seed=seed, with_huge=with_huge)
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
    from trialwatch.ctgov.query import build_search_params
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
    """Parse each page body with orjson and with the stdlib json module, GC on and off,
    and dump its studies as canonical JSON (sorted keys, compact) with both.

    "GC on" is how the sync parses (the cyclic collector runs while the page's
    millions of containers are allocated); "GC off" isolates the parser itself.
    """
    import httpx
    import orjson

    parsers: dict[str, Any] = {"orjson": orjson.loads, "json": json.loads}
    seconds = {f"{name}_{gc_state}": 0.0 for name in parsers for gc_state in ("gc", "nogc")}
    seconds.update(orjson_dumps=0.0, json_dumps=0.0)
    total_bytes = pages = 0
    params = search_params(page_size)
    token: str | None = None
    with httpx.Client(timeout=120.0) as http:
        while True:
            query = dict(params)
            if token is None:
                query["countTotal"] = "true"
            else:
                query["pageToken"] = token
            response = http.get(f"{url}/studies", params=query)
            response.raise_for_status()
            body = response.content
            del response
            for name, loads in parsers.items():
                for gc_state in ("gc", "nogc"):
                    if gc_state == "nogc":
                        gc.disable()
                    try:
                        started = time.perf_counter()
                        parsed = loads(body)
                        seconds[f"{name}_{gc_state}"] += time.perf_counter() - started
                    finally:
                        gc.enable()
                    del parsed
            data = orjson.loads(body)
            started = time.perf_counter()
            for study in data["studies"]:
                orjson.dumps(study, option=orjson.OPT_SORT_KEYS)
            seconds["orjson_dumps"] += time.perf_counter() - started
            started = time.perf_counter()
            for study in data["studies"]:
                json.dumps(study, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            seconds["json_dumps"] += time.perf_counter() - started
            total_bytes += len(body)
            pages += 1
            token = data.get("nextPageToken")
            del body, data
            if token is None:
                break
    return {"pages": pages, "bytes": total_bytes, "seconds": seconds}


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


def phase_sync(kind: str, url: str, db: Path, page_size: int) -> dict[str, Any]:
    """One ``sync_watchlist`` run on ``db``: first (full), full, or incremental."""
    from trialwatch.ctgov.client import CtgovClient
    from trialwatch.jobs.sync import sync_watchlist
    from trialwatch.store.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    source = TimedSource(CtgovClient(url, requests_per_minute=0, timeout=120.0))
    try:
        started = time.perf_counter()
        result = sync_watchlist(
            engine, source, WATCHLIST, full=kind != "incremental", page_size=page_size
        )
        seconds = time.perf_counter() - started
    finally:
        source.client.close()
        engine.dispose()
    return {
        "seconds": seconds,
        "studies": result.seen,
        "pages": result.pages,
        "requests": result.requests,
        "fetch_seconds": source.fetch_seconds,
        "store_seconds": seconds - source.fetch_seconds,
        "mode": result.mode,
        "new": result.new,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "left": result.left,
        "changes": getattr(result, "changes", None),  # change rows written (if recorded)
    }


def setup_database(db: Path) -> None:
    """Create the schema and the benchmark watchlist (not timed)."""
    from trialwatch.store import watchlists as watchlist_store
    from trialwatch.store.db import make_engine, make_sessionmaker, session_scope, upgrade
    from trialwatch.watchlists import Criteria, WatchlistSpec

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    spec = WatchlistSpec(
        slug=WATCHLIST,
        name="Benchmark",
        criteria=Criteria(conditions=(CONDITION,)),
        source="bench/sync.py",
    )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_store.upsert_watchlists(session, [spec], datetime.now(UTC))
    engine.dispose()


def _import_for(phase: str) -> None:
    import httpx  # noqa: F401
    import orjson  # noqa: F401

    from trialwatch.ctgov import query  # noqa: F401

    if phase in SYNC_PHASES:
        import sqlalchemy  # noqa: F401

        from trialwatch.ctgov import client  # noqa: F401
        from trialwatch.jobs import sync  # noqa: F401
        from trialwatch.store import db, studies  # noqa: F401


def run_phase(
    phase: str, url: str, db: Path, page_size: int, *, profile: bool = False
) -> dict[str, Any]:
    """Run one phase in this process; adds its memory figures (and profile) to the result."""
    _import_for(phase)  # so that the start RSS includes the phase's imports
    sampler = RssSampler()
    profiler = cProfile.Profile() if profile else None
    with sampler:
        if profiler is not None:
            profiler.enable()
        if phase == "baseline":
            result = phase_baseline(url, db, page_size)
        elif phase == "parse":
            result = phase_parse(url, page_size)
        elif phase in SYNC_PHASES:
            result = phase_sync(phase, url, db, page_size)
        else:
            raise ValueError(f"unknown phase {phase!r}")
        if profiler is not None:
            profiler.disable()
    result.update(
        phase=phase,
        peak_rss_mb=peak_rss_mb(),
        start_rss_mb=sampler.start_mb,
        sampled_peak_mb=sampler.peak_mb,
    )
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(14)
        result["profile"] = out.getvalue()
    return result


# -- orchestration ----------------------------------------------------------------


@dataclass
class Run:
    n: int
    server: str
    info: dict[str, Any]
    phases: dict[str, dict[str, Any]]


def _child_phase(phase: str, url: str, db: Path, page_size: int, profile: bool) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--url",
        url,
        "--db",
        str(db),
        "--page-size",
        str(page_size),
    ]
    if profile:
        command.append("--profile")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}):\n{done.stderr}")
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
def server_process(n: int, *, seed: int, with_huge: bool) -> Iterator[dict[str, Any]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--n", str(n)]
    command += ["--seed", str(seed)] + (["--with-huge"] if with_huge else [])
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

    params = search_params(1)
    httpx.get(f"{url}/studies", params=params, timeout=120.0).raise_for_status()


def _progress(phase: str, result: dict[str, Any]) -> None:
    took = result["seconds"]
    total = sum(took.values()) if isinstance(took, dict) else took
    print(f"  ... {phase} done in {total:.2f} s", flush=True)


def run_all(args: argparse.Namespace, n: int, workdir: Path) -> Run:
    phases: dict[str, dict[str, Any]] = {}
    db = workdir / f"trialwatch-{n}.db"
    baseline_db = workdir / f"baseline-{n}.db"
    setup_database(db)
    order = ("baseline", "parse", *SYNC_PHASES)
    if args.server == "process":
        with server_process(n, seed=args.seed, with_huge=args.with_huge) as info:
            _warm_up(info["url"])
            for phase in order:
                target = baseline_db if phase == "baseline" else db
                phases[phase] = _child_phase(
                    phase, info["url"], target, args.page_size, args.profile
                )
                _progress(phase, phases[phase])
    else:
        fake, info = load_server(n, seed=args.seed, with_huge=args.with_huge)
        try:
            _warm_up(info["url"])
            for phase in order:
                target = baseline_db if phase == "baseline" else db
                phases[phase] = run_phase(
                    phase, info["url"], target, args.page_size, profile=args.profile
                )
                _progress(phase, phases[phase])
        finally:
            fake.stop()
    for path in (db, baseline_db):
        info[f"{path.stem}_db_mb"] = path.stat().st_size / 2**20
    return Run(n=n, server=args.server, info=info, phases=phases)


def _fmt_mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def report(run: Run, args: argparse.Namespace) -> None:
    info, phases = run.info, run.phases
    base = phases["baseline"]
    print()
    print(f"== N={run.n:,} studies, page size {args.page_size}, server in a {run.server} ==")
    print(f"records: copies of {fixture_summary(args.with_huge)}")
    print(
        f"mean record size {info['mean_bytes'] / 1024:.1f} KB (largest "
        f"{info['max_bytes'] / 1024:.0f} KB), {info['total_bytes'] / 2**20:.0f} MB served per "
        f"full pass; server loaded in {info['load_seconds']:.1f} s"
    )
    in_process = run.server == "thread"
    header = (
        f"{'phase':<38}{'studies':>8}{'pages':>6}{'seconds':>9}{'studies/s':>11}"
        f"{'x base':>8}{'fetch s':>9}{'store s':>9}{'peak MB':>9}{'start MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for phase in ("baseline", *SYNC_PHASES):
        r = phases[phase]
        rate = r["studies"] / r["seconds"] if r["seconds"] else 0.0
        ratio = r["seconds"] / base["seconds"] if base["seconds"] else 0.0
        fetch = r["fetch_seconds"] + r.get("parse_seconds", 0.0)
        peak = "-" if in_process else _fmt_mb(r["peak_rss_mb"])
        start = "-" if in_process else _fmt_mb(r["start_rss_mb"])
        print(
            f"{PHASE_TITLES[phase]:<38}{r['studies']:>8}{r['pages']:>6}{r['seconds']:>9.2f}"
            f"{rate:>11,.0f}{ratio:>8.2f}{fetch:>9.2f}{r['store_seconds']:>9.2f}"
            f"{peak:>9}{start:>9}"
        )
    print(
        "  (fetch s = HTTP + JSON parse of the pages; store s = the rest: hashing, SQL, commits;"
        " peak MB = ru_maxrss of the phase's process, start MB = its RSS after imports)"
    )
    if in_process:
        print("  peak RSS not shown: with --server thread the server's data shares the process")
    else:
        sampled = ", ".join(
            f"{p} {_fmt_mb(phases[p]['sampled_peak_mb'])}" for p in ("baseline", *SYNC_PHASES)
        )
        print(f"  psutil sampled peak RSS MB (cross-check): {sampled}")
    print(
        f"  baseline split: fetch {base['fetch_seconds']:.2f} s, orjson parse "
        f"{base['parse_seconds']:.2f} s, dumps+executemany {base['store_seconds']:.2f} s"
    )
    first, full, incremental = (phases[p] for p in SYNC_PHASES)
    print(
        f"  counters: first new={first['new']} changes={first['changes']}; "
        f"full re-sync unchanged={full['unchanged']} "
        f"new={full['new']} updated={full['updated']} left={full['left']}; incremental "
        f"mode={incremental['mode']} seen={incremental['studies']} (only studies updated since "
        f"the cursor minus one day) new={incremental['new']} updated={incremental['updated']}"
    )
    problems = []
    if first["new"] != run.n:
        problems.append(f"first sync stored {first['new']} new studies, not {run.n}")
    if full["unchanged"] != run.n or full["new"] or full["updated"]:
        problems.append("the no-change full re-sync was not all unchanged")
    if incremental["mode"] != "incremental" or incremental["new"] or incremental["updated"]:
        problems.append("the incremental re-sync was not a no-change incremental run")
    for problem in problems:
        print(f"  WARNING: {problem}")
    parse = phases["parse"]
    mb = parse["bytes"] / 2**20
    took = parse["seconds"]
    print(
        f"parsers on the same {parse['pages']} page bodies ({mb:.0f} MB), seconds (MB/s):"
        f" orjson.loads {took['orjson_gc']:.2f} ({mb / took['orjson_gc']:.0f}),"
        f" json.loads {took['json_gc']:.2f} ({mb / took['json_gc']:.0f});"
        f" with the GC disabled: orjson.loads {took['orjson_nogc']:.2f}"
        f" ({mb / took['orjson_nogc']:.0f}), json.loads {took['json_nogc']:.2f}"
        f" ({mb / took['json_nogc']:.0f})"
    )
    print(
        f"  orjson vs json.loads: {took['json_gc'] / took['orjson_gc']:.1f}x faster with the GC"
        f" on, {took['json_nogc'] / took['orjson_nogc']:.1f}x with it off; the GC costs"
        f" orjson.loads {took['orjson_gc'] / took['orjson_nogc']:.1f}x"
    )
    print(
        f"  canonical dump (sorted keys, compact) of the same studies: orjson.dumps"
        f" {took['orjson_dumps']:.2f} s, json.dumps {took['json_dumps']:.2f} s:"
        f" orjson {took['json_dumps'] / took['orjson_dumps']:.1f}x faster"
    )
    print(
        f"database files: trialwatch {info[f'trialwatch-{run.n}_db_mb']:.0f} MB, "
        f"baseline {info[f'baseline-{run.n}_db_mb']:.0f} MB"
    )
    if args.profile:
        for phase in SYNC_PHASES:
            print(f"\n-- cProfile of {PHASE_TITLES[phase]} (top by own time) --")
            print(_trim_profile(phases[phase].get("profile", "")))


def _trim_profile(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip())


def _line(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return ok


def targets(runs: list[Run]) -> bool:
    run = runs[0]  # N (the targets are set for N=10,000)
    phases = run.phases
    base, first, full = phases["baseline"], phases["first"], phases["full"]
    first_rate = first["studies"] / first["seconds"]
    full_rate = full["studies"] / full["seconds"]
    ratio = first["seconds"] / base["seconds"]
    print(f"\nTargets (N={run.n:,}, server in a {run.server}):")
    ok = _line(
        first_rate >= FIRST_MIN_RATE,
        f"first sync >= {FIRST_MIN_RATE:,.0f} studies/s: {first_rate:,.0f} studies/s",
    )
    ok &= _line(
        ratio <= FIRST_MAX_VS_BASELINE,
        f"first sync <= {FIRST_MAX_VS_BASELINE:g}x the baseline's time: {ratio:.2f}x "
        f"({first['seconds']:.2f} s vs {base['seconds']:.2f} s)",
    )
    ok &= _line(
        full_rate >= RESYNC_MIN_RATE,
        f"no-change full re-sync >= {RESYNC_MIN_RATE:,.0f} studies/s: {full_rate:,.0f} studies/s",
    )
    if run.server == "thread":
        print("SKIP  peak RSS: not measurable with --server thread (use --server process)")
        return ok
    peaks = {p: phases[p]["peak_rss_mb"] for p in SYNC_PHASES}
    worst = max(peaks, key=lambda p: peaks[p])
    ok &= _line(
        peaks[worst] < MAX_PEAK_MB,
        f"peak RSS < {MAX_PEAK_MB:.0f} MB: {peaks[worst]:.0f} MB (highest: {PHASE_TITLES[worst]}; "
        + ", ".join(f"{p} {v:.0f}" for p, v in peaks.items())
        + ")",
    )
    if len(runs) < 2:
        print("SKIP  peak RSS not growing with N: run with --scaling")
        return ok
    small, large = runs[0], runs[-1]
    print("\nPeak RSS by N (MB, ru_maxrss of each phase's process):")
    print(f"{'phase':<38}{f'N={small.n:,}':>10}{f'N={large.n:,}':>10}{'growth':>9}")
    grown = []
    for phase in ("baseline", *SYNC_PHASES):
        a, b = small.phases[phase]["peak_rss_mb"], large.phases[phase]["peak_rss_mb"]
        print(f"{PHASE_TITLES[phase]:<38}{a:>10.0f}{b:>10.0f}{b - a:>+9.0f}")
        if phase in SYNC_PHASES and b - a > max(GROWTH_SLACK_MB, GROWTH_TOLERANCE * a):
            grown.append(f"{phase} {a:.0f} -> {b:.0f}")
    ok &= _line(
        not grown,
        f"peak RSS not growing with N (N={small.n:,} -> N={large.n:,}, tolerance "
        f"{GROWTH_TOLERANCE:.0%} or {GROWTH_SLACK_MB:.0f} MB): "
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
    parser.add_argument(
        "--page-size",
        type=int,
        default=DEFAULT_PAGE_SIZE,
        help="sync page size (the default setting)",
    )
    parser.add_argument("--with-huge", action="store_true", help=f"include {HUGE_NCT_ID}")
    parser.add_argument("--scaling", action="store_true", help="run N and 2N studies")
    parser.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="fake server in a subprocess (default) or in a thread of the measuring process",
    )
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--profile", action="store_true", help="cProfile each sync phase")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    # Internal: the child processes.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        serve(args.n, seed=args.seed, with_huge=args.with_huge)
        return 0
    if args.phase:
        result = run_phase(args.phase, args.url, args.db, args.page_size, profile=args.profile)
        print(json.dumps(result))
        return 0

    import orjson
    import sqlalchemy

    print(
        f"TrialWatch sync benchmark: Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, orjson "
        f"{orjson.__version__}, {os.cpu_count()} CPUs, load average {_load()}"
    )
    sizes = [args.n, 2 * args.n] if args.scaling else [args.n]
    workdir = Path(tempfile.mkdtemp(prefix="trialwatch-bench-"))
    runs: list[Run] = []
    try:
        for n in sizes:
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
