"""The catalogue's messages about EU CTIS trials (see :mod:`.changes`, which registers them).

CTIS speaks of a trial's *public status* as a number, trial-wide and per member
state: the parameters carry that number and :func:`ctis_status_words` says it
("Ongoing, recruiting"). Countries are named as the registry names them; dates
are ISO text; a trial's notices (``events.trialEvents[].events[]``) are named by
their ``notificationType`` code, which :func:`event_words` says.

>>> ctis_status_words(4)
'Ongoing, recruiting'
>>> CTIS_SAYINGS["ctis_country_status_changed"].render(
...     {"country": "Spain", "from": 2, "to": 4})
'Spain: Authorised, recruitment pending → Ongoing, recruiting'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.words.ctis import STATUS_LABELS
from trialwatch.words.items import place_words
from trialwatch.words.saying import MAX_SUMMARY, Params, from_to, sayings
from trialwatch.words.terms import NOT_GIVEN, clip, code_words, date_words

CTIS_SAYINGS, _says = sayings()

CTIS_STATUS_WORDS: Mapping[int, str] = STATUS_LABELS
"""The twelve CTIS public status codes and their labels (:mod:`trialwatch.words.ctis`)."""


def ctis_status_words(code: Any) -> str:
    """A public status code (``4`` or ``"4"``) in words; ``None`` is "not given"."""
    if code is None:
        return NOT_GIVEN
    try:
        number = int(code)
    except (TypeError, ValueError):
        return code_words(code)
    return CTIS_STATUS_WORDS.get(number, f"status {number}")


_EVENTS: Mapping[str, str] = {
    "START_OF_TRIAL": "trial started",
    "START_OF_RECRUITMENT": "recruitment started",
    "END_OF_RECRUITMENT": "recruitment ended",
    "END_OF_TRIAL": "trial ended",
    "EARLY_TERMINATION": "trial ended early",
    "TEMPORARY_HALT": "trial temporarily halted",
}
"""Notice codes in words; a code not listed is made readable from itself."""


def event_words(code: Any) -> str:
    """A notice code in words: ``"START_OF_RECRUITMENT"`` -> ``"recruitment started"``."""
    if isinstance(code, str) and code in _EVENTS:
        return _EVENTS[code]
    return code_words(code).lower()


def _in(country: Any, text: str) -> str:
    """``"Poland: text"``, or ``text`` capitalised when no country is given."""
    return f"{country}: {text}" if country else text[:1].upper() + text[1:]


def _day(date: Any) -> str:
    return date_words(date, with_day=True)


# --- the trial as a whole and its status -------------------------------------------------------


@_says(
    "ctis_new_study",
    {
        "id": "2023-505613-24-00",
        "title": "Posaconazole in children",
        "code": "MK-5592-127",
        "status": 4,
    },
    clipped=False,
)
def _new_study(p: Params) -> str:
    tail = f" ({p['code']})" if p.get("code") else ""
    if p.get("status") is not None:
        tail += f" — {ctis_status_words(p['status'])}"
    if p.get("title"):
        return f'New trial: "{clip(str(p["title"]), MAX_SUMMARY - len(tail) - 13)}"' + tail
    return f"New trial: {p.get('id') or 'untitled'}" + tail


@_says("ctis_status_changed", {"from": 2, "to": 4})
def _status(p: Params) -> str:
    old, new = ctis_status_words(p["from"]), ctis_status_words(p["to"])
    return from_to("Status", old, new, p["from"] is None)


@_says("ctis_country_status_changed", {"country": "Spain", "from": 2, "to": 4})
def _country_status(p: Params) -> str:
    return f"{p['country']}: {ctis_status_words(p['from'])} → {ctis_status_words(p['to'])}"


@_says("ctis_country_added", {"country": "Italy", "status": 2})
def _country_added(p: Params) -> str:
    status = p.get("status")
    return f"Now also in {p['country']}" + (
        f" ({ctis_status_words(status)})" if status is not None else ""
    )


_says("ctis_country_removed", {"country": "Italy"})(lambda p: f"No longer in {p['country']}")


# --- notices, halts, results ---------------------------------------------------------------------

_EVENT = {"country": "Poland", "event": "START_OF_RECRUITMENT", "date": "2025-05-22"}


@_says("ctis_event_added", _EVENT)
def _event_added(p: Params) -> str:
    return _in(p.get("country"), f"{event_words(p['event'])} ({_day(p.get('date'))})")


@_says("ctis_event_removed", _EVENT)
def _event_removed(p: Params) -> str:
    what = f"{event_words(p['event'])}, {_day(p.get('date'))}"
    return _in(p.get("country"), f"notice withdrawn ({what})")


@_says("ctis_event_date_changed", {**_EVENT, "from": "2023-03-24", "to": "2025-05-22"})
def _event_date(p: Params) -> str:
    text = f"{event_words(p['event'])} {_day(p['from'])} → {_day(p['to'])}"
    return _in(p.get("country"), text)


_HALT = {"country": "Spain", "date": "2026-03-02", "restart": "2026-06-01"}


def _restart(p: Params) -> str:
    return f" (restart planned {_day(p['restart'])})" if p.get("restart") else ""


@_says("ctis_halt_added", _HALT)
def _halt_added(p: Params) -> str:
    return _in(p.get("country"), f"temporarily halted from {_day(p.get('date'))}{_restart(p)}")


@_says("ctis_halt_removed", _HALT)
def _halt_removed(p: Params) -> str:
    return _in(p.get("country"), f"temporary halt of {_day(p.get('date'))} no longer listed")


@_says("ctis_halt_updated", _HALT)
def _halt_updated(p: Params) -> str:
    return _in(p.get("country"), f"temporary halt of {_day(p.get('date'))} updated{_restart(p)}")


_RESULTS: Mapping[str, str] = {
    "summary": "summary results",
    "layperson": "lay summary",
    "reports": "clinical study reports",
}


def _results(which: Any) -> str:
    names = [_RESULTS.get(str(item), code_words(item).lower()) for item in which or ()]
    return " and ".join(names) or "results"


_says("ctis_results_posted", {"which": ["summary", "layperson"]})(
    lambda p: f"Results posted: {_results(p['which'])}"
)
_says("ctis_results_removed", {"which": ["layperson"]})(
    lambda p: f"Results no longer posted: {_results(p['which'])}"
)


# --- dates, size, sites ------------------------------------------------------------------------

_DATES: Mapping[str, str] = {
    "start_eu": "Start in the EU",
    "recruitment_start": "Expected start of recruitment",
    "end": "Expected end in the EU",
    "global_end": "Expected end worldwide",
}


@_says("ctis_date_changed", {"which": "end", "from": "2025-09-22", "to": "2026-03-31"})
def _date(p: Params) -> str:
    old, new = p["from"], p["to"]
    # Within one month the day is what moved, so show it.
    with_day = isinstance(old, str) and isinstance(new, str) and old[:7] == new[:7]
    before, after = date_words(old, with_day=with_day), date_words(new, with_day=with_day)
    return from_to(_DATES[p["which"]], before, after, old is None)


@_says("ctis_enrollment_changed", {"country": "Spain", "from": 6, "to": 8})
def _enrollment(p: Params) -> str:
    where = f"in {p['country']}" if p.get("country") else "outside the EEA"
    old = NOT_GIVEN if p["from"] is None else str(p["from"])
    new = NOT_GIVEN if p["to"] is None else str(p["to"])
    return f"Participants planned {where}: {old} → {new}"


@_says(
    "ctis_site_investigator_changed",
    {"place": {"city": "Thessaloniki", "country": "Greece"}, "from": "A B", "to": "C D"},
)
def _investigator(p: Params) -> str:
    old, new = (clip(str(name or NOT_GIVEN), 40) for name in (p["from"], p["to"]))
    return f"Site in {place_words(p['place'])}: investigator {old} → {new}"


# --- everything else -----------------------------------------------------------------------------

_PARTS: Mapping[str, str] = {
    "listing": "Registry listing details updated",
    "part_i": "Trial details updated",
    "part_ii": "Country details updated",
    "applications": "Applications and decisions updated",
    "events": "Trial notices updated",
    "results": "Posted results updated",
    "documents": "Trial documents updated",
    "corrective_measures": "Corrective measures updated",
}
CTIS_PARTS = frozenset(_PARTS)
"""The parts of a CTIS record a ``ctis_details_updated`` change may name (else ``"other"``)."""


@_says("ctis_details_updated", {"part": "part_i"})
def _details(p: Params) -> str:
    return _PARTS.get(str(p.get("part")), "Other registry details updated")
