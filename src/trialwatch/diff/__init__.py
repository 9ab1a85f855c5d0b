"""Registry-neutral change detection: the change record and the machinery of differs.

A registry's differ (``trialwatch.registries.<name>.differ``) compares two
versions of one of its records and returns :class:`Change` records: a kind (one
of :data:`KINDS`), the field, the old and new values, a significance, and what
changed in codes (a message key and its parameters) with its English summary
(:func:`said`, from :mod:`trialwatch.words.changes`). This package holds what
every differ shares: the model, keyed-list matching and pairing, site matching,
partial-date arithmetic and the raw leaf differences ``trialwatch diff`` lists.
"""

from __future__ import annotations

from trialwatch.diff.model import KINDS, Change, said
from trialwatch.vocab import Significance

__all__ = ["KINDS", "Change", "Significance", "said"]
