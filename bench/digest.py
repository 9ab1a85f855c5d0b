"""Benchmark of the digest jobs: build (assemble, render, queue) then send over one connection.

Run it from the repository root::

    .venv/bin/python bench/digest.py                      # 10,000 subscribers, SQLite
    .venv/bin/python bench/digest.py --subscribers 2000
    .venv/bin/python bench/digest.py --pg postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/digest.py --server thread      # SMTP server in this process
    .venv/bin/python bench/digest.py --profile            # + cProfile of both phases

It prints figures and PASS/FAIL lines against the targets; it is not a test and
exits 0 whatever the figures (``--strict``: exit 1 when a target fails).

Set-up (not timed), on a fresh migrated SQLite file in a temporary folder (and,
with ``--pg URL``, on a new PostgreSQL database created beside URL's and dropped
at the end):

* 3 watchlists; 63 studies copied from the real records of ``tests/fixtures/ctgov``
  (new NCT IDs ``NCT9nnnnnnn``), stored with :func:`trialwatch.store.studies.store_versions`
  in two syncs so that studies, versions and memberships are real (18 per
  watchlist, 5 of them in two watchlists, then 3 new ones per watchlist);
* 50 change rows made by :func:`trialwatch.registries.ctgov.differ.diff_records` from real edits of
  those records (new studies, status changes, sites added with their countries,
  enrollment and completion-date moves; the bookkeeping noise of each edit is
  dropped), stored as a sync stores them (:func:`change_rows`, :func:`insert_changes`);
* ``--subscribers`` subscribers, inserted with one Core ``executemany``, each
  subscribed to 1-3 watchlists (frequency immediate; significance major or minor;
  a quarter with country filters, a tenth with kind filters), cursors at 0 so the
  50 changes are all pending.

Phase 1 (timed): :func:`trialwatch.jobs.digests.build_digests_once`, with the Jinja2
templates compiled beforehand (a long-running process has them). Then the same run
again on a reset state, with every step the job calls wrapped in a timer (DB reads,
token, assembly, rendering, MIME, outbox insert; the rest is commits and ORM
flushes of the cursors), and the pure steps timed in isolation on inputs captured
from a dry run: the "no DB" baseline (Jinja2 rendering alone is one of them).

Phase 2 (timed): :func:`trialwatch.jobs.delivery.send_digests_once` through
:class:`~trialwatch.mail.transport.SmtpTransport` to aiosmtpd on loopback. The server
runs in a subprocess by default (``--server sink``: a Controller whose handler only
counts; ``--server recording``: :class:`tests.support.smtpserver.SmtpServer`, which parses
and keeps every message), so that it does not compete with the sender for the GIL;
``--server thread`` runs :class:`tests.support.smtpserver.SmtpServer` in this process, to
show that cost. The server's counts are checked against the rows marked sent, and
the connection count must be 1; the server's own CPU time is printed beside the
sender's (client and server take turns on every message, so the wall time is
close to their sum). Baselines: the same messages over one connection with bare
``smtplib`` (``sendmail``), then with :class:`SmtpTransport` but no DB. Then the
same send again (rows re-queued) with claims, ``mark_sent``, commits and SMTP
sends timed in place.

Other processes on the machine skew wall-clock figures: the load average is
printed at the start and the end, CPU times beside wall times, and ``--repeat N``
keeps the best of N runs of each phase.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for ``tests.*``

import jinja2
from sqlalchemy import Engine, create_engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from tests.support.fakeapi import load_fixture_records
from tests.support.smtpserver import SmtpServer

import trialwatch.digest.render as render_mod
import trialwatch.jobs.digests as digests_mod
import trialwatch.mail.outbox_rows as outbox_rows_mod
from trialwatch.digest.assemble import build_digest
from trialwatch.digest.model import Digest as DigestModel
from trialwatch.digest.render import DigestMould, render_digest
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.jobs.digests import build_digests_once
from trialwatch.jobs.records import change_rows, study_row
from trialwatch.mail.message import build_message
from trialwatch.mail.outbox_rows import MailSettings
from trialwatch.mail.templates import make_environment
from trialwatch.mail.transport import SmtpTransport
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.registries.ctgov.parse import nct_id_of
from trialwatch.services import watchlist_files
from trialwatch.store import changes as change_store
from trialwatch.store import outbox
from trialwatch.store import studies as study_store
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope, upgrade
from trialwatch.store.models import Digest, Study, Subscriber, Subscription, SyncRun, Watchlist
from trialwatch.store.studies import StoreResult
from trialwatch.watchlists import parse_watchlist

ROOT = Path(__file__).resolve().parents[1]
TARGET_BUILD = 1000.0
"""Digests per second phase 1 must queue (assemble + render + MIME + outbox)."""
TARGET_SEND = 200.0
"""Messages per second phase 2 must deliver over one SMTP connection."""

SENDER = "TrialWatch <digests@trialwatch.example>"
ENVELOPE_FROM = "digests@trialwatch.example"
SIGNING_KEY = "bench-only-signing-key-of-32-bytes-or-more"
MAIL = MailSettings(sender=SENDER, public_url="https://tw.example", secret=SIGNING_KEY)
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CHANGES = 50
STUDIES_PER_WATCHLIST = 18
SHARED_STUDIES = 5
WATCHLISTS = (
    ("mmn", "Multifocal motor neuropathy", "multifocal motor neuropathy"),
    ("cidp", "Chronic inflammatory demyelinating polyneuropathy", "CIDP"),
    ("mg", "Myasthenia gravis", "myasthenia gravis"),
)
SITES = (
    ("Leiden", "Netherlands"),
    ("Lyon", "France"),
    ("Leuven", "Belgium"),
    ("Boston", "United States"),
    ("Berlin", "Germany"),
    ("Madrid", "Spain"),
)
COUNTRY_FILTERS = (
    ("Netherlands",),
    ("France", "Belgium"),
    ("United States",),
    ("Germany", "Spain"),
)
KIND_FILTERS = (("new_study", "overall_status"), ("site_added",))
FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Eva", "Femi", "Grace", "Hiroshi", "Inès", "José")
LAST_NAMES = ("de Vries", "Dubois", "Müller", "O'Brien", "Peeters", "Smith", "Álvarez", "Tanaka")

SERVER_NOTE = """\
  aiosmtpd in a thread of the sending process competes with the sender for the GIL:
  each message costs the server's parse plus the sender's work, serialised on one
  core. A subprocess server is what production looks like (the relay is another
  process, usually another machine), so it is the default (--server sink)."""

T = TypeVar("T")


# --- set-up ----------------------------------------------------------------------------------


def _copy_record(record: dict[str, Any], nct_id: str) -> dict[str, Any]:
    new = copy.deepcopy(record)
    new["protocolSection"]["identificationModule"]["nctId"] = nct_id
    return new


def _status_module(record: dict[str, Any]) -> dict[str, Any]:
    module = record["protocolSection"].setdefault("statusModule", {})
    assert isinstance(module, dict)
    return module


def _store_versions(
    session: Session, records: list[dict[str, Any]], wl_id: int, run_id: int, now: datetime
) -> StoreResult:
    """Versions and membership as a sync stores them, without its change rows."""
    rows = [study_row(r) for r in records]
    result = study_store.store_versions(session, rows, run_id=run_id, now=now)
    study_store.touch_membership(session, wl_id, sorted(result.ids.values()), run_id, now)
    return result


def _bump(record: dict[str, Any], day: str) -> None:
    """The bookkeeping every registry edit carries (diffed as noise, then dropped)."""
    status = _status_module(record)
    status["lastUpdateSubmitDate"] = day
    status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}


def _edit_status(record: dict[str, Any], rng: random.Random) -> None:
    current = _status_module(record).get("overallStatus")
    choices = ["RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "NOT_YET_RECRUITING"]
    _status_module(record)["overallStatus"] = rng.choice([s for s in choices if s != current])


def _edit_site(record: dict[str, Any], rng: random.Random, status: str) -> None:
    module = record["protocolSection"].setdefault("contactsLocationsModule", {})
    locations = module.setdefault("locations", [])
    city, country = rng.choice(SITES)
    locations.append(
        {
            "facility": f"{city} Neuromuscular Centre {rng.randint(1, 999)}",
            "status": status,
            "city": city,
            "country": country,
        }
    )


def _edit_enrollment(record: dict[str, Any], rng: random.Random) -> None:
    design = record["protocolSection"].setdefault("designModule", {})
    info = design.setdefault("enrollmentInfo", {"type": "ESTIMATED"})
    info["count"] = int(info.get("count") or 40) + rng.randint(5, 60)


def _edit_completion(record: dict[str, Any], rng: random.Random) -> None:
    _status_module(record)["primaryCompletionDateStruct"] = {
        "date": f"{rng.randint(2027, 2030)}-{rng.randint(1, 12):02}",
        "type": "ESTIMATED",
    }


@dataclass
class Dataset:
    url: str
    label: str
    studies: int = 0
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    subscribers: int = 0
    subscriptions: int = 0
    by_watchlist: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def set_up(engine: Engine, url: str, label: str, subscribers: int, seed: int) -> Dataset:
    """Watchlists, studies, changes and subscribers (see the module docs). Not timed."""
    started = time.perf_counter()
    data = Dataset(url=url, label=label)
    rng = random.Random(seed)
    upgrade(engine)
    fixtures = load_fixture_records()
    factory = make_sessionmaker(engine)
    then = NOW - timedelta(days=3)
    copies = iter(range(10_000))

    def next_copy() -> dict[str, Any]:
        n = next(copies)
        return _copy_record(fixtures[n % len(fixtures)], f"NCT9{n:07}")

    with session_scope(factory) as session:
        specs = [
            parse_watchlist({"slug": slug, "name": name, "criteria": {"conditions": [cond]}})
            for slug, name, cond in WATCHLISTS
        ]
        watchlist_files.save(session, specs, then)
        wl_ids = {w.slug: w.id for w in session.scalars(select(Watchlist))}

    def run(session: Any, watchlist_id: int, at: datetime) -> int:
        row = SyncRun(
            watchlist_id=watchlist_id,
            mode="full",
            status="succeeded",
            started_at=at,
            finished_at=at,
            api_url="https://clinicaltrials.gov/api/v2/studies",
        )
        session.add(row)
        session.flush()
        return int(row.id)

    # The first sync of each watchlist: 18 studies each, 5 of the first in the second too.
    pages: dict[str, list[dict[str, Any]]] = {
        slug: [next_copy() for _ in range(STUDIES_PER_WATCHLIST)] for slug, _, _ in WATCHLISTS
    }
    pages["cidp"][:0] = pages["mmn"][:SHARED_STUDIES]
    with session_scope(factory) as session:
        for slug, records in pages.items():
            rid = run(session, wl_ids[slug], then)
            _store_versions(session, records, wl_ids[slug], rid, then)

    # The second sync: real edits, diffed as a sync diffs them. Per watchlist:
    # 3 new studies, 5 status changes, 4 sites opening (major), 2 sites closed (minor),
    # 2 enrollment or completion-date moves (minor): 16 x 3 + 2 = 50.
    plans: dict[str, list[str]] = {
        slug: ["status"] * 5 + ["site_open"] * 4 + ["site_done"] * 2 + ["enrollment", "date"]
        for slug, _, _ in WATCHLISTS
    }
    plans["mg"] += ["enrollment", "date"]
    rows: list[dict[str, Any]] = []
    day = (NOW - timedelta(days=1)).date().isoformat()
    with session_scope(factory) as session:
        for slug, _, _ in WATCHLISTS:
            wl_id = wl_ids[slug]
            rid = run(session, wl_id, NOW - timedelta(hours=6))
            own = pages[slug][SHARED_STUDIES:] if slug == "cidp" else pages[slug]
            edited: list[dict[str, Any]] = []
            for record, edit in zip(own, plans[slug], strict=False):
                new = copy.deepcopy(record)
                _bump(new, day)
                if edit == "status":
                    _edit_status(new, rng)
                elif edit == "site_open":
                    _edit_site(new, rng, rng.choice(["RECRUITING", "NOT_YET_RECRUITING"]))
                elif edit == "site_done":
                    _edit_site(new, rng, "COMPLETED")
                elif edit == "enrollment":
                    _edit_enrollment(new, rng)
                else:
                    _edit_completion(new, rng)
                edited.append(new)
            fresh = [next_copy() for _ in range(3)]
            page = _store_versions(session, edited + fresh, wl_id, rid, NOW - timedelta(hours=6))
            by_nct = {nct_id_of(r): r for r in edited + fresh}
            for stored in page.stored:
                is_new = stored.old_record is None
                found = [
                    c
                    for c in diff_records(stored.old_record, by_nct[stored.nct_id])
                    if c.significance != "noise"
                ]
                rows.extend(
                    change_rows(
                        found,
                        study_id=stored.study_id,
                        version_id=stored.version_id,
                        watchlist_id=wl_id if is_new else None,
                        run_id=rid,
                        now=NOW,  # replaced below
                    )
                )
        rows = rows[:CHANGES]
        for index, row in enumerate(rows):  # spread over the last day, oldest first
            row["detected_at"] = NOW - timedelta(minutes=20 * (len(rows) - index))
            data.changes[(row["kind"], row["significance"])] += 1
            data.countries.update(row["countries"])
        change_store.insert_changes(session, rows)
        data.studies = int(session.scalar(select(func.count()).select_from(Study)) or 0)

    # Subscribers and subscriptions: one executemany each, then ids read back.
    slugs = [slug for slug, _, _ in WATCHLISTS]
    people: list[dict[str, Any]] = []
    for i in range(subscribers):
        named = rng.random() < 0.6
        people.append(
            {
                "email": f"reader{i:06}@example{i % 7}.org",
                "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" if named else None,
                "status": "active",
                "timezone": rng.choice(["UTC", "Europe/Amsterdam", "America/New_York"]),
                "created_at": then,
                "confirmed_at": then,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Subscriber), people)
        ids = dict(conn.execute(select(Subscriber.email, Subscriber.id)).tuples().all())
        subs: list[dict[str, Any]] = []
        for person in people:
            for slug in rng.sample(slugs, rng.choice([1, 1, 2, 2, 3])):
                roll = rng.random()
                subs.append(
                    {
                        "subscriber_id": ids[person["email"]],
                        "watchlist_id": wl_ids[slug],
                        "frequency": "immediate",
                        "min_significance": rng.choice(["major", "minor"]),
                        "countries": list(rng.choice(COUNTRY_FILTERS)) if roll < 0.25 else [],
                        "event_kinds": list(rng.choice(KIND_FILTERS)) if roll > 0.9 else [],
                        "cursor": 0,
                        "last_digest_at": None,
                        "created_at": then,
                    }
                )
                data.by_watchlist[slug] += 1
        conn.execute(insert(Subscription), subs)
    data.subscribers = len(people)
    data.subscriptions = len(subs)
    data.seconds = time.perf_counter() - started
    return data


def reset_build_state(engine: Engine) -> None:
    """Back to 'nothing built yet': no outbox rows, every cursor at 0."""
    with engine.begin() as conn:
        conn.execute(delete(Digest))
        conn.execute(update(Subscription).values(cursor=0, last_digest_at=None))


def requeue_all(engine: Engine) -> None:
    """Every outbox row queued again, as if never sent."""
    with engine.begin() as conn:
        conn.execute(
            update(Digest).values(status="queued", attempts=0, sent_at=None, claimed_at=None)
        )


# --- SMTP servers ----------------------------------------------------------------------------

SERVER_SCRIPT = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
cpu_mark = [time.process_time()]
mode = sys.argv[1]
if mode == "recording":
    from tests.support.smtpserver import SmtpServer
    server = SmtpServer()
    server.start()
    port = server.port
    def stats():
        ids = {m.connection for m in server.messages}
        return {"messages": len(server.messages), "connections": server.connections,
                "delivering_connections": len(ids),
                "bytes": sum(len(m.data) for m in server.messages),
                "recipients": len({r for m in server.messages for r in m.rcpt_tos}),
                "cpu_ms": round(1000 * (time.process_time() - cpu_mark[0]))}
    def reset():
        server.clear()
        cpu_mark[0] = time.process_time()
    def stop():
        server.stop()
else:
    import asyncio
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP
    counts = {"messages": 0, "connections": 0, "bytes": 0}
    delivering = set()
    recipients = set()

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            counts["messages"] += 1
            counts["bytes"] += len(envelope.original_content or b"")
            delivering.add(id(server))
            recipients.update(envelope.rcpt_tos)
            return "250 2.0.0 OK"

    class CountingSMTP(SMTP):
        def connection_made(self, transport):
            if self._original_transport is None:
                counts["connections"] += 1
            super().connection_made(transport)

    class SinkController(Controller):
        def factory(self):
            return CountingSMTP(self.handler, **self.SMTP_kwargs)

        def _trigger_server(self):
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    server = SinkController(Sink(), hostname="127.0.0.1", port=0, server_hostname="localhost")
    server.start()
    port = server.port
    def stats():
        return {**counts, "delivering_connections": len(delivering),
                "recipients": len(recipients),
                "cpu_ms": round(1000 * (time.process_time() - cpu_mark[0]))}
    def reset():
        cpu_mark[0] = time.process_time()
        counts.update(messages=0, connections=0, bytes=0)
        delivering.clear()
        recipients.clear()
    def stop():
        server.stop()

print(f"READY {port}", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "stats":
        print(json.dumps(stats()), flush=True)
    elif command == "reset":
        reset()
        print("OK", flush=True)
    else:
        break
stop()
"""


