"""Pure change detection between two versions of a ClinicalTrials.gov study record.

>>> from trialwatch.diff import diff_records
>>> old = {"protocolSection": {"statusModule": {"overallStatus": "RECRUITING"}}}
>>> new = {"protocolSection": {"statusModule": {"overallStatus": "COMPLETED"}}}
>>> [c.summary for c in diff_records(old, new)]
['Status: Recruiting → Completed']
"""

from __future__ import annotations

from trialwatch.diff.changes import (
    NCT_ID_FIELD,
    WATCHLIST_FIELD,
    diff_records,
    left_watchlist,
    removed_from_registry,
    study_label,
)
from trialwatch.diff.keys import value_at
from trialwatch.diff.model import KINDS, Change
from trialwatch.vocab import Significance

__all__ = [
    "KINDS",
    "NCT_ID_FIELD",
    "WATCHLIST_FIELD",
    "Change",
    "Significance",
    "diff_records",
    "left_watchlist",
    "removed_from_registry",
    "study_label",
    "value_at",
]
