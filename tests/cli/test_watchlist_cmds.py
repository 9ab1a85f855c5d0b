"""`init` and `trialwatch watchlist ...`: files deleted and edited, enable and disable, cron
schedules checked at init, and `watchlist check` against the fake API."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.support.cli import ROOT, assert_one_line_error, run_cli
from tests.support.fakeapi import FakeCtgov
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Study, StudyVersion, SyncRun, Watchlist

MMN = (ROOT / "config" / "watchlists" / "mmn.toml").read_text(encoding="utf-8")
OTHER = """
slug = "rosacea"
name = "Rosacea"
schedule = "30 5 * * mon"

[criteria]
conditions = ["acne rosacea"]
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]) -> Path:
    """A watchlist folder of its own holding mmn.toml and rosacea.toml."""
    path = tmp_path / "watchlists"
    path.mkdir()
    (path / "mmn.toml").write_text(MMN, encoding="utf-8")
    (path / "rosacea.toml").write_text(OTHER, encoding="utf-8")
    monkeypatch.setenv("TRIALWATCH_WATCHLISTS_DIR", str(path))
    return path


def _enabled(engine: Engine) -> dict[str, bool]:
    with session_scope(make_sessionmaker(engine)) as session:
        rows = session.execute(select(Watchlist.slug, Watchlist.enabled))
        return {slug: enabled for slug, enabled in rows}


def _count(engine: Engine, model: type[object]) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _touch_later(path: Path, text: str) -> None:
    """Rewrite a file with a modification time safely after anything recorded so far."""
    path.write_text(text, encoding="utf-8")
    later = time.time() + 2
    os.utime(path, (later, later))


# -- a deleted file --------------------------------------------------------------------------


def test_a_watchlist_whose_file_was_deleted_is_disabled_at_init_and_kept(
    capsys: pytest.CaptureFixture[str], folder: Path, engine: Engine
) -> None:
    """init disables it (history kept), list/show say so, a plain sync skips it."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "rosacea")[0] == 0
    (folder / "rosacea.toml").unlink()
    code, out, err = run_cli(capsys, "init")
    assert code == 0, err
    assert f"watchlist rosacea: disabled (no file in {folder})" in out
    assert _enabled(engine) == {"mmn": True, "rosacea": False}
    assert _count(engine, Study) == 1

    code, out, _ = run_cli(capsys, "watchlist", "list", "--json")
    rows = {r["slug"]: r for r in json.loads(out)}
    assert (rows["rosacea"]["enabled"], rows["rosacea"]["studies"]) == (False, 1)
    code, out, _ = run_cli(capsys, "watchlist", "list")
    [line] = [line for line in out.splitlines() if "rosacea" in line]
    assert "disabled" in line
    code, out, _ = run_cli(capsys, "watchlist", "show", "rosacea")
    assert "disabled" in out

    code, out, err = run_cli(capsys, "sync", "--json")
    assert code == 0, err
    assert [r["watchlist"] for r in json.loads(out)] == ["mmn"]

    code, out, _ = run_cli(capsys, "init")
    assert "rosacea" not in out


def test_a_restored_file_enables_its_watchlist_again(
    capsys: pytest.CaptureFixture[str], folder: Path, engine: Engine
) -> None:
    """Put the file back and init: the watchlist follows its file again."""
    assert run_cli(capsys, "init")[0] == 0
    (folder / "rosacea.toml").unlink()
    assert run_cli(capsys, "init")[0] == 0
    _touch_later(folder / "rosacea.toml", OTHER)
    _, out, _ = run_cli(capsys, "init")
    assert "rosacea: updated (enabled)" in out
    assert _enabled(engine) == {"mmn": True, "rosacea": True}


# -- enable and disable ----------------------------------------------------------------------


def test_disable_and_enable_switch_a_watchlist_and_sync_follows(
    capsys: pytest.CaptureFixture[str], folder: Path, engine: Engine
) -> None:
    """`watchlist disable` stops plain syncs of it; `watchlist enable` brings them back."""
    assert run_cli(capsys, "init")[0] == 0
    code, out, err = run_cli(capsys, "watchlist", "disable", "rosacea")
    assert code == 0, err
    assert "rosacea: disabled" in out
    assert _enabled(engine)["rosacea"] is False
    code, out, _ = run_cli(capsys, "watchlist", "disable", "rosacea", "--json")
    assert json.loads(out) == {"slug": "rosacea", "enabled": False, "changed": False}
    code, out, _ = run_cli(capsys, "sync", "--json")
    assert [r["watchlist"] for r in json.loads(out)] == ["mmn"]

    code, out, _ = run_cli(capsys, "watchlist", "enable", "rosacea", "--json")
    assert json.loads(out) == {"slug": "rosacea", "enabled": True, "changed": True}
    code, out, _ = run_cli(capsys, "sync", "--json")
    assert [r["watchlist"] for r in json.loads(out)] == ["mmn", "rosacea"]


def test_a_disable_by_command_lasts_until_the_file_is_edited(
    capsys: pytest.CaptureFixture[str], folder: Path, engine: Engine
) -> None:
    """init keeps a command's disable while the file is untouched; an edited file wins."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "watchlist", "disable", "mmn")[0] == 0
    _, out, _ = run_cli(capsys, "init")
    assert "mmn: unchanged" in out
    assert _enabled(engine)["mmn"] is False

    _touch_later(folder / "mmn.toml", MMN.replace("0 6 * * *", "0 7 * * *"))
    _, out, _ = run_cli(capsys, "init")
    assert "mmn: updated (enabled, schedule)" in out
    assert _enabled(engine)["mmn"] is True