class Server(Protocol):
    url: str
    host: str
    port: int

    def reset(self) -> None: ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class SubprocessServer:
    """aiosmtpd in a child process, driven by lines on its stdin."""

    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, mode, str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            self.close()
            raise RuntimeError(f"SMTP server did not start: {line!r}")
        self.host = "127.0.0.1"
        self.port = int(line[1])
        self.url = f"smtp://{self.host}:{self.port}"
        time.sleep(0.2)  # let the Controller's own check connection finish
        self.reset()

    def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def reset(self) -> None:
        self._ask("reset")

    def stats(self) -> dict[str, int]:
        answer: dict[str, int] = json.loads(self._ask("stats"))
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ThreadServer:
    """tests.support.smtpserver.SmtpServer in a thread of this process."""

    def __init__(self) -> None:
        self.server = SmtpServer()
        self.server.start()
        self.host = self.server.host
        self.port = self.server.port
        self.url = self.server.url
        time.sleep(0.2)
        self.reset()

    def reset(self) -> None:
        self.server.clear()

    def stats(self) -> dict[str, int]:
        messages = list(self.server.messages)
        return {
            "messages": len(messages),
            "connections": self.server.connections,
            "delivering_connections": len({m.connection for m in messages}),
            "bytes": sum(len(m.data) for m in messages),
            "recipients": len({r for m in messages for r in m.rcpt_tos}),
        }

    def close(self) -> None:
        self.server.stop()


