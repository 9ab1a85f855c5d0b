"""``trialwatch admin hash-password``: an argon2 hash for TRIALWATCH_ADMIN_PASSWORD_HASH."""

from __future__ import annotations

import io
import sys

import pytest
from argon2 import PasswordHasher

from tests.support.cli import assert_one_line_error, run_cli


def test_hash_password_from_stdin_prints_a_hash_that_verifies(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line on stdin, one argon2 hash on stdout."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret pass\n"))
    code, out, err = run_cli(capsys, "admin", "hash-password", "--stdin")
    assert code == 0, err
    digest = out.strip()
    assert digest.startswith("$argon2id$")
    assert PasswordHasher().verify(digest, "s3cret pass")


def test_an_empty_password_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No hash of nothing."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert_one_line_error(run_cli(capsys, "admin", "hash-password", "--stdin"), 2, "empty")


def test_the_prompt_asks_twice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --stdin the password is typed twice (hidden)."""
    answers = iter(["typed pass", "typed pass"])
    monkeypatch.setattr("typer.prompt", lambda *a, **k: next(answers))
    code, out, err = run_cli(capsys, "admin", "hash-password")
    assert code == 0, err
    assert PasswordHasher().verify(out.strip().splitlines()[-1], "typed pass")


def test_two_different_passwords_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typing mistake in the second prompt prints no hash."""
    answers = iter(["typed pass", "typed pas"])
    monkeypatch.setattr("typer.prompt", lambda *a, **k: next(answers))
    assert_one_line_error(run_cli(capsys, "admin", "hash-password"), 2, "do not match")
