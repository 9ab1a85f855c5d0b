"""Watchlist files: the shipped MMN watchlist and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialwatch.errors import ConfigError
from trialwatch.watchlists import Criteria, load_watchlist_file, load_watchlists

CONFIG = Path(__file__).parents[1] / "config"

VALID = """
slug = "demo"
name = "Demo"
[criteria]
conditions = ["multifocal motor neuropathy"]
"""


def _write(tmp_path: Path, text: str, name: str = "demo.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_it_ships_the_mmn_watchlist() -> None:
    """The default MMN watchlist watches the condition and ARGX-117 / empasiprubart."""
    specs = {s.slug: s for s in load_watchlists(CONFIG / "watchlists")}
    mmn = specs["mmn"]
    assert mmn.criteria.conditions == ("multifocal motor neuropathy",)
    assert set(mmn.criteria.interventions) == {"ARGX-117", "empasiprubart"}
    assert mmn.enabled


def test_it_reads_a_valid_file(tmp_path: Path) -> None:
    """A minimal file gets defaults for schedule, description and filters."""
    spec = load_watchlist_file(_write(tmp_path, VALID))
    assert spec.slug == "demo"
    assert spec.schedule == "0 6 * * *"
    assert spec.criteria == Criteria(conditions=("multifocal motor neuropathy",))


def test_it_normalises_ids_statuses_and_phases(tmp_path: Path) -> None:
    """NCT IDs, statuses and phases are upper-cased; duplicates dropped."""
    spec = load_watchlist_file(
        _write(
            tmp_path,
            VALID.replace(
                "[criteria]",
                '[criteria]\nnct_ids = ["nct05225675", "NCT05225675"]\n'
                'statuses = ["recruiting"]\nphases = ["phase2"]',
            ),
        )
    )
    assert spec.criteria.nct_ids == ("NCT05225675",)
    assert spec.criteria.statuses == ("RECRUITING",)
    assert spec.criteria.phases == ("PHASE2",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("slug = 'x'\nname = [", "invalid TOML"),
        ('name = "No slug"\n[criteria]\nconditions=["a"]', "slug: required"),
        ('slug = "Bad Slug"\nname = "x"\n[criteria]\nconditions=["a"]', "slug: 'Bad Slug'"),
        ('slug = "x"\nname = "x"\ncolour = "red"\n[criteria]\nconditions=["a"]', "colour: unknown"),
        ('slug = "x"\nname = "x"', "criteria: missing table"),
        ('slug = "x"\nname = "x"\n[criteria]\nconditions = "a"', "criteria.conditions: must be"),
        ('slug = "x"\nname = "x"\n[criteria]\nnct_ids = ["NCT1"]', "criteria.nct_ids: 'NCT1'"),
        ('slug = "x"\nname = "x"\n[criteria]\nconditions=["a"]\nstatuses=["OPEN"]', "'OPEN'"),
        ('slug = "x"\nname = "x"\n[criteria]\nconditions=["a"]\nphases=["PHASE9"]', "'PHASE9'"),
        ('slug = "x"\nname = "x"\n[criteria]\nstatuses=["RECRUITING"]', "set at least one"),
        ('slug = "x"\nname = "x"\nschedule = "daily"\n[criteria]\nconditions=["a"]', "schedule"),
        (
            'slug = "x"\nname = "x"\nschedule = "99 99 * * *"\n[criteria]\nconditions=["a"]',
            "schedule: '99 99 * * *' is not a valid cron expression",
        ),
        (
            'slug = "x"\nname = "x"\nschedule = "0 6 * * mon-xyz"\n[criteria]\nconditions=["a"]',
            "schedule: '0 6 * * mon-xyz'",
        ),
        ('slug = "x"\nname = "x"\nenabled = "yes"\n[criteria]\nconditions=["a"]', "enabled"),
        ('slug = "x"\nname = "x"\n[criteria]\nconditions=["a"]\nspecies=["b"]', "species"),
    ],
)
def test_it_rejects_a_bad_file_in_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    """Each mistake is one line naming the file, the key and the problem."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_watchlist_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message


def test_it_rejects_duplicate_slugs(tmp_path: Path) -> None:
    """Two files with one slug are an error naming the second file."""
    _write(tmp_path, VALID, "a.toml")
    second = _write(tmp_path, VALID, "b.toml")
    with pytest.raises(ConfigError, match=f"{second}: slug: 'demo' is already used"):
        load_watchlists(tmp_path)


def test_it_rejects_a_missing_folder(tmp_path: Path) -> None:
    """A missing watchlist folder is named."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_watchlists(tmp_path / "nope")


def test_it_names_the_file_and_line_of_a_watchlist_that_is_not_utf8(tmp_path: Path) -> None:
    """A Latin-1 watchlist file is one ConfigError naming the file, the line and UTF-8."""
    path = tmp_path / "demo.toml"
    path.write_bytes(VALID.replace('"Demo"', '"Démo"').encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_watchlist_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: line 3: not UTF-8 text")


def test_it_accepts_the_cron_forms_the_scheduler_accepts(tmp_path: Path) -> None:
    """Ranges, steps, lists and day names pass: APScheduler's own parser decides."""
    text = VALID.replace('name = "Demo"', 'name = "Demo"\nschedule = "*/15 6-18 * * mon-fri"')
    assert load_watchlist_file(_write(tmp_path, text)).schedule == "*/15 6-18 * * mon-fri"


def test_it_hashes_criteria_stably_whatever_the_order_of_values() -> None:
    """The criteria hash is 64 hex digits, ignores value order and changes with any value."""
    one = Criteria(conditions=("a", "b"), statuses=("RECRUITING",))
    same = Criteria(conditions=("b", "a"), statuses=("RECRUITING",))
    other = Criteria(conditions=("a", "b"), statuses=("COMPLETED",))
    assert len(one.criteria_hash()) == 64
    assert int(one.criteria_hash(), 16) >= 0
    assert one.criteria_hash() == same.criteria_hash()
    assert one.criteria_hash() != other.criteria_hash()
    assert Criteria.from_dict(one.to_dict()).criteria_hash() == one.criteria_hash()
    assert Criteria(conditions=("a",)).criteria_hash() != Criteria(terms=("a",)).criteria_hash()


def test_it_remembers_when_the_file_was_last_modified(tmp_path: Path) -> None:
    """A spec read from a file carries the file's modification time (UTC)."""
    path = _write(tmp_path, VALID)
    spec = load_watchlist_file(path)
    assert spec.modified_at is not None
    assert spec.modified_at.tzinfo is not None
    assert abs(spec.modified_at.timestamp() - path.stat().st_mtime) < 1e-3


def test_it_spells_countries_as_the_registry_does(tmp_path: Path) -> None:
    """Holland, NL and "the netherlands" are one country, written "Netherlands"."""
    text = VALID.replace(
        "[criteria]", '[criteria]\ncountries = ["Holland", "NL", "the netherlands", "Belgium"]'
    )
    spec = load_watchlist_file(_write(tmp_path, text))
    assert spec.criteria.countries == ("Netherlands", "Belgium")


def test_it_rejects_an_unknown_country_naming_file_field_and_closest(tmp_path: Path) -> None:
    """A country no site is ever in would hide every study: one line with close names."""
    path = _write(tmp_path, VALID.replace("[criteria]", '[criteria]\ncountries = ["Narnia"]'))
    with pytest.raises(ConfigError) as info:
        load_watchlist_file(path)
    assert str(info.value) == (
        f"{path}: criteria.countries: 'Narnia' is not a country the registry knows"
        " (closest: Armenia, Argentina, Mauritania)"
    )