def start_server(kind: str) -> Server:
    return ThreadServer() if kind == "thread" else SubprocessServer(kind)


# --- phase 1 ---------------------------------------------------------------------------------


@dataclass
class Timed:
    wall: float
    cpu: float

    def rate(self, n: int) -> float:
        return n / self.wall if self.wall else 0.0


@contextlib.contextmanager
def timer() -> Iterator[Timed]:
    result = Timed(0.0, 0.0)
    wall, cpu = time.perf_counter(), time.process_time()
    yield result
    result.wall = time.perf_counter() - wall
    result.cpu = time.process_time() - cpu


def warm_environment() -> jinja2.Environment:
    """The job's environment with its templates compiled (a long-running process has them)."""
    env = make_environment()
    for part in ("subject.txt", "body.txt", "body.html"):
        env.get_template(f"email/en/digest-{part}")
    return env


@dataclass
class Inputs:
    """What each pure step of the build got, captured from a dry run (not timed)."""

    assemble: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    digests: list[DigestModel] = field(default_factory=list)


STEPS = {
    "_due_subscribers": ("db read", digests_mod),
    "newest_change_id": ("db read", change_store),
    "change_feed": ("db read", change_store),
    "study_rows": ("db read", study_store),
    "current_records_by_nct": ("db read", study_store),
    "_recipient": ("token", digests_mod),
    "build_digest": ("assemble", digests_mod),
    "add_details": ("assemble", digests_mod),
    "render_digest_mould": ("render", render_mod),
    "fill": ("render", DigestMould),
    "build_message": ("mime", outbox_rows_mod),
    "queue": ("outbox insert", outbox),
}
"""Functions build_digests_once calls (looked up at call time), and the step each is."""


