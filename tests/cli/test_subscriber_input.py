"""Subscriber addresses and names: refused at the edge with one line, never half-imported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.cli import assert_one_line_error, run_cli
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.subscribers import SubscriptionRequest

LONG_NAME = "N" * 201
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def cli(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "init")[0] == 0


def _emails(capsys: pytest.CaptureFixture[str]) -> list[str]:
    code, out, err = run_cli(capsys, "subscriber", "list", "--json")
    assert code == 0, err
    return [row["email"] for row in json.loads(out)]


@pytest.mark.usefixtures("cli")
def test_add_refuses_an_address_with_a_non_ascii_local_part(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ünï@example.org cannot be mailed without SMTPUTF8: exit 2, one line, nothing stored."""
    result = run_cli(capsys, "subscriber", "add", "ünï@example.org", "-w", "mmn")
    line = assert_one_line_error(result, 2, "email: 'ünï@example.org'")
    assert "non-ASCII" in line
    assert _emails(capsys) == []


@pytest.mark.usefixtures("cli")
def test_add_keeps_an_international_domain_in_its_ascii_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An IDN domain is stored as punycode, an address that can be mailed."""
    code, _, err = run_cli(capsys, "subscriber", "add", "ana@bücher.de", "-w", "mmn")
    assert code == 0, err
    assert _emails(capsys) == ["ana@xn--bcher-kva.de"]
    code, _, err = run_cli(capsys, "subscriber", "remove", "ana@bücher.de")
    assert code == 0, err


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["a@example.org", "--name", LONG_NAME], "name: 201 characters, at most 200"),
        (["a@example.org", "--timezone", "Europe/" + "x" * 60], "timezone: "),
        (["a" * 64 + "@" + ".".join(["b" * 60] * 5) + ".org", "--name", "A"], "email: "),
    ],
)
def test_add_refuses_values_longer_than_their_column(
    capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    """Over-long names, time zones and addresses are one line and exit 2 on every database."""
    result = run_cli(capsys, "subscriber", "add", *args, "-w", "mmn")
    assert_one_line_error(result, 2, fragment)
    assert _emails(capsys) == []


@pytest.mark.usefixtures("cli")
def test_import_reports_an_over_long_or_non_ascii_row_and_keeps_the_good_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each bad row is reported by line; every good row is imported."""
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "email,name,watchlists\n"
        "ana@example.org,Ana,mmn\n"
        f"bob@example.org,{LONG_NAME},mmn\n"
        "ünï@example.org,U,mmn\n"
        "cy@example.org,Cy,mmn\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "subscriber", "import", str(path), "--json")
    assert "Traceback" not in out + err
    assert code == 1
    report = json.loads(out)
    assert [(e["line"], e["error"].split(":")[0]) for e in report["errors"]] == [
        (3, "name"),
        (4, "email"),
    ]
    assert report["imported"] == 2
    assert _emails(capsys) == ["ana@example.org", "cy@example.org"]


@pytest.mark.usefixtures("cli")
def test_import_reports_an_unclosed_quote_at_its_line_and_keeps_the_rows_after_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A quote left open on line 3 is reported at line 3; lines 4 and 5 are still imported."""
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "email,name,watchlists\n"
        "ana@example.org,Ana,mmn\n"
        'bob@example.org,"Bob,mmn\n'
        "cy@example.org,Cy,mmn\n"
        "dee@example.org,Dee,mmn\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "subscriber", "import", str(path), "--json")
    assert "Traceback" not in out + err
    assert code == 1
    report = json.loads(out)
    assert [e["line"] for e in report["errors"]] == [3]
    assert "quote" in report["errors"][0]["error"]
    assert report["imported"] == 3
    assert _emails(capsys) == ["ana@example.org", "cy@example.org", "dee@example.org"]
    code, _, err = run_cli(capsys, "subscriber", "import", str(path))
    assert code == 1
    assert f"{path}: line 3: " in err


@pytest.mark.usefixtures("cli")
def test_import_counts_lines_like_a_file_with_windows_line_ends(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """CRLF line ends and a BOM do not shift the reported line numbers."""
    path = tmp_path / "subscribers.csv"
    path.write_bytes(
        b"\xef\xbb\xbfemail,watchlists\r\nana@example.org,mmn\r\nbroken,mmn\r\ncy@example.org,mmn\r\n"
    )
    code, out, _ = run_cli(capsys, "subscriber", "import", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert [e["line"] for e in report["errors"]] == [3]
    assert report["imported"] == 2


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("email,name,watchlists\nzoë@example.org,Zoë,mmn\n".encode("latin-1"), "not UTF-8"),
        ("email,name,watchlists\nana@example.org,Ana,mmn\n".encode("utf-16"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a text file"),
        (b"email,watchlists\nana@example.org,mmn\x00\x00\n", "not a text file"),
    ],
    ids=["latin-1", "utf-16", "png", "nul"],
)
def test_import_of_a_file_that_is_not_utf8_text_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, fragment: str
) -> None:
    """Latin-1, UTF-16 and binary files are refused whole, naming the file."""
    path = tmp_path / "subscribers.csv"
    path.write_bytes(content)
    line = assert_one_line_error(run_cli(capsys, "subscriber", "import", str(path)), 2, fragment)
    assert str(path) in line
    assert _emails(capsys) == []


@pytest.mark.usefixtures("cli")
def test_a_stored_non_ascii_address_can_still_be_removed(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    """Addresses stored before they were refused can be found, removed and purged."""
    with session_scope(make_sessionmaker(engine)) as session:
        for email in ("ünï@example.org", "bo@bücher.de"):
            request = SubscriptionRequest(email="x@example.org", watchlists=("mmn",))
            subscriber_store.subscribe(session, request, T0).email = email
            session.flush()
    code, out, err = run_cli(capsys, "subscriber", "remove", "ÜNÏ@example.org")
    assert code == 0, err
    assert "removed 1 subscription(s) of ünï@example.org" in out
    code, out, err = run_cli(capsys, "subscriber", "remove", "ünï@example.org", "--purge")
    assert code == 0, err
    code, out, err = run_cli(capsys, "subscriber", "remove", "bo@bücher.de", "--purge")
    assert code == 0, err
    assert _emails(capsys) == []


@pytest.mark.usefixtures("cli")
def test_import_refuses_an_unknown_column_naming_the_closest_known_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`country` for `countries` imported people with no filter (and Narnia): now exit 2."""
    path = tmp_path / "subscribers.csv"
    path.write_text("email,watchlists,country\nana@example.org,mmn,Narnia\n", encoding="utf-8")
    result = run_cli(capsys, "subscriber", "import", str(path))
    line = assert_one_line_error(result, 2, "unknown column 'country'")
    assert "closest: countries" in line
    assert str(path) in line
    assert _emails(capsys) == []
