"""Pure change detection between two versions of an EU CTIS trial (its retrieve dossier).

Each change carries a message key and its parameters (public status codes,
countries as named, ISO dates, registry text); its English summary comes from
:mod:`trialwatch.words.changes` (CTIS's own messages: :mod:`trialwatch.words.ctis_changes`).

>>> from trialwatch.registries.ctis.differ import diff_records
>>> old = {"ctNumber": "2023-505613-24-00", "ctPublicStatusCode": 2}
>>> new = {"ctNumber": "2023-505613-24-00", "ctPublicStatusCode": 4}
>>> [(c.message, c.params) for c in diff_records(old, new)]
[('ctis_status_changed', {'from': 2, 'to': 4})]
>>> diff_records(old, new)[0].summary
'Status: Authorised, recruitment pending → Ongoing, recruiting'
"""

from __future__ import annotations

from trialwatch.registries.ctis.differ.changes import CT_NUMBER_FIELD, diff_records, study_names

__all__ = ["CT_NUMBER_FIELD", "diff_records", "study_names"]