@contextlib.contextmanager
def patched(module: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def instrumented_build(engine: Engine, env: jinja2.Environment) -> tuple[dict[str, float], int]:
    """Run build_digests_once with each step it calls wrapped in a wall-clock timer."""
    spent: dict[str, float] = {}

    def timed(original: Callable[..., Any], step: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[step] = spent.get(step, 0.0) + time.perf_counter() - start

        return wrapper

    with contextlib.ExitStack() as stack:
        for name, (step, module) in STEPS.items():
            stack.enter_context(patched(module, name, timed(getattr(module, name), step)))
        gc.collect()
        with timer() as total:
            result = build_digests_once(engine, env, MAIL, now=NOW)
    shares = dict(spent)
    shares["total"] = total.wall
    shares["cpu"] = total.cpu
    return shares, result.queued


def capture_inputs(engine: Engine, env: jinja2.Environment) -> Inputs:
    """A dry run (nothing written) recording what build_digest gets and gives."""
    inputs = Inputs()
    original = build_digest

    def spy(*args: Any, **kwargs: Any) -> DigestModel | None:
        inputs.assemble.append((args, kwargs))
        digest = original(*args, **kwargs)
        if digest is not None:
            inputs.digests.append(digest)
        return digest

    with patched(digests_mod, "build_digest", spy):
        build_digests_once(engine, env, MAIL, now=NOW, dry_run=True)
    return inputs


def isolated(env: jinja2.Environment, inputs: Inputs) -> dict[str, Timed]:
    """The pure steps on the same inputs, without the database, as _queue calls them."""
    out: dict[str, Timed] = {}
    people = [
        Subscriber(
            id=d.recipient.subscriber_id,
            email=d.recipient.email,
            token=f"token{d.recipient.subscriber_id}",
        )
        for d in inputs.digests
    ]
    rendered: list[Any] = []
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("token", lambda: [digests_mod._recipient(p, MAIL) for p in people]),
        ("assemble", lambda: [build_digest(*a, **k) for a, k in inputs.assemble]),
        ("render", lambda: rendered.extend(render_digest(env, d) for d in inputs.digests)),
        (
            "mime",
            lambda: [
                build_message(
                    r,
                    sender=MAIL.sender,
                    recipient_email=d.recipient.email,
                    recipient_name=d.recipient.name,
                    message_id=f"<digest.{uuid.uuid4().hex}@{MAIL.domain}>",
                    unsubscribe_url=d.recipient.unsubscribe_url,
                    date=NOW,
                )
                for r, d in zip(rendered, inputs.digests, strict=True)
            ],
        ),
    ]
    for name, fn in steps:
        gc.collect()
        with timer() as t:
            fn()
        out[name] = t
    return out


# --- phase 2 ---------------------------------------------------------------------------------


def instrumented_send(engine: Engine, server: Server) -> tuple[dict[str, float], int]:
    """Run send_digests_once with its DB calls, SMTP sends and commits timed in place."""
    spent: dict[str, float] = {}
    transport = SmtpTransport.from_url(server.url)

    def timed(original: Callable[..., Any], step: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[step] = spent.get(step, 0.0) + time.perf_counter() - start

        return wrapper

    with contextlib.ExitStack() as stack:
        for name, step in (
            ("release_stale", "claim"),
            ("claim", "claim"),
            ("mark_sent", "mark_sent"),
        ):
            stack.enter_context(patched(outbox, name, timed(getattr(outbox, name), step)))
        stack.enter_context(patched(Session, "commit", timed(Session.commit, "commit")))
        stack.enter_context(patched(transport, "send", timed(transport.send, "smtp")))
        gc.collect()
        with timer() as total:
            result = send_digests_once(engine, transport, sender=SENDER, now=lambda: NOW)
    spent["total"] = total.wall
    spent["cpu"] = total.cpu
    return spent, result.sent


def outbox_messages(engine: Engine) -> list[tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Digest.recipient, Digest.message).order_by(Digest.id)).tuples()
        return [(r, m.encode("utf-8", errors="surrogateescape")) for r, m in rows]


def send_smtplib(server: Server, messages: list[tuple[str, bytes]]) -> None:
    conn = smtplib.SMTP(server.host, server.port, timeout=30)
    try:
        conn.ehlo()
        for recipient, data in messages:
            conn.sendmail(ENVELOPE_FROM, [recipient], data)
    finally:
        conn.quit()


def send_transport(server: Server, messages: list[tuple[str, bytes]]) -> None:
    with SmtpTransport.from_url(server.url) as transport:
        for recipient, data in messages:
            transport.send(data, sender=ENVELOPE_FROM, recipient=recipient)


def status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Digest.status, func.count()).group_by(Digest.status)).tuples()
        return {status: int(n) for status, n in rows}


