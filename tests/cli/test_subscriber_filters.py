"""Subscriber filters that never fail silently: countries, kinds and "near me" are checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import assert_one_line_error, run_cli


@pytest.fixture
def cli(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "init")[0] == 0


def _subscriptions(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, err = run_cli(capsys, "subscriber", "list", "--json")
    assert code == 0, err
    return [sub for row in json.loads(out) for sub in row["subscriptions"]]


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize("typed", ["The Netherlands", "Holland", "netherlands", "NL"])
def test_add_stores_a_country_in_the_registrys_spelling(
    capsys: pytest.CaptureFixture[str], typed: str
) -> None:
    """However the country is written, the filter holds the registry's "Netherlands"."""
    code, _, err = run_cli(capsys, "subscriber", "add", "a@example.org", "-w", "mmn", "-c", typed)
    assert code == 0, err
    [sub] = _subscriptions(capsys)
    assert sub["countries"] == ["Netherlands"]


@pytest.mark.usefixtures("cli")
def test_add_refuses_an_unknown_country_naming_the_closest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Narnia would match no site ever: exit 2, one line with close names, nothing stored."""
    result = run_cli(capsys, "subscriber", "add", "a@example.org", "-w", "mmn", "-c", "Narnia")
    line = assert_one_line_error(result, 2, "country: 'Narnia'")
    assert line == (
        "error: country: 'Narnia' is not a country the registry knows"
        " (closest: Armenia, Argentina, Mauritania)"
    )
    assert _subscriptions(capsys) == []


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "new_studies",
            "error: kind: 'new_studies' is not a change kind (closest: new_study)",
        ),
        (
            "nonsense_kind",
            "error: kind: 'nonsense_kind' is not a change kind"
            " (e.g. new_study, overall_status, results_posted, site_added;"
            " trialwatch subscriber add --help lists them all)",
        ),
        ("bookkeeping", "error: kind: 'bookkeeping' changes are never mailed (they are noise)"),
    ],
)
def test_add_refuses_a_kind_outside_the_vocabulary(
    capsys: pytest.CaptureFixture[str], kind: str, expected: str
) -> None:
    """A kind no change ever has would starve the subscriber: exit 2 with close matches."""
    result = run_cli(capsys, "subscriber", "add", "a@example.org", "-w", "mmn", "-k", kind)
    assert assert_one_line_error(result, 2, f"kind: '{kind}'") == expected
    assert _subscriptions(capsys) == []


@pytest.mark.usefixtures("cli")
def test_add_near_a_city_stores_the_place_and_the_radius(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--near resolves offline; --within defaults to 100 km; list shows both."""
    code, out, err = run_cli(
        capsys, "subscriber", "add", "a@example.org", "-w", "mmn", "--near", "leiden, NL"
    )
    assert code == 0, err
    assert "near Leiden, Netherlands (100 km)" in out
    [sub] = _subscriptions(capsys)
    assert sub["near"] == {
        "place": "Leiden, Netherlands",
        "lat": 52.15833,
        "lon": 4.49306,
        "within_km": 100.0,
    }
    code, _, err = run_cli(
        capsys, "subscriber", "add", "a@example.org", "-w", "mmn",
        "--near", "Leiden, Netherlands", "--within", "25",
    )  # fmt: skip
    assert code == 0, err
    assert _subscriptions(capsys)[0]["near"]["within_km"] == 25.0
    code, out, _ = run_cli(capsys, "subscriber", "list")
    assert "mmn (daily, major, near Leiden, Netherlands (25 km))" in out


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--near", "Paris"],
            "error: near: 'Paris' is ambiguous: Paris, France; Paris, United States"
            ' (give one of these, or coordinates "lat, lon")',
        ),
        (
            ["--near", "Leidn, Netherlands"],
            "error: near: 'Leidn, Netherlands' is not a city we know"
            " (did you mean Leiden, Netherlands?)",
        ),
        (["--within", "50"], "error: within: needs --near (a place to measure from)"),
        (
            ["--near", "Leiden", "--within", "0"],
            "error: within: 0 km is not between 1 and 5000 km",
        ),
    ],
)
def test_add_refuses_a_place_it_cannot_resolve(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    """Ambiguous or unknown places, or a radius alone: one line, exit 2, nothing stored."""
    result = run_cli(capsys, "subscriber", "add", "a@example.org", "-w", "mmn", *args)
    assert assert_one_line_error(result, 2, "") == expected
    assert _subscriptions(capsys) == []


@pytest.mark.usefixtures("cli")
def test_import_reports_an_unknown_country_or_kind_by_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bad rows are named with their line; good rows are imported with normalised countries."""
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "email,watchlists,countries,kinds\n"
        "a@example.org,mmn,Holland;Belgium,new_study\n"
        "b@example.org,mmn,Narnia,\n"
        "c@example.org,mmn,,nonsense_kind\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "subscriber", "import", str(path))
    assert code == 1
    assert "imported 1 subscriber(s), 2 row(s) rejected" in out
    assert f"{path}: line 3: country: 'Narnia' is not a country" in err
    assert f"{path}: line 4: kind: 'nonsense_kind' is not a change kind" in err
    [sub] = _subscriptions(capsys)
    assert sub["countries"] == ["Netherlands", "Belgium"]


@pytest.mark.usefixtures("bare_env")
def test_init_refuses_a_watchlist_with_an_unknown_country(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """init exits 2 naming the file and the field; nothing is synced."""
    folder = tmp_path / "watchlists"
    folder.mkdir()
    bad = folder / "demo.toml"
    bad.write_text(
        'slug = "demo"\nname = "Demo"\n[criteria]\nconditions = ["a"]\ncountries = ["Narnia"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TRIALWATCH_WATCHLISTS_DIR", str(folder))
    line = assert_one_line_error(run_cli(capsys, "init"), 2, str(bad))
    assert line == (
        f"error: {bad}: criteria.countries: 'Narnia' is not a country the registry knows"
        " (closest: Armenia, Argentina, Mauritania)"
    )


def test_the_help_of_add_lists_every_kind_and_the_default_distance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The error points at --help for the kinds; --help says --within defaults to 100 km."""
    code, out, _ = run_cli(capsys, "subscriber", "add", "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    for kind in ("new_study", "overall_status", "results_posted", "site_added", "enrollment"):
        assert kind in text
    assert "bookkeeping" not in text
    assert "(default 100)" in text


@pytest.mark.usefixtures("cli")
def test_add_refuses_a_disabled_watchlist_as_the_web_form_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI and the web check a request alike: a disabled watchlist is one line, exit 2."""
    assert run_cli(capsys, "watchlist", "disable", "mmn")[0] == 0
    result = run_cli(capsys, "subscriber", "add", "a@example.org", "-w", "mmn")
    line = assert_one_line_error(result, 2, "watchlist 'mmn' is disabled")
    assert line == "error: watchlist 'mmn' is disabled: it takes no subscribers"
    assert _subscriptions(capsys) == []


@pytest.mark.usefixtures("cli")
def test_import_refuses_a_disabled_watchlist_by_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An import row naming a disabled watchlist is rejected with its line, as the web does."""
    assert run_cli(capsys, "watchlist", "disable", "mmn")[0] == 0
    path = tmp_path / "people.csv"
    path.write_text("email,watchlists\na@example.org,mmn\n")
    code, out, _ = run_cli(capsys, "subscriber", "import", str(path), "--json")
    assert code == 1
    [error] = json.loads(out)["errors"]
    assert error["line"] == 2
    assert "watchlist 'mmn' is disabled" in error["error"]
    assert _subscriptions(capsys) == []
