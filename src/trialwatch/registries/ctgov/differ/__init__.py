"""Pure change detection between two versions of a ClinicalTrials.gov API v2 study record.

Each change carries a message key and its parameters (codes, dates, registry
text); its English summary comes from :mod:`trialwatch.words.changes`.

>>> from trialwatch.registries.ctgov.differ import diff_records
>>> old = {"protocolSection": {"statusModule": {"overallStatus": "RECRUITING"}}}
>>> new = {"protocolSection": {"statusModule": {"overallStatus": "COMPLETED"}}}
>>> [(c.message, c.params, c.summary) for c in diff_records(old, new)]
[('status_changed', {'from': 'RECRUITING', 'to': 'COMPLETED'}, 'Status: Recruiting → Completed')]
"""

from __future__ import annotations

from trialwatch.registries.ctgov.differ.changes import (
    NCT_ID_FIELD,
    WATCHLIST_FIELD,
    diff_records,
    left_watchlist,
    removed_from_registry,
    study_label,
)
from trialwatch.registries.ctgov.differ.keys import value_at

__all__ = [
    "NCT_ID_FIELD",
    "WATCHLIST_FIELD",
    "diff_records",
    "left_watchlist",
    "removed_from_registry",
    "study_label",
    "value_at",
]
