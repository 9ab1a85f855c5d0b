"""The :class:`Change` record, how one is said (:func:`said`), and the order of changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trialwatch.vocab import SIGNIFICANCE_RANK, Significance
from trialwatch.words.changes import CATALOGUE, SUMMARY_ONLY, describe

KINDS: tuple[str, ...] = (
    # membership and registry
    "new_study",
    "left_watchlist",
    "removed_from_registry",
    # status
    "withdrawn",
    "stopped",
    "overall_status",
    "country_status",
    "end_of_trial",
    "temporary_halt",
    "why_stopped",
    "results_posted",
    "results_removed",
    "expanded_access",
    "results_publication",
    # countries and sites
    "country_added",
    "country_removed",
    "site_added",
    "sites_added",
    "site_status",
    "sites_status",
    "site_removed",
    "sites_removed",
    "site_updated",
    "sites_updated",
    # dates and size
    "start_date",
    "primary_completion_date",
    "completion_date",
    "trial_event",
    "first_posted",
    "enrollment",
    # what is studied
    "phase",
    "brief_title",
    "official_title",
    "acronym",
    "conditions",
    "arm_added",
    "arm_removed",
    "arm_changed",
    "intervention_added",
    "intervention_removed",
    "intervention_renamed",
    "intervention_changed",
    "outcome_added",
    "outcome_removed",
    "outcome_changed",
    # who can take part
    "eligibility_min_age",
    "eligibility_max_age",
    "eligibility_sex",
    "eligibility_healthy_volunteers",
    "eligibility_age_groups",
    "eligibility_criteria",
    # who runs it
    "lead_sponsor",
    "collaborator_added",
    "collaborator_removed",
    "collaborator_changed",
    "contact_added",
    "contact_removed",
    "contact_changed",
    "official_added",
    "official_removed",
    "official_changed",
    # documents
    "document_added",
    "document_removed",
    "document_changed",
    # never mailed
    "bookkeeping",
    "other",
)
"""Every change kind, in the order a reader meets them (changes are sorted by it)."""

_KIND_ORDER = {kind: index for index, kind in enumerate(KINDS)}
_SITE_KINDS = frozenset(kind for kind in KINDS if kind.startswith("site"))


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions of a study record, in codes and in plain words.

    ``message`` and ``params`` say what changed in codes (a key of
    :data:`trialwatch.words.changes.CATALOGUE` and JSON, locale-neutral
    parameters); ``summary`` is their English words (:func:`said` makes both).
    Two changes are equal when their kind, field, values, summary and significance
    are: the message and params are what the summary was made from.

    ``old`` and ``new`` are the values at ``field`` in the older and newer record
    (``None`` where absent). For a keyed list item (``...locations[label]``) that is
    the item itself; for a grouped change (``sites_added`` etc., ``field`` the list
    path) they are the lists of the items concerned, in the same order. An item
    found again under a new key (a corrected site, a renamed intervention or
    contact) is named by its key in the newer record: ``old`` is the item as it was,
    under its old key.
    """

    kind: str
    field: str
    old: Any
    new: Any
    summary: str
    significance: Significance
    message: str = dataclasses.field(default=SUMMARY_ONLY, compare=False)
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The change as a JSON-able dict with the same keys as the attributes."""
        return {
            "kind": self.kind,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "summary": self.summary,
            "significance": self.significance,
            "message": self.message,
            "params": dict(self.params),
        }

    def __post_init__(self) -> None:
        if self.message == SUMMARY_ONLY and not self.params:  # made from its summary alone
            object.__setattr__(self, "params", {"text": self.summary})

    @property
    def countries(self) -> tuple[str, ...]:
        """For a site change, the sorted countries of the sites concerned; ``()`` otherwise."""
        if self.kind not in _SITE_KINDS:
            return ()
        sites: list[Any] = []
        for value in (self.old, self.new):
            if isinstance(value, list):
                sites.extend(value)
            elif value is not None:
                sites.append(value)
        found = {str(s["country"]) for s in sites if isinstance(s, Mapping) and s.get("country")}
        return tuple(sorted(found))


def said(
    kind: str,
    field: str,
    old: Any,
    new: Any,
    message: str,
    params: Mapping[str, Any],
    significance: Significance,
) -> Change:
    """A change whose summary is the English of ``message`` and ``params``."""
    if message not in CATALOGUE:
        raise ValueError(f"unknown message {message!r}")
    return Change(kind, field, old, new, describe(message, params), significance, message, params)


def sort_key(change: Change) -> tuple[int, int, str]:
    """Major first, then by kind in :data:`KINDS` order, then by field."""
    return (
        -SIGNIFICANCE_RANK[change.significance],
        _KIND_ORDER.get(change.kind, len(KINDS)),
        change.field,
    )


def strongest(significances: list[Significance]) -> Significance:
    """The highest of ``significances`` (``"noise"`` for none)."""
    return max(significances, key=SIGNIFICANCE_RANK.__getitem__, default="noise")
