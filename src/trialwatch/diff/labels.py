"""Kept for callers not yet moved: the words of codes now live in :mod:`trialwatch.words.terms`.

``digest/details.py`` imports these names from here; once it imports them from
``trialwatch.words.terms`` this module goes.
"""

from __future__ import annotations

from trialwatch.words.terms import age_words, date_type_words, phases_words

__all__ = ["age_words", "date_type_words", "phases_words"]
