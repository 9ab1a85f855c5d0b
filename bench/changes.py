"""Benchmark: how many record pairs per second the CT.gov differ (``diff_records``) explains.

Pairs are built from every full API v2 record in tests/fixtures/ctgov (4.8 KB to
1.5 MB of JSON, 0 to 437 sites), each with one of five registry-like edits:
unchanged, bookkeeping only, status change, site added, dates moved. Old and new
are parsed separately, so nothing is shared between them (as when the old
version comes from the database and the new one from the API).

A pool of distinct pairs is built first (not timed), then diffed round-robin
until ``--pairs`` diffs are done. The same loop is timed for two baselines:
``orjson.dumps(sort_keys) ==`` (says only *whether* something changed) and a
generic recursive leaf diff (says *what* changed, literally, by position; ten
times slower, so it runs a tenth of the pairs). Each figure is the best of
``--repeat`` runs, as wall-clock and as CPU time of this process: on a shared
machine the CPU figure is the steadier one, and ``--check`` uses it. The
"unchanged" line per edit is the floor: equal records must be compared whole.

    .venv/bin/python bench/changes.py [--pairs 10000] [--copies 2] [--repeat 3] [--check]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trialwatch.registries.ctgov.differ import diff_records

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ctgov"
TARGET = 5_000.0
"""Pairs per second the diff engine must sustain."""

Record = dict[str, Any]
Pair = tuple[Record, Record]


def fixture_records() -> dict[str, bytes]:
    """Raw JSON of every full record among the fixtures, unwrapped from /studies pages."""
    found: dict[str, bytes] = {}
    for path in sorted([*FIXTURES.glob("*.json"), *FIXTURES.glob("constructed/*.json")]):
        data = orjson.loads(path.read_bytes())
        if "studies" in data:
            data = data["studies"][0]
        if "protocolSection" in data:
            found[path.name] = orjson.dumps(data)
    return found


def _status(record: Record) -> dict[str, Any]:
    module = record["protocolSection"]["statusModule"]
    assert isinstance(module, dict)
    return module


def _bump(record: Record, rng: random.Random) -> None:
    day = f"2026-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}"
    _status(record)["lastUpdateSubmitDate"] = day
    _status(record)["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    record.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = day


def _unchanged(record: Record, rng: random.Random) -> None:
    return None


def _status_change(record: Record, rng: random.Random) -> None:
    _bump(record, rng)
    current = _status(record).get("overallStatus")
    choices = ["RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "TERMINATED"]
    _status(record)["overallStatus"] = rng.choice([s for s in choices if s != current])


def _site_added(record: Record, rng: random.Random) -> None:
    _bump(record, rng)
    module = record["protocolSection"].setdefault("contactsLocationsModule", {})
    module.setdefault("locations", []).insert(
        rng.randint(0, len(module.get("locations", []))),
        {
            "facility": f"Investigator site {rng.randint(1, 999)}",
            "status": "RECRUITING",
            "city": rng.choice(["Leiden", "Lyon", "Leuven", "Boston"]),
            "country": rng.choice(["Netherlands", "France", "Belgium", "United States"]),
        },
    )


def _site_corrected(record: Record, rng: random.Random) -> None:
    sites = record["protocolSection"].get("contactsLocationsModule", {}).get("locations")
    if not sites:
        _site_added(record, rng)
        return
    _bump(record, rng)
    site = rng.choice(sites)
    site["facility"] = f"{site.get('facility') or 'Site'} (Main Campus)"
    site["zip"] = f"{site.get('zip') or ''}0"


def _dates(record: Record, rng: random.Random) -> None:
    _bump(record, rng)
    for key in ("primaryCompletionDateStruct", "completionDateStruct"):
        _status(record)[key] = {
            "date": f"{rng.randint(2025, 2030)}-{rng.randint(1, 12):02}",
            "type": "ESTIMATED",
        }


Edit = Callable[[Record, random.Random], None]
EDITS: dict[str, Edit] = {
    "unchanged": _unchanged,
    "bookkeeping": _bump,
    "status": _status_change,
    "site added": _site_added,
    "dates": _dates,
}
"""The edits of the pool that the headline figure and ``--check`` time."""
EXTRA_EDITS: dict[str, Edit] = {"site corrected": _site_corrected}
"""Edits timed on their own line only, outside the headline mix (kept comparable over time):
a facility's name and zip code edited, so the second, fuzzy pass of site matching runs (a
record without sites gets a site added instead)."""


def build_pool(
    raw: dict[str, bytes], copies: int, seed: int, edits: Mapping[str, Edit] = EDITS
) -> list[tuple[str, Pair]]:
    """``copies`` independent pairs for every record and edit, labelled by edit."""
    rng = random.Random(seed)
    pool: list[tuple[str, Pair]] = []
    for _ in range(copies):
        for data in raw.values():
            for name, edit in edits.items():
                old, new = orjson.loads(data), orjson.loads(data)
                edit(new, rng)
                pool.append((name, (old, new)))
    rng.shuffle(pool)
    return pool


def _leaf_diff(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """A generic recursive diff: every differing leaf, lists compared by position."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            yield from _leaf_diff(old.get(key), new.get(key), f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            yield from _leaf_diff(
                old[index] if index < len(old) else None,
                new[index] if index < len(new) else None,
                f"{path}[{index}]",
            )
    elif old != new:
        yield path, old, new


