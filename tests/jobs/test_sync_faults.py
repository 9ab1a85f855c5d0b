"""Faults of the API and of concurrency that a sync must survive: never twice, never stuck.

Everything runs against the fake API over real HTTP on loopback; concurrency uses real
processes.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov, load_fixture_records
from trialwatch.errors import RegistryBadResponse, RegistryUnavailable
from trialwatch.jobs.sync import sync_watchlist
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change, Study, StudyVersion, SyncRun, WatchlistStudy
from trialwatch.watchlists import load_watchlists

MMN_IDS = {"NCT05225675", "NCT06537999", "NCT06742190"}


def _env(database_url: str, fake: FakeCtgov, **extra: str) -> dict[str, str]:
    return {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
        "TRIALWATCH_LOG_FORMAT": "text",
        **extra,
    }


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, database_url: str, fake: FakeCtgov, tmp_path: Path
) -> dict[str, str]:
    """Environment for in-process CLI runs against the fake server and the test database."""
    env = _env(database_url, fake)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return env


def _init(engine: Engine, directory: Path = ROOT / "config" / "watchlists") -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(directory), datetime.now(UTC))


def _client(fake: FakeCtgov, **options: Any) -> CtgovClient:
    options.setdefault("requests_per_minute", 0)
    options.setdefault("sleep", lambda _: None)
    return CtgovClient(fake.base_url, **options)


def _registry(fake: FakeCtgov, **options: Any) -> CtgovRegistry:
    return CtgovRegistry(_client(fake, **options))


def _runs(engine: Engine) -> list[SyncRun]:
    with session_scope(make_sessionmaker(engine)) as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def _count(engine: Engine, model: Any) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- 3. overlapping watchlists sync at the same time -------------------------------------


def _many_mmn_records(copies: int) -> list[dict[str, Any]]:
    """``copies`` distinct studies per constructed MMN record (same search, new NCT IDs)."""
    base = [r for r in load_fixture_records() if _nct(r) in MMN_IDS]
    records = []
    for n in range(copies):
        for i, record in enumerate(base):
            clone = copy.deepcopy(record)
            ident = clone["protocolSection"]["identificationModule"]
            ident["nctId"] = f"NCT9{n:04d}{i:03d}"
            ident.pop("nctIdAliases", None)
            records.append(clone)
    return records


def _nct(record: dict[str, Any]) -> str:
    return str(record["protocolSection"]["identificationModule"]["nctId"])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_watchlists_with_the_same_criteria_sync_at_once_and_store_each_study_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Two real `sync` processes, same studies, pages in lockstep: both exit 0, one version each."""
    records = _many_mmn_records(40)
    folder = tmp_path / "watchlists"
    folder.mkdir()
    text = (ROOT / "config" / "watchlists" / "mmn.toml").read_text()
    (folder / "mmn.toml").write_text(text)
    (folder / "mmn2.toml").write_text(text.replace('slug = "mmn"', 'slug = "mmn2"'))
    _init(engine, folder)
    with FakeCtgov(records) as fake:
        fake.lockstep(2, path_prefix="/studies")
        env = {
            **os.environ,
            **_env(database_url, fake, TRIALWATCH_PAGE_SIZE="10"),
            "TRIALWATCH_WATCHLISTS_DIR": str(folder),
        }
        cmd = [sys.executable, "-m", "trialwatch", "sync", "--json"]
        procs = [
            subprocess.Popen(
                [*cmd, slug], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for slug in ("mmn", "mmn2")
        ]
        outputs = [proc.communicate(timeout=90) for proc in procs]
    new = 0
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert "Traceback" not in err
        assert proc.returncode == 0, err
        [summary] = json.loads(out)
        assert summary["status"] == "succeeded"
        assert summary["seen"] == len(records)
        new += summary["new"]
    assert new == len(records)  # each study is new to exactly one of the two runs
    assert _count(engine, Study) == len(records)
    assert _count(engine, StudyVersion) == len(records)
    assert _count(engine, WatchlistStudy) == 2 * len(records)
    with session_scope(make_sessionmaker(engine)) as session:
        assert {s.current_version for s in session.scalars(select(Study))} == {1}
        new_study = session.execute(
            select(Change.watchlist_id, func.count())
            .where(Change.kind == "new_study")
            .group_by(Change.watchlist_id)
        ).all()
    assert sorted(n for _, n in new_study) == [len(records), len(records)]


# -- 5. a page-token loop ends the run ---------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["cycle", "fresh"])
def test_a_page_token_loop_fails_the_run_naming_the_watchlist_and_frees_the_lock(
    engine: Engine, fake: FakeCtgov, mode: str
) -> None:
    """Tokens A → B → A, or new on every page: the run stops, fails in one line, lock released."""
    _init(engine)
    fake.loop_page_tokens(mode)
    with _registry(fake) as registry:
        with pytest.raises(RegistryBadResponse) as caught:
            sync_watchlist(engine, registry, "mmn", page_size=250)
        message = str(caught.value)
        assert "watchlist 'mmn'" in message
        assert len(message.splitlines()) == 1
        # totalCount=3 at pageSize 250 is one page; the margin allows two more, no further.
        assert sum(path.endswith("/studies") for path, _ in fake.requests) <= 3
        [run] = _runs(engine)
        assert run.status == "failed"
        assert run.error == message
        fake.loop_page_tokens(None)
        result = sync_watchlist(engine, registry, "mmn", page_size=250)
    assert result.status == "succeeded"


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("cli_env")
def test_sync_reports_a_page_token_loop_in_one_line_and_exits_1(
    capsys: pytest.CaptureFixture[str], fake: FakeCtgov
) -> None:
    """`trialwatch sync` against an API that pages forever: exit 1, one line naming it."""
    code, _, err = run_cli(capsys, "init")
    assert code == 0, err
    fake.loop_page_tokens("fresh")
    code, _, err = run_cli(capsys, "sync", "mmn")
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("error: ")
    assert "watchlist 'mmn'" in line


# -- 6. the timeout is per request -------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_body_dripped_byte_by_byte_times_out_as_a_whole_request(fake: FakeCtgov) -> None:
    """A byte every 0.2 s never trips a 1 s read timeout; the whole-request deadline does."""
    fake.drip_body(0.2, times=2, path_prefix="/version")
    started = time.monotonic()
    with (
        _client(fake, timeout=1.0, max_attempts=2) as client,
        pytest.raises(RegistryUnavailable) as caught,
    ):
        client.data_timestamp()
    elapsed = time.monotonic() - started
    assert elapsed < 4.0
    message = str(caught.value)
    assert "not complete within 1 s" in message
    assert "(after 2 attempts)" in message


@pytest.mark.timeout(30)
def test_a_body_that_arrives_in_time_is_read_whole(fake: FakeCtgov) -> None:
    """A slow but punctual body (done before the deadline) is not cut off."""
    fake.drip_body(0.01, path_prefix="/version")
    with _client(fake, timeout=5.0, max_attempts=1) as client:
        assert client.data_timestamp() == fake.data_timestamp


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_sync_against_a_dripping_server_gives_up_within_the_timeout(
    fake: FakeCtgov, tmp_path: Path
) -> None:
    """A real `sync` with TRIALWATCH_HTTP_TIMEOUT=1: exit 1, one line, long before a drip ends."""
    env = {
        **os.environ,
        **_env(f"sqlite:///{tmp_path / 'tw.db'}", fake),
        "TRIALWATCH_HTTP_TIMEOUT": "1",
        "TRIALWATCH_MAX_ATTEMPTS": "2",
    }
    cmd = [sys.executable, "-m", "trialwatch"]
    init = subprocess.run([*cmd, "init"], env=env, capture_output=True, text=True, check=False)
    assert init.returncode == 0, init.stderr
    fake.drip_body(0.3, times=10, path_prefix="/studies")
    started = time.monotonic()
    done = subprocess.run(
        [*cmd, "sync", "mmn"], env=env, capture_output=True, text=True, check=False, timeout=50
    )
    assert time.monotonic() - started < 20
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ClinicalTrials.gov is unreachable at ")
    assert "not complete within 1 s" in line


# -- 7. a malformed record is skipped, not fatal -----------------------------------------


_BROKEN = {
    "no protocolSection": {"derivedSection": {"miscInfoModule": {}}, "hasResults": False},
    "no nctId": {"protocolSection": {"identificationModule": {"briefTitle": "Nameless"}}},
}


@pytest.mark.parametrize("broken", sorted(_BROKEN))
def test_a_malformed_record_is_skipped_and_the_rest_of_the_page_stored(
    engine: Engine, fake: FakeCtgov, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    """3 good records + 1 without an NCT ID: 3 stored, 1 skipped with its place, run succeeds."""
    _init(engine)
    fake.append_to_first_page(_BROKEN[broken])
    reason = "page 1, record 4: no protocolSection.identificationModule.nctId"
    with _registry(fake) as registry, caplog.at_level(logging.WARNING, logger="trialwatch"):
        result = sync_watchlist(engine, registry, "mmn", page_size=250)
        assert (result.status, result.new, result.skipped) == ("succeeded", 3, 1)
        assert result.skip_reason == reason
        assert result.to_dict()["skipped"] == 1
        assert result.cursor is not None
        again = sync_watchlist(engine, registry, "mmn", full=True, page_size=250)
    assert (again.status, again.new, again.unchanged, again.skipped) == ("succeeded", 0, 3, 1)
    assert _count(engine, StudyVersion) == 3
    first, second = _runs(engine)
    assert (first.status, first.skipped, first.skip_reason) == ("succeeded", 1, reason)
    assert (second.status, second.skipped) == ("succeeded", 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(reason in r.getMessage() and "mmn" in r.getMessage() for r in warnings)


@pytest.mark.usefixtures("cli_env")
def test_sync_summary_says_how_many_records_were_skipped(
    capsys: pytest.CaptureFixture[str], fake: FakeCtgov
) -> None:
    """The sync summary reports skipped records, as text and as JSON."""
    run_cli(capsys, "init")
    fake.append_to_first_page(_BROKEN["no nctId"])
    code, out, err = run_cli(capsys, "sync", "mmn", "--json")
    assert code == 0, err
    [summary] = json.loads(out)
    assert (summary["new"], summary["skipped"]) == (3, 1)
    assert (
        summary["skip_reason"] == "page 1, record 4: no protocolSection.identificationModule.nctId"
    )
    code, out, err = run_cli(capsys, "sync", "mmn", "--full")
    assert code == 0, err
    assert "skipped" in out
    assert "mmn: skipped 1 malformed record" in err
    assert "page 1, record 4" in err