def test_a_file_that_says_disabled_wins_when_edited_after_an_enable(
    capsys: pytest.CaptureFixture[str], folder: Path, engine: Engine
) -> None:
    """enabled = false written into the file after a command's enable disables it at init."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "watchlist", "enable", "mmn")[0] == 0
    _touch_later(folder / "mmn.toml", "enabled = false\n" + MMN)
    _, out, _ = run_cli(capsys, "init")
    assert "mmn: updated (enabled)" in out
    assert _enabled(engine)["mmn"] is False


@pytest.mark.parametrize("command", ["enable", "disable"])
def test_enable_and_disable_name_an_unknown_watchlist_in_one_line(
    capsys: pytest.CaptureFixture[str], folder: Path, command: str
) -> None:
    """An unknown slug: exit 2, one line listing the known ones."""
    assert run_cli(capsys, "init")[0] == 0
    result = run_cli(capsys, "watchlist", command, "nope")
    assert_one_line_error(result, 2, "unknown watchlist 'nope' (known: mmn, rosacea)")


# -- cron schedules --------------------------------------------------------------------------


def test_init_rejects_a_bad_cron_schedule_naming_the_file_and_key(
    capsys: pytest.CaptureFixture[str], folder: Path, engine: Engine
) -> None:
    """`99 99 * * *`: exit 2, one line with the file and `schedule`; nothing is loaded."""
    bad = folder / "rosacea.toml"
    bad.write_text(OTHER.replace("30 5 * * mon", "99 99 * * *"), encoding="utf-8")
    line = assert_one_line_error(run_cli(capsys, "init"), 2, f"{bad}: schedule: '99 99 * * *'")
    assert "not a valid cron expression" in line
    assert _count(engine, Watchlist) == 0


# -- watchlist check -------------------------------------------------------------------------


def test_check_prints_the_query_and_the_registry_count_and_stores_nothing(
    capsys: pytest.CaptureFixture[str], folder: Path, fake: FakeCtgov, engine: Engine
) -> None:
    """`watchlist check mmn`: valid, the query parameters, totalCount; one /studies request."""
    fake.reset_requests()
    code, out, err = run_cli(capsys, "watchlist", "check", "mmn")
    assert code == 0, err
    assert str(folder / "mmn.toml") in out
    assert "query.term" in out
    assert 'AREA[ConditionSearch]("multifocal motor neuropathy")' in out
    assert "3 studies match now" in out
    [(path, params)] = fake.requests
    assert path == "/api/v2/studies"
    assert (params["pageSize"], params["countTotal"]) == ("1", "true")
    assert (_count(engine, Watchlist), _count(engine, Study), _count(engine, SyncRun)) == (0, 0, 0)
    assert _count(engine, StudyVersion) == 0


def test_check_json_takes_a_path_and_reports_listed_ids(
    capsys: pytest.CaptureFixture[str], folder: Path, fake: FakeCtgov, tmp_path: Path
) -> None:
    """A path to a .toml outside the folder works; --json gives params, count and listed IDs."""
    path = tmp_path / "elsewhere.toml"
    path.write_text(
        OTHER.replace("[criteria]", '[criteria]\nnct_ids = ["NCT02513394"]\nphases = ["PHASE2"]'),
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "watchlist", "check", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["slug"] == "rosacea"
    assert data["source"] == str(path)
    assert data["schedule"] == "30 5 * * mon"
    assert data["params"]["filter.advanced"] == "AREA[Phase](PHASE2)"
    assert data["total_count"] == 1
    assert data["always_watched"] == ["NCT02513394"]
    assert data["listed_params"] == {"format": "json", "filter.ids": "NCT02513394"}
    assert len(fake.requests) == 1


def test_check_reports_a_bad_file_in_one_line(
    capsys: pytest.CaptureFixture[str], folder: Path, fake: FakeCtgov
) -> None:
    """A bad cron in the checked file: exit 2 naming file and key, no request."""
    bad = folder / "rosacea.toml"
    bad.write_text(OTHER.replace("30 5 * * mon", "99 99 * * *"), encoding="utf-8")
    fake.reset_requests()
    assert_one_line_error(run_cli(capsys, "watchlist", "check", "rosacea"), 2, f"{bad}: schedule")
    assert fake.requests == []


def test_check_finds_a_slug_whose_file_has_another_name_and_names_an_unknown_one(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    """A slug is looked up in every file of the folder; an unknown one exits 2."""
    (folder / "rosacea.toml").rename(folder / "skin.toml")
    code, out, err = run_cli(capsys, "watchlist", "check", "rosacea", "--json")
    assert code == 0, err
    assert json.loads(out)["source"] == str(folder / "skin.toml")
    assert_one_line_error(
        run_cli(capsys, "watchlist", "check", "nope"),
        2,
        f"no watchlist file with slug 'nope' in {folder} (found: mmn, rosacea)",
    )


def test_check_reports_an_api_failure_in_one_line(
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    fake: FakeCtgov,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API answering 400: exit 1 with its message."""
    monkeypatch.setenv("TRIALWATCH_MAX_ATTEMPTS", "1")
    fake.fail_next(400, body="Unknown parameter", path_prefix="/studies")
    assert_one_line_error(run_cli(capsys, "watchlist", "check", "mmn"), 1, "Unknown parameter")
