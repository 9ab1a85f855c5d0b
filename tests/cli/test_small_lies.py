"""Small things the command line said wrong: NCT IDs, slugs, unknown subscribers, modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cli import ROOT, assert_one_line_error, run_cli, run_ok
from tests.web.conftest import _free_port


@pytest.fixture
def synced(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The MMN watchlist synced from the fake registry."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("synced")
@pytest.mark.parametrize("written", ["nct6742190", "NCT06742190", " nct 06742190 ", "NCT-6742190"])
def test_history_and_diff_read_an_nct_id_as_people_write_it(
    capsys: pytest.CaptureFixture[str], written: str
) -> None:
    """Lower case, missing leading zero, a space or a dash: the same study."""
    assert "NCT06742190" in run_ok(capsys, "history", written)
    assert "NCT06742190" in run_ok(capsys, "diff", written, "0", "1")


@pytest.mark.usefixtures("synced")
def test_sync_of_a_misspelt_slug_names_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    """`sync mnn` says: did you mean mmn."""
    assert_one_line_error(run_cli(capsys, "sync", "mnn"), 2, "closest: mmn")


@pytest.mark.usefixtures("synced")
def test_a_preview_of_nobody_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """No such subscriber is bad input, not an empty digest."""
    line = assert_one_line_error(
        run_cli(capsys, "digest", "--preview", "nobody@example.org"), 2, "nobody@example.org"
    )
    assert "no subscriber" in line


@pytest.mark.usefixtures("synced", "umask_022")
@pytest.mark.parametrize(
    "args",
    [
        ["export", "-w", "mmn", "-f", "csv"],
        ["changes", "-w", "mmn", "-f", "json"],
    ],
)
def test_exports_follow_the_umask(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    """A file written with umask 022 is 0644, like any file the user writes."""
    target = tmp_path / "out.file"
    run_ok(capsys, *args, "-o", str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.slow
def test_serve_prints_its_address_once_it_listens(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`trialwatch serve` says where it answers, then serves there."""
    assert run_cli(capsys, "init")[0] == 0
    port = _free_port()
    env = {**os.environ, **cli_env, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "trialwatch", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        stdout = process.stdout
        assert stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=20)
        assert lines, "serve printed nothing"
        assert f"http://127.0.0.1:{port}" in lines[0], lines
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
