"""A registry's functions by its name, for the readers above the registries.

The web pages, the JSON API, the exports and the digest job hold a registry's name
and an ID (a :class:`~trialwatch.trial.TrialRef`) or a stored record of it; this
module gives them the trial's page and its :class:`~trialwatch.trial.TrialSummary`
without naming an adapter. The store never imports it: it hands out names, IDs and
record texts, and its callers look them up here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.registries.ctis import summary as ctis
from trialwatch.trial import TrialSummary

DEFAULT_REGISTRY = CtgovRegistry.name
"""The registry of stored rows that do not name theirs (every row of today's store)."""

_STUDY_URLS: Mapping[str, Callable[[str], str]] = {
    CtgovRegistry.name: CtgovRegistry.study_url,
    ctis.REGISTRY: ctis.study_url,
}
_SUMMARISERS: Mapping[str, Callable[[Mapping[str, Any]], TrialSummary]] = {
    CtgovRegistry.name: CtgovRegistry.summarise,
    ctis.REGISTRY: ctis.summarise,
}


def study_url(registry: str, registry_id: str) -> str:
    """The trial's page on its registry; a KeyError for a registry TrialWatch does not read."""
    return _STUDY_URLS[registry](registry_id)


def summarise(registry: str, record: Mapping[str, Any]) -> TrialSummary:
    """The neutral summary of one of the registry's records (never fails on its content)."""
    return _SUMMARISERS[registry](record)