# --- report ----------------------------------------------------------------------------------


def server_cpu(stats: dict[str, int]) -> str:
    cpu = stats.get("cpu_ms")
    return "" if cpu is None else f", server {cpu / 1000:.2f} s CPU"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  n/a"


def profile(fn: Callable[[], T], limit: int = 18) -> tuple[T, str]:
    prof = cProfile.Profile()
    result = prof.runcall(fn)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return result, "\n".join("    " + ln[:150] for ln in lines[start:])


@dataclass
class Outcome:
    label: str
    build_rate: float = 0.0
    send_rate: float = 0.0
    checks: list[tuple[str, bool]] = field(default_factory=list)


def bare_insert(engine: Engine) -> float:
    """Seconds to INSERT again every row the build queued (same values), then roll back."""
    table = Digest.__table__
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table))]
    for row in rows:  # the same values, but ids and Message-IDs are unique
        row.pop("id")
        row["message_id"] = row["message_id"].replace("@", ".again@", 1)
    with engine.connect() as conn:
        trans = conn.begin()
        gc.collect()
        with timer() as t:
            for start in range(0, len(rows), 200):
                conn.execute(insert(table), rows[start : start + 200])
        trans.rollback()
    return max(t.wall, 1e-9)


def bench_database(
    engine: Engine, data: Dataset, args: argparse.Namespace, server: Server
) -> Outcome:
    outcome = Outcome(data.label)
    print(f"\n=== {data.label}: {engine.url.render_as_string(hide_password=True)} ===")
    kinds = ", ".join(f"{k}/{s} {n}" for (k, s), n in sorted(data.changes.items()))
    print(
        f"set-up (not timed, {data.seconds:.1f} s): 3 watchlists, {data.studies} studies, "
        f"{sum(data.changes.values())} changes ({kinds})"
    )
    print(
        f"  sites' countries: {dict(data.countries)}; {data.subscribers:,} subscribers, "
        f"{data.subscriptions:,} subscriptions {dict(data.by_watchlist)}"
    )
    env = warm_environment()
    gc.collect()

    # Phase 1 -------------------------------------------------------------------------------
    print("\nPhase 1: build_digests_once (assemble + render + MIME + outbox, cursors advanced)")
    best_build = float("inf")
    for run in range(args.repeat):
        if run:
            reset_build_state(engine)
        gc.collect()
        with timer() as built_t:
            built = build_digests_once(engine, env, MAIL, now=NOW)
        best_build = min(best_build, built_t.wall)
        print(
            f"  run {run + 1}: {built_t.wall:.2f} s wall, {built_t.cpu:.2f} s CPU of this process "
            f"-> {built_t.rate(built.queued):,.0f} digests/s "
            f"({built.subscribers / built_t.wall:,.0f} subscribers/s)"
        )
    rate = built.queued / best_build
    outcome.build_rate = rate
    with engine.connect() as conn:
        size = conn.execute(
            select(func.avg(func.length(Digest.message)), func.max(func.length(Digest.message)))
        ).one()
    print(
        f"  subscribers {built.subscribers:,}, queued {built.queued:,}, empty {built.empty:,}, "
        f"skipped {built.skipped}; {built.studies / max(built.queued, 1):.1f} studies and "
        f"{built.changes / max(built.queued, 1):.1f} change lines per digest; "
        f"message {float(size[0] or 0) / 1024:.1f} KiB avg, {int(size[1] or 0) / 1024:.1f} max"
    )
    print(f"  => {rate:,.0f} digests/s (best of {args.repeat})")
    sizes_ok = built.queued > 0 and built.queued + built.empty + built.skipped == data.subscribers
    outcome.checks.append(("every subscriber considered once", sizes_ok))
    insert_wall = bare_insert(engine)
    print(
        f"  baseline: a bare INSERT of the same {built.queued:,} outbox rows (Core executemany,"
        f" batches of 200, rolled back): {insert_wall:.2f} s -> "
        f"{built.queued / insert_wall:,.0f} rows/s; phase 1 at "
        f"{rate / (built.queued / insert_wall):.2f}x of that"
    )

    # Phase 2 -------------------------------------------------------------------------------
    print(f"\nPhase 2: send_digests_once over one connection to aiosmtpd ({args.server})")
    best_send = float("inf")
    for run in range(args.repeat):
        if run:
            requeue_all(engine)
        server.reset()
        gc.collect()
        with timer() as sent_t:
            sent = send_digests_once(
                engine, SmtpTransport.from_url(server.url), sender=SENDER, now=lambda: NOW
            )
        got = server.stats()
        best_send = min(best_send, sent_t.wall)
        print(
            f"  run {run + 1}: sent {sent.sent:,} (retried {sent.retried}, failed {sent.failed}, "
            f"error {sent.error}) in {sent_t.wall:.2f} s wall, {sent_t.cpu:.2f} s CPU of this "
            f"process{server_cpu(got)} -> {sent_t.rate(sent.sent):,.0f} messages/s"
        )
    counts = status_counts(engine)
    outcome.send_rate = sent.sent / best_send
    print(
        f"  server: {got['messages']:,} messages, {got['bytes'] / 2**20:.1f} MiB, "
        f"{got['recipients']:,} recipients, {got['connections']} connection(s) "
        f"({got['delivering_connections']} delivering); outbox: {counts}"
    )
    print(f"  => {outcome.send_rate:,.0f} messages/s (best of {args.repeat})")
    outcome.checks += [
        ("server received exactly the rows marked sent", got["messages"] == counts.get("sent")),
        (
            "every queued digest sent",
            counts == {"sent": built.queued} and sent.sent == built.queued,
        ),
        ("one SMTP connection", got["connections"] == 1 and got["delivering_connections"] == 1),
    ]

    # Baselines for phase 2 -------------------------------------------------------------------
    messages = outbox_messages(engine)
    print(f"\nBaselines for phase 2: the same {len(messages):,} messages, one connection, no DB")
    for name, send in (("bare smtplib.sendmail", send_smtplib), ("SmtpTransport", send_transport)):
        server.reset()
        gc.collect()
        with timer() as t:
            send(server, messages)
        base = server.stats()
        base_rate = t.rate(len(messages))
        print(
            f"  {name:22} {t.wall:6.2f} s wall, {t.cpu:5.2f} s CPU{server_cpu(base)} -> "
            f"{base_rate:5,.0f} messages/s; phase 2 at {outcome.send_rate / base_rate:.2f}x "
            f"({base['messages']:,} received, {base['connections']} connection)"
        )
        outcome.checks.append((f"{name} baseline delivered all", base["messages"] == len(messages)))
    del messages

    # Where phase 2's time goes ---------------------------------------------------------------
    requeue_all(engine)
    server.reset()
    spent, n_sent = instrumented_send(engine, server)
    got = server.stats()
    total = spent["total"]
    print(
        f"\nWhere phase 2's time goes: the same send again (rows re-queued), timed in place: "
        f"{total:.2f} s wall, {spent['cpu']:.2f} s CPU{server_cpu(got)}, "
        f"{n_sent / total:,.0f} messages/s with the timers"
    )
    rest = total - sum(spent.get(k, 0.0) for k in ("claim", "mark_sent", "commit", "smtp"))
    for name, secs in (
        ("claim (+ release_stale)", spent.get("claim", 0.0)),
        ("mark_sent", spent.get("mark_sent", 0.0)),
        ("commits", spent.get("commit", 0.0)),
        ("SMTP send (incl. server)", spent.get("smtp", 0.0)),
        ("rest (sessions, loop)", rest),
    ):
        print(
            f"  {name:24} {secs:6.2f} s {pct(secs, total)}  {1e3 * secs / n_sent:6.3f} ms/message"
        )
    db2 = total - spent.get("smtp", 0.0)
    print(
        f"  => DB and bookkeeping {pct(db2, total).strip()}, SMTP {pct(total - db2, total).strip()}"
    )

    # Where phase 1's time goes ---------------------------------------------------------------
    reset_build_state(engine)
    shares, queued = instrumented_build(engine, env)
    total = shares["total"]
    print(
        f"\nWhere phase 1's time goes: the same build again (state reset), each step it calls "
        f"timed in place: {total:.2f} s wall, {shares['cpu']:.2f} s CPU, "
        f"{queued / total:,.0f} digests/s with the timers"
    )
    named = ["db read", "token", "assemble", "render", "mime", "outbox insert"]
    rest = total - sum(shares.get(k, 0.0) for k in named)
    for name, secs in [(k, shares.get(k, 0.0)) for k in named] + [
        ("rest (commits, cursors)", rest)
    ]:
        print(f"  {name:24} {secs:6.2f} s {pct(secs, total)}  {1e3 * secs / queued:6.3f} ms/digest")
    db = shares.get("db read", 0.0) + shares.get("outbox insert", 0.0) + rest
    assembly = shares.get("assemble", 0.0) + shares.get("token", 0.0)
    print(
        f"  => assembly (incl. token) {pct(assembly, total).strip()}, rendering "
        f"{pct(shares.get('render', 0.0), total).strip()}, MIME "
        f"{pct(shares.get('mime', 0.0), total).strip()}, DB (reads, outbox inserts, commits) "
        f"{pct(db, total).strip()}"
    )

    # Baseline for phase 1: the pure steps, no DB -------------------------------------------
    reset_build_state(engine)
    inputs = capture_inputs(engine, env)
    iso = isolated(env, inputs)
    n = len(inputs.digests)
    del inputs
    print(f"\nBaseline for phase 1: the pure steps on the same {n:,} digests, no DB")
    for name, t in iso.items():
        print(
            f"  {name:10} {t.wall:6.2f} s wall {t.cpu:6.2f} s CPU {n / t.wall:9,.0f}/s "
            f"{1e3 * t.wall / n:6.3f} ms/digest"
        )
    pure = sum(t.wall for t in iso.values())
    render_rate = n / iso["render"].wall
    print(
        f"  all four   {pure:6.2f} s -> {n / pure:,.0f} digests/s; phase 1 runs at "
        f"{rate / (n / pure):.2f}x of that"
    )
    print(
        f"  Jinja2 rendering alone: {render_rate:,.0f} messages/s; phase 1 runs at "
        f"{rate / render_rate:.2f}x of that"
    )

    if args.profile:
        reset_build_state(engine)
        _, report = profile(lambda: build_digests_once(engine, env, MAIL, now=NOW))
        print("\ncProfile of phase 1 (tottime):\n" + report)
        requeue_all(engine)
        server.reset()
        _, report = profile(
            lambda: send_digests_once(
                engine, SmtpTransport.from_url(server.url), sender=SENDER, now=lambda: NOW
            )
        )
        print("\ncProfile of phase 2 (tottime):\n" + report)

    print("\nTargets:")
    print(
        f"  {verdict(rate >= TARGET_BUILD)}  phase 1: {rate:,.0f} digests/s rendered "
        f"(target >= {TARGET_BUILD:,.0f})"
    )
    print(
        f"  {verdict(outcome.send_rate >= TARGET_SEND)}  phase 2: {outcome.send_rate:,.0f} "
        f"messages/s delivered over one connection (target >= {TARGET_SEND:,.0f})"
    )
    for name, ok in outcome.checks:
        print(f"  {verdict(ok)}  check: {name}")
    return outcome


