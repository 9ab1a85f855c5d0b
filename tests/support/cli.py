"""Running the command line in tests: in this process, with its exit code and output."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialwatch.cli import main

ROOT = Path(__file__).parents[2]
"""The repository root (its config/ and templates/)."""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``trialwatch ARGS`` in this process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(result: tuple[int, str, str], code: int, fragment: str) -> str:
    """The command failed with ``code`` and one line on stderr containing ``fragment``."""
    got, out, err = result
    assert "Traceback" not in out + err, err
    assert got == code, (got, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert fragment in lines[0], err
    return lines[0]


def run_ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``trialwatch ARGS``, which must succeed without a traceback; return stdout."""
    code, out, err = run_cli(capsys, *args)
    assert "Traceback" not in out + err, err
    assert code == 0, err
    return out
