"""The filters of the pages and the API as people type them, checked like the CLI's.

A status is a code of the registry in any case (``recruiting``), with spaces or dashes
for underscores, or its words (``Not yet recruiting``); a country is a name, code or
alias the CLI knows (``NL``), read as the registry spells it. Anything else is a
422 that names the closest known values, never an empty list.
"""

from __future__ import annotations

import difflib
import re

from starlette.exceptions import HTTPException

from trialwatch import places
from trialwatch.errors import ConfigError
from trialwatch.words.digest import STATUSES

_LABELS = {places.fold(info.label): code for code, info in STATUSES.items()}


def status_code(text: str) -> str:
    """The status code ``text`` names, or ValueError naming the closest."""
    code = re.sub(r"[\s-]+", "_", text.strip()).upper()
    if code in STATUSES:
        return code
    if places.fold(text) in _LABELS:
        return _LABELS[places.fold(text)]
    close = difflib.get_close_matches(code, list(STATUSES), n=3, cutoff=0.6)
    hint = f"closest: {', '.join(close)}" if close else f"one of {', '.join(STATUSES)}"
    raise ValueError(f"'{text.strip()}' is not a study status ({hint})")


def status_filter(text: str | None) -> str | None:
    """A ``status`` parameter as its code (None when blank); HTTP 422 when unknown."""
    if text is None or not text.strip():
        return None
    try:
        return status_code(text)
    except ValueError as exc:
        raise HTTPException(422, f"status: {exc}") from None


def country_filter(text: str | None) -> str | None:
    """A ``country`` parameter in the registry's spelling (None when blank); 422 if unknown."""
    if text is None or not text.strip():
        return None
    try:
        return places.normalise_country(text)
    except ConfigError as exc:
        raise HTTPException(422, f"country: {exc}") from None
