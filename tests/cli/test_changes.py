"""`trialwatch changes`: the table and --json as before, --format csv|json exports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.factories import change_status
from tests.support.cli import assert_one_line_error, run_cli, run_ok
from tests.support.fakeapi import FakeCtgov
from trialwatch.services.exports import CHANGE_COLUMNS
from trialwatch.store.db import make_engine
from trialwatch.store.models import Change
from trialwatch.words.changes import CATALOGUE, describe

STATUS = "Status: Active, not recruiting → Completed"


@pytest.fixture
def changed(cli_env: dict[str, str], fake: FakeCtgov, capsys: pytest.CaptureFixture[str]) -> None:
    """mmn synced, then ARDA (NCT05225675) completed, posted 2026-11-27, and synced again."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    change_status(fake, "NCT05225675", "COMPLETED", "2026-11-27")
    assert run_cli(capsys, "sync", "mmn")[0] == 0


def _listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    return list(json.loads(run_ok(capsys, "changes", "--json", "--limit", "0", *args)))


@pytest.mark.usefixtures("changed")
def test_csv_has_a_row_per_change_with_its_version_and_posted_date(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The status change: version 2, posted 2026-11-27; new trials: version 1, watchlist mmn."""
    target = tmp_path / "changes.csv"
    args = ("--significance", "all", "--limit", "0")
    assert run_ok(capsys, "changes", *args, "--format", "csv", "-o", str(target)) == ""
    with target.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CHANGE_COLUMNS
        rows = list(reader)
    listed = _listed(capsys, "--significance", "all")
    assert len(rows) == len(listed) > 4
    status = next(r for r in rows if r["kind"] == "overall_status")
    assert {k: status[k] for k in ("nct_id", "acronym", "version", "posted", "watchlist")} == {
        "nct_id": "NCT05225675",
        "acronym": "ARDA",
        "version": "2",
        "posted": "2026-11-27",
        "watchlist": "",
    }
    assert (status["kind"], status["significance"], status["summary"]) == (
        "overall_status",
        "major",
        STATUS,
    )
    assert status["field"] == "protocolSection.statusModule.overallStatus"
    assert (json.loads(status["old"]), json.loads(status["new"])) == (
        "ACTIVE_NOT_RECRUITING",
        "COMPLETED",
    )
    new = [r for r in rows if r["kind"] == "new_study"]
    assert len(new) == 3
    assert {(r["watchlist"], r["version"], r["significance"]) for r in new} == {
        ("mmn", "1", "major")
    }
    assert next(r for r in new if r["nct_id"] == "NCT05225675")["posted"] == "2025-08-12"
    for row, item in zip(rows, listed, strict=True):
        assert (row["nct_id"], row["summary"], row["detected_at"]) == (
            item["nct_id"],
            item["summary"],
            item["detected_at"],
        )
        assert (json.loads(row["old"]), json.loads(row["new"])) == (item["old"], item["new"])
        assert json.loads(row["countries"]) == item["countries"]


@pytest.mark.usefixtures("changed")
def test_json_export_keeps_values_as_json_and_json_flag_is_unchanged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--format json: the export's columns, lists as lists; --json: the listing's keys as before."""
    exported = json.loads(run_ok(capsys, "changes", "--format", "json", "-w", "mmn"))
    listed = _listed(capsys, "-w", "mmn")
    assert [list(r) for r in exported] == [list(CHANGE_COLUMNS)] * len(listed)
    assert [r["summary"] for r in exported] == [r["summary"] for r in listed]
    assert exported[0]["version"] == 2
    assert exported[0]["posted"] == "2026-11-27"
    assert isinstance(exported[0]["countries"], list)
    assert set(listed[0]) == {
        "id",
        "nct_id",
        "acronym",
        "title",
        "version",
        "kind",
        "field",
        "old",
        "new",
        "summary",
        "significance",
        "countries",
        "detected_at",
        "watchlist",
        "message",
        "params",
    }


@pytest.mark.usefixtures("changed")
def test_json_gives_every_change_its_message_and_params(
    capsys: pytest.CaptureFixture[str], cli_env: dict[str, str]
) -> None:
    """Each change says what changed in codes; a row stored before messages says its summary."""
    listed = _listed(capsys, "--significance", "all")
    assert listed
    for item in listed:
        assert isinstance(item["message"], str), item
        assert item["message"] in CATALOGUE, item
        assert isinstance(item["params"], dict), item
        assert describe(item["message"], item["params"]) == item["summary"], item
    status = next(item for item in listed if item["kind"] == "overall_status")
    assert (status["message"], status["params"]) == (
        "status_changed",
        {"from": "ACTIVE_NOT_RECRUITING", "to": "COMPLETED"},
    )
    engine = make_engine(cli_env["TRIALWATCH_DATABASE_URL"])
    with engine.begin() as conn:  # as a release before 0011 wrote it
        conn.execute(
            update(Change).where(Change.id == status["id"]).values(message=None, params=None)
        )
    engine.dispose()
    old = next(
        item for item in _listed(capsys, "--significance", "all") if item["id"] == status["id"]
    )
    assert (old["message"], old["params"]) == ("summary_only", {"text": STATUS})


@pytest.mark.usefixtures("changed")
def test_the_table_stays_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    """No --format: the table, the status change first."""
    out = run_ok(capsys, "changes", "-w", "mmn")
    assert "detected" in out
    assert STATUS in out
    assert "ARDA NCT05225675" in out
    assert out == run_ok(capsys, "changes", "-w", "mmn", "--format", "table")


@pytest.mark.usefixtures("changed")
def test_the_limit_applies_to_exports_and_says_so_when_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--limit 2 writes two rows and a note on stderr; --limit 0 writes all, with no note."""
    code, out, err = run_cli(capsys, "changes", "-s", "all", "-f", "csv", "--limit", "2")
    assert code == 0, err
    assert len(out.splitlines()) == 3
    assert err.strip() == "stopped at --limit 2: --limit 0 writes every change"
    code, out, err = run_cli(capsys, "changes", "-s", "all", "-f", "json", "--limit", "0")
    assert (code, err) == (0, "")
    assert len(json.loads(out)) == len(_listed(capsys, "-s", "all"))


@pytest.mark.usefixtures("changed")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_fields_choose_the_columns(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    """--fields nct_id,kind,posted in that order."""
    out = run_ok(capsys, "changes", "-w", "mmn", "-f", fmt, "--fields", "nct_id,kind,posted")
    if fmt == "csv":
        assert out.splitlines()[:2] == [
            "nct_id,kind,posted",
            "NCT05225675,overall_status,2026-11-27",
        ]
    else:
        assert json.loads(out)[0] == {
            "nct_id": "NCT05225675",
            "kind": "overall_status",
            "posted": "2026-11-27",
        }


_BAD_OPTIONS = [
    (["--format", "csv", "--fields", "nct_id,sumary"], "unknown field 'sumary' (closest: summary"),
    (["--format", "csv", "--json"], "--json and --format csv: choose one"),
    (["--fields", "nct_id"], "--output and --fields go with --format csv or --format json"),
    (["--limit", "-1", "--format", "csv"], "-1"),
    ([], "--output goes with --format csv"),
]


@pytest.mark.usefixtures("changed")
def test_bad_export_options_are_one_line_and_nothing_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Exit 2 naming the problem; the output file is not created."""
    target = tmp_path / "changes.csv"
    for args, fragment in _BAD_OPTIONS:
        result = run_cli(capsys, "changes", *args, "-o", str(target))
        assert result[1] == "", args
        if fragment == "-1":
            assert result[0] == 2, args
            assert "Traceback" not in result[2], args
        else:
            assert_one_line_error(result, 2, fragment)
        assert not target.exists(), args


def test_every_export_column_is_in_the_readme() -> None:
    """The README explains each column of both exports."""
    from tests.support.cli import ROOT
    from trialwatch.services.exports import STUDY_COLUMNS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exports")[1].split("\n## ")[0]
    for column in (*STUDY_COLUMNS, *CHANGE_COLUMNS):
        assert f"`{column}`" in section, column