# --- databases -------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_engine(folder: Path) -> Iterator[tuple[Engine, str]]:
    url = f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    try:
        yield engine, url
    finally:
        engine.dispose()


@contextlib.contextmanager
def pg_engine(base_url: str) -> Iterator[tuple[Engine, str]]:
    """A new database on the server of ``base_url``, dropped afterwards."""
    admin_url = make_url(base_url).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url)
    name = f"trialwatch_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield engine, url
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--pg", metavar="URL", help="also run on PostgreSQL (a new database)")
    parser.add_argument(
        "--server",
        choices=("sink", "recording", "thread"),
        default="sink",
        help="aiosmtpd in a subprocess that only counts (default), tests.support.smtpserver"
        " SmtpServer"
        " in a subprocess, or SmtpServer in a thread of this process",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each phase N times (state reset), keep the best"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile both phases too")
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    args = parser.parse_args(argv)

    print(
        f"digest benchmark: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {args.subscribers:,} subscribers, SMTP server: {args.server}; "
        f"load average {load()}"
    )
    if args.server == "thread":
        print(SERVER_NOTE)
    outcomes: list[Outcome] = []
    folder = Path(tempfile.mkdtemp(prefix="trialwatch-bench-digest-"))
    server = start_server(args.server)
    try:
        backends: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Any]]]] = [
            ("SQLite", lambda: sqlite_engine(folder))
        ]
        if args.pg:
            pg_url: str = args.pg
            backends.append(("PostgreSQL", lambda: pg_engine(pg_url)))
        for label, opener in backends:
            with opener() as (engine, url):
                data = set_up(engine, url, label, args.subscribers, args.seed)
                outcomes.append(bench_database(engine, data, args, server))
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\nSummary (load average now {load()}; other processes share these CPUs):")
    failed = False
    for o in outcomes:
        ok = o.build_rate >= TARGET_BUILD and o.send_rate >= TARGET_SEND
        ok = ok and all(passed for _, passed in o.checks)
        failed = failed or not ok
        print(
            f"  {o.label:10} phase 1 {o.build_rate:7,.0f} digests/s "
            f"[{verdict(o.build_rate >= TARGET_BUILD)}], phase 2 {o.send_rate:7,.0f} messages/s "
            f"[{verdict(o.send_rate >= TARGET_SEND)}], checks "
            f"{verdict(all(p for _, p in o.checks))}"
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
