"""Watchlist definitions: what to watch on ClinicalTrials.gov, read from TOML files.

A watchlist file (``config/watchlists/<slug>.toml``) looks like::

    slug = "mmn"
    name = "Multifocal motor neuropathy"
    description = "..."
    schedule = "0 6 * * *"          # cron expression, UTC (checked by APScheduler's parser)
    enabled = true                   # false: kept, not synced unless named

    [criteria]
    conditions = ["multifocal motor neuropathy"]
    interventions = ["ARGX-117", "empasiprubart"]
    terms = []                       # free text, Essie syntax allowed
    nct_ids = []                     # always watched, whatever the filters say
    statuses = []                    # e.g. ["RECRUITING", "NOT_YET_RECRUITING"]
    phases = []                      # e.g. ["PHASE2", "PHASE3"]
    countries = []                   # e.g. ["Netherlands"] (or "Holland", "NL": any is
                                     # stored in the registry's spelling; unknown ones refused)

A study belongs to the watchlist when it matches *any* of conditions,
interventions or terms, and *all* of the filters (statuses, phases, countries)
that are set; a study listed in nct_ids always belongs to it (the sync asks for
the listed studies the filters hid by ID).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from trialwatch import places
from trialwatch.config import not_utf8
from trialwatch.errors import ConfigError
from trialwatch.vocab import OVERALL_STATUSES

# The API's enum values (see the OpenAPI spec, Phase; statuses are in trialwatch.vocab).
PHASES = frozenset({"NA", "EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4"})

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_NCT_RE = re.compile(r"^NCT\d{8}$")
_LOOSE_NCT_RE = re.compile(r"NCT[\s_-]*(\d{1,12})")


def normalise_nct_id(text: str) -> str:
    """An NCT ID as the registry writes it: ``nct 6742190`` → ``NCT06742190``.

    Case, spaces, a dash and missing leading zeros are forgiven; text that is no NCT
    ID is returned stripped and upper-cased (a lookup then finds nothing).
    """
    key = "".join(text.split()).upper()
    match = _LOOSE_NCT_RE.fullmatch(key)
    if match is None or int(match.group(1)) >= 10**8:
        return key
    return f"NCT{int(match.group(1)):08d}"


_CRON_FIELDS = 5

_CRITERIA_KEYS = (
    "conditions",
    "interventions",
    "terms",
    "nct_ids",
    "statuses",
    "phases",
    "countries",
)
_TOP_KEYS = {"slug", "name", "description", "schedule", "enabled", "criteria"}


@dataclass(frozen=True)
class Criteria:
    """What a watchlist matches. Empty tuples mean "not used"."""

    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    nct_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {key: list(getattr(self, key)) for key in _CRITERIA_KEYS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Criteria:
        return cls(**{key: tuple(data.get(key, ())) for key in _CRITERIA_KEYS})

    def criteria_hash(self) -> str:
        """SHA-256 (hex) of the criteria as canonical JSON, each list sorted.

        Two criteria that match the same studies in a different order of values hash
        alike; any added, removed or edited value changes the hash. The sync job keeps
        it on the watchlist (``watchlist.criteria_hash``): a different hash makes the
        next sync full.
        """
        canonical = {key: sorted(values) for key, values in self.to_dict().items()}
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class WatchlistSpec:
    """A watchlist as an admin wrote it."""

    slug: str
    name: str
    criteria: Criteria
    description: str = ""
    schedule: str = "0 6 * * *"
    enabled: bool = True
    source: str = field(default="", compare=False)
    # When the file was last modified (UTC); None for a spec not read from a file.
    modified_at: datetime | None = field(default=None, compare=False)


def load_watchlist_file(path: Path) -> WatchlistSpec:
    """Read and validate one watchlist file; errors name the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read watchlist file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    spec = parse_watchlist(data, source=str(path))
    try:
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:  # removed since it was read: no time to go by
        return spec
    return replace(spec, modified_at=modified)


def load_watchlists(directory: Path) -> list[WatchlistSpec]:
    """Read every ``*.toml`` file of a folder, sorted by name; slugs must be unique."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: watchlist folder does not exist")
    specs: list[WatchlistSpec] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        spec = load_watchlist_file(path)
        if spec.slug in seen:
            raise ConfigError(f"{path}: slug: '{spec.slug}' is already used by {seen[spec.slug]}")
        seen[spec.slug] = str(path)
        specs.append(spec)
    return specs


def parse_watchlist(data: dict[str, Any], *, source: str = "<watchlist>") -> WatchlistSpec:
    """Validate a parsed TOML document into a :class:`WatchlistSpec`."""

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})")
    slug = _required_str(data, "slug", fail)
    if not _SLUG_RE.match(slug):
        raise fail("slug", f"'{slug}' must be lower-case letters, digits and dashes")
    name = _required_str(data, "name", fail)
    description = _optional_str(data, "description", fail, "")
    schedule = _optional_str(data, "schedule", fail, "0 6 * * *")
    if len(schedule.split()) != _CRON_FIELDS:
        raise fail("schedule", f"'{schedule}' is not a 5-field cron expression")
    problem = schedule_problem(schedule)
    if problem is not None:
        raise fail("schedule", f"'{schedule}' is not a valid cron expression: {problem}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    raw = data.get("criteria")
    if not isinstance(raw, dict):
        raise fail("criteria", "missing table [criteria]")
    criteria = _parse_criteria(raw, lambda key, problem: fail(f"criteria.{key}", problem))
    if not (criteria.conditions or criteria.interventions or criteria.terms or criteria.nct_ids):
        raise fail("criteria", "set at least one of conditions, interventions, terms or nct_ids")
    return WatchlistSpec(
        slug=slug,
        name=name,
        description=description,
        schedule=schedule,
        enabled=enabled,
        criteria=criteria,
        source=source,
    )


def schedule_problem(expression: str) -> str | None:
    """Why APScheduler (which runs the schedules) rejects a cron expression, or None."""
    try:
        CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        return " ".join(str(exc).split()) or "rejected by the cron parser"
    return None


def _parse_criteria(raw: dict[str, Any], fail: Any) -> Criteria:
    unknown = sorted(set(raw) - set(_CRITERIA_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key (expected one of {', '.join(_CRITERIA_KEYS)})")
    values: dict[str, tuple[str, ...]] = {}
    for key in _CRITERIA_KEYS:
        items = raw.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise fail(key, "must be a list of non-empty strings")
        values[key] = tuple(dict.fromkeys(i.strip() for i in items))
    for key in ("nct_ids", "statuses", "phases"):
        values[key] = tuple(dict.fromkeys(v.upper() for v in values[key]))
    for nct in values["nct_ids"]:
        if not _NCT_RE.match(nct):
            raise fail("nct_ids", f"'{nct}' is not an NCT ID (NCT followed by 8 digits)")
    for status in values["statuses"]:
        if status not in OVERALL_STATUSES:
            raise fail("statuses", f"'{status}' is not an overall status of the API")
    for phase in values["phases"]:
        if phase not in PHASES:
            raise fail("phases", f"'{phase}' is not a phase (one of {', '.join(sorted(PHASES))})")
    try:  # in the registry's spelling: the query names them literally
        values["countries"] = places.normalise_countries(values["countries"])
    except ConfigError as exc:
        raise fail("countries", str(exc)) from exc
    return Criteria(**values)


def _required_str(data: dict[str, Any], key: str, fail: Any) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fail(key, "required, must be a non-empty string")
    return value.strip()


def _optional_str(data: dict[str, Any], key: str, fail: Any, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise fail(key, "must be a string")
    return value.strip()