def _sorted_json_equal(old: Record, new: Record) -> bool:
    option = orjson.OPT_SORT_KEYS
    return orjson.dumps(old, option=option) == orjson.dumps(new, option=option)


def _explain(old: Record, new: Record) -> int:
    return len(diff_records(old, new))


def _leaves(old: Record, new: Record) -> int:
    return sum(1 for _ in _leaf_diff(old, new))


@dataclass(frozen=True)
class Timing:
    """The best of several runs of ``n`` calls: wall-clock and CPU seconds."""

    n: int
    wall: float
    cpu: float

    def line(self, label: str) -> str:
        return (
            f"{label:<38}{self.n / self.wall:>8,.0f} pairs/s wall  "
            f"{self.n / self.cpu:>8,.0f} pairs/s CPU  ({self.cpu * 1e6 / self.n:7.1f} µs/pair)"
        )


def time_it(
    func: Callable[[Record, Record], object],
    pool: list[tuple[str, Pair]],
    n: int,
    repeat: int,
) -> Timing:
    """The best of ``repeat`` runs of ``n`` calls of ``func`` over the pool, round-robin."""
    pairs = [pair for _, pair in pool]
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        for index in range(n):
            old, new = pairs[index % len(pairs)]
            func(old, new)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(n, min(walls), min(cpus))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000, help="diffs to time (default 10000)")
    parser.add_argument("--copies", type=int, default=2, help="distinct pairs per record and edit")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is shown")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET:.0f} pairs/s")
    args = parser.parse_args(argv)

    raw = fixture_records()
    pool = build_pool(raw, args.copies, args.seed)
    sizes = sorted(len(data) for data in raw.values())
    n = args.pairs
    print(
        f"{len(raw)} records ({sizes[0] / 1000:.1f}-{sizes[-1] / 1000:.0f} KB JSON), "
        f"{len(EDITS)} edits, pool of {len(pool)} distinct pairs; "
        f"best of {args.repeat} runs of {n:,} diffs ({max(n // 10, 1):,} for the leaf diff)"
    )
    ours = time_it(_explain, pool, n, args.repeat)
    print(ours.line("diff_records"))
    for label, func, count in (
        ("orjson sorted-dumps ==", _sorted_json_equal, n),
        ("generic recursive leaf diff", _leaves, max(n // 10, 1)),
    ):
        base = time_it(func, pool, count, args.repeat)
        ratio = (base.cpu / base.n) / (ours.cpu / ours.n)
        print(f"{base.line(f'baseline: {label}')}  diff_records {ratio:.1f}x as fast")

    by_edit: dict[str, list[tuple[str, Pair]]] = {}
    for name, pair in pool:
        by_edit.setdefault(name, []).append((name, pair))
    for name, part in by_edit.items():
        print(time_it(_explain, part, len(part) * 20, args.repeat).line(f"  edit: {name}"))
    for name, edit in EXTRA_EDITS.items():
        part = build_pool(raw, args.copies, args.seed, {name: edit})
        print(time_it(_explain, part, len(part) * 20, args.repeat).line(f"  extra edit: {name}"))

    rate = n / ours.cpu
    if args.check and rate < TARGET:
        print(f"below target: {rate:,.0f} < {TARGET:,.0f} pairs/s (CPU)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
