"""Words: everything TrialWatch says to a person, per locale.

Everything else speaks in codes: a change is a message key and its parameters
(``("status_changed", {"from": "RECRUITING", "to": "COMPLETED"})``), a status a
neutral code, a date ISO text. This package turns them into sentences for one
locale. Only ``en`` ships today; the locale is an argument everywhere so another
language is a catalogue, not a change of code.
"""

from __future__ import annotations

DEFAULT_LOCALE = "en"
LOCALES: tuple[str, ...] = ("en",)
"""The locales TrialWatch can speak, the default first."""


def supported(locale: str | None) -> str:
    """``locale`` if TrialWatch speaks it, else the default (``"en-GB"`` -> ``"en"``)."""
    if not locale:
        return DEFAULT_LOCALE
    if locale in LOCALES:
        return locale
    language = locale.replace("-", "_").split("_", 1)[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE
