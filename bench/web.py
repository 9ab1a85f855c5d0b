"""Benchmark of the web app: requests/s and p95 latency of the main pages over loopback HTTP.

Run it from the repository root::

    .venv/bin/python bench/web.py                    # 10,000 studies, 50,000 changes
    .venv/bin/python bench/web.py --studies 2000     # smaller

How it measures:

* Data: one watchlist of N studies (default 10,000), each with one stored version (a
  small valid API v2 record: status, phase, sponsor, two sites) and five changes
  (50,000), bulk-inserted into a fresh SQLite file (not timed).
* Server: the real app (``create_app``) under uvicorn in a child process, one worker,
  and, as the baseline, a bare Starlette app with one "hello" route served the same way.
  The app runs twice: as shipped (public responses kept until the data moves, see
  ``trialwatch.web.cache``; each request still reads the data version) and with
  ``TRIALWATCH_WEB_CACHE=false`` (every request queries and renders afresh).
* Load: a thread pool of ``--concurrency`` (default 10) clients, each with its own
  keep-alive ``httpx.Client``, issuing ``--requests`` requests per route; a warm-up
  round first. Reported: requests/s, p50 and p95 latency, and the ratio of each p95 to
  the baseline's.

Target: p95 < 50 ms for a page of 50 studies (``/w/{slug}``). Not a test: it prints
PASS/FAIL lines and exits 0 (``--strict``: 1 when a target fails).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = "a-benchmark-secret-key-that-is-long-enough-012345"  # noqa: S105 - a test key
STATUSES = ["RECRUITING", "COMPLETED", "ACTIVE_NOT_RECRUITING", "NOT_YET_RECRUITING"]
COUNTRIES = ["Netherlands", "France", "Germany", "United States", "Japan", "Spain"]


def _record(n: int) -> dict[str, Any]:
    nct = f"NCT9{n:07d}"
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": f"Benchmark study {n}"},
            "statusModule": {
                "overallStatus": STATUSES[n % len(STATUSES)],
                "lastUpdatePostDateStruct": {"date": "2026-11-28", "type": "ACTUAL"},
            },
            "designModule": {"phases": ["PHASE2"]},
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": f"Sponsor {n % 40}"}},
            "conditionsModule": {"conditions": ["Multifocal Motor Neuropathy"]},
            "contactsLocationsModule": {
                "locations": [
                    {"facility": "Site A", "city": "Leiden", "country": COUNTRIES[n % 6]},
                    {"facility": "Site B", "city": "Paris", "country": COUNTRIES[(n + 1) % 6]},
                ]
            },
        },
        "hasResults": False,
    }


def build_database(path: Path, studies: int, changes_per_study: int) -> str:
    """A migrated SQLite file with one watchlist of ``studies`` studies and their changes."""
    sys.path.insert(0, str(ROOT / "src"))
    from sqlalchemy import insert, select

    from trialwatch.registries.ctgov.parse import canonical_json, content_hash
    from trialwatch.store.db import make_engine, upgrade
    from trialwatch.store.models import Change, Study, StudyVersion, Watchlist, WatchlistStudy
    from trialwatch.watchlists import Criteria

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    criteria = Criteria(conditions=("multifocal motor neuropathy",))
    with engine.begin() as conn:
        conn.execute(
            insert(Watchlist),
            [
                {
                    "slug": "mmn",
                    "name": "Multifocal motor neuropathy",
                    "description": "Benchmark watchlist",
                    "criteria": criteria.to_dict(),
                    "criteria_hash": criteria.criteria_hash(),
                    "schedule": "0 6 * * *",
                    "enabled": True,
                    "source": "",
                    "created_at": NOW,
                    "updated_at": NOW,
                    "last_synced_at": NOW,
                }
            ],
        )
        wl_id = conn.execute(select(Watchlist.id)).scalar_one()
        records = [_record(n) for n in range(studies)]
        texts = [canonical_json(r) for r in records]
        conn.execute(
            insert(Study),
            [
                {
                    "nct_id": r["protocolSection"]["identificationModule"]["nctId"],
                    "current_version": 1,
                    "current_hash": content_hash(t),
                    "brief_title": r["protocolSection"]["identificationModule"]["briefTitle"],
                    "acronym": None,
                    "overall_status": r["protocolSection"]["statusModule"]["overallStatus"],
                    "phases": "PHASE2",
                    "last_update_posted": "2026-11-28",
                    "has_results": False,
                    "lead_sponsor": r["protocolSection"]["sponsorCollaboratorsModule"][
                        "leadSponsor"
                    ]["name"],
                    "conditions": r["protocolSection"]["conditionsModule"]["conditions"],
                    "countries": sorted(
                        {
                            loc["country"]
                            for loc in r["protocolSection"]["contactsLocationsModule"]["locations"]
                        }
                    ),
                    "first_seen_at": NOW,
                    "updated_at": NOW,
                }
                for r, t in zip(records, texts, strict=True)
            ],
        )
        ids = dict(conn.execute(select(Study.nct_id, Study.id)).tuples().all())
        conn.execute(
            insert(StudyVersion),
            [
                {
                    "study_id": ids[r["protocolSection"]["identificationModule"]["nctId"]],
                    "version": 1,
                    "content_hash": content_hash(t),
                    "record": t.decode(),
                    "last_update_posted": "2026-11-28",
                    "fetched_at": NOW,
                    "sync_run_id": None,
                }
                for r, t in zip(records, texts, strict=True)
            ],
        )
        conn.execute(
            insert(WatchlistStudy),
            [
                {
                    "watchlist_id": wl_id,
                    "study_id": sid,
                    "first_matched_at": NOW,
                    "last_matched_at": NOW,
                }
                for sid in ids.values()
            ],
        )
        rows = []
        for k in range(changes_per_study):
            for nct, sid in ids.items():
                rows.append(
                    {
                        "study_id": sid,
                        "version_id": None,
                        "watchlist_id": wl_id if k == 0 else None,
                        "sync_run_id": None,
                        "kind": "new_study" if k == 0 else "enrollment",
                        "field": "x",
                        "old": None,
                        "new": None,
                        "summary": f"Change {k} of {nct}",
                        "significance": "major" if k == 0 else "minor",
                        "countries": [],
                        "detected_at": NOW - timedelta(minutes=k * studies + sid),
                    }
                )
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(Change), rows[start : start + 10_000])
    engine.dispose()
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(kind: str, url: str, port: int) -> None:
    """Child process: serve the app (or the bare baseline) until killed."""
    import uvicorn

    if kind == "baseline":
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def hello(_request: Any) -> PlainTextResponse:
            return PlainTextResponse("hello")

        app: Any = Starlette(routes=[Route("/", hello)])
    else:
        sys.path.insert(0, str(ROOT / "src"))
        from trialwatch.config import load_settings
        from trialwatch.web.app import create_app

        settings = load_settings(
            {
                "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
                "TRIALWATCH_DATABASE_URL": url,
                "TRIALWATCH_SECRET_KEY": SECRET,
                "TRIALWATCH_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "TRIALWATCH_WEB_CACHE": "false" if kind == "uncached" else "true",
            }
        )
        app = create_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _start(kind: str, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--url", url, "--port", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/", timeout=1)
            return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server did not start")


def load(base: str, path: str, requests: int, concurrency: int) -> dict[str, float]:
    """``requests`` GETs of ``path`` from ``concurrency`` threads: rps and latencies (ms)."""
    per_thread = max(requests // concurrency, 1)

    def worker(_: int) -> list[float]:
        times: list[float] = []
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get(path)  # warm-up, keep-alive
            for _ in range(per_thread):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code}")
        return times

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = [t for times in pool.map(worker, range(concurrency)) for t in times]
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95) - 1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--changes-per-study", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500, help="per route")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.url, args.port)
        return 0
    print(
        f"web benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="trialwatch-bench-web-") as folder:
        started = time.perf_counter()
        url = build_database(Path(folder) / "bench.db", args.studies, args.changes_per_study)
        changes = args.studies * args.changes_per_study
        print(
            f"set-up (not timed, {time.perf_counter() - started:.1f} s): {args.studies:,}"
            f" studies, {changes:,} changes in SQLite"
        )
        results: dict[str, dict[str, float]] = {}
        process, base = _start("baseline", url)
        try:
            results["baseline: Starlette hello"] = load(base, "/", args.requests, args.concurrency)
        finally:
            process.kill()
            process.wait()
        routes = {
            "/w/{slug}": "/w/mmn",
            "/study/{nct_id}": f"/study/NCT9{args.studies // 2:07d}",
            "/w/{slug}/feed.atom": "/w/mmn/feed.atom",
            "/api/watchlists/{slug}/studies": "/api/watchlists/mmn/studies",
        }
        for kind, suffix in (("app", ""), ("uncached", " (no cache)")):
            process, base = _start(kind, url)
            try:
                for name, path in routes.items():
                    results[name + suffix] = load(base, path, args.requests, args.concurrency)
            finally:
                process.kill()
                process.wait()
    baseline = results["baseline: Starlette hello"]
    print(f"\n{'route':45} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p95 x base':>11}")
    for name, figures in results.items():
        print(
            f"{name:45} {figures['rps']:8.0f} {figures['p50']:8.1f} {figures['p95']:8.1f}"
            f" {figures['p95'] / baseline['p95']:10.1f}x"
        )
    target = results["/w/{slug}"]["p95"]
    ok = target < 50
    print(f"\n{'PASS' if ok else 'FAIL'}  p95 of a page of 50 studies < 50 ms: {target:.1f} ms")
    fresh = results["/w/{slug} (no cache)"]["p95"]
    print(f"      (rendered afresh on every request, TRIALWATCH_WEB_CACHE=false: {fresh:.1f} ms)")
    print(json.dumps({k: {m: round(v, 2) for m, v in f.items()} for k, f in results.items()}))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
