"""The health check's words: alert subjects and what each condition says, in English.

The health job (:mod:`trialwatch.jobs.health`) decides from codes and counts; these
functions turn its codes, numbers and names (already on one line) into the
subjects and details of the alert mails sent to the admins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_NAMES = 10  # unknown section names (or drifted fields) listed in one alert
REFUSED_KEY = "mail_refused"

# What each kind of alert is about: the subject after "TrialWatch alert:" / "resolved:".
_TITLES = {
    "stale": "no recent sync of watchlist {slug}",
    "matches_dropped": "matches of watchlist {slug} dropped",
    "skipped": "records skipped by syncs of watchlist {slug}",
    "unknown_sections": "unknown record sections in watchlist {slug}",
    "outbox_failed": "outgoing mail failing",
    REFUSED_KEY: "the mail server refuses TrialWatch's mail",
    "clock": "timestamps in the future (a clock was ahead)",
    "drift": "registry fields of another type than the spec",
}


def title(kind: str, slug: str = "") -> str:
    """The subject of an alert of ``kind`` (about watchlist ``slug``)."""
    return _TITLES.get(kind, kind).format(slug=slug)


def watchlist(name: str | None, slug: str) -> str:
    """How an alert names a watchlist: ``"Its name (slug)"``."""
    return f"{name or slug} ({slug})"


@dataclass(frozen=True)
class Listing:
    """A sync run that listed a watchlist's members: which, when, how many it found."""

    run_id: int
    at: datetime
    listed: int


# --- the watchlist conditions ---------------------------------------------------------------


def stale(
    name: str, *, holds: bool, synced: bool, since: datetime, age: timedelta, limit: timedelta
) -> str:
    """No successful sync for ``age`` (over ``limit`` when it ``holds``)."""
    if holds:
        origin = "last success" if synced else "creation, and it has never synced"
        return (
            f"{name} has had no successful sync for {duration(age)}, since "
            f"{when(since)} ({origin}); the limit is {duration(limit)} "
            "(TRIALWATCH_STALE_AFTER). See `trialwatch watchlist show` for its runs."
        )
    if synced:
        return f"{name} synced successfully at {when(since)}."
    return f"{name} was created at {when(since)} and has not synced yet."


def dropped(name: str, *, newest: Listing | None, reference: Listing | None, holds: bool) -> str:
    """The newest listing against the one before it."""
    if newest is None:
        return f"{name} has not listed its studies yet (no full sync)."
    saw = f"The last listing of {name} saw {_studies(newest.listed)} ({_run(newest)})"
    if holds and reference is not None:
        return (
            f"{saw}; {_run(reference)} saw {reference.listed}. The registry may be answering "
            "incompletely, or the criteria no longer match what they did."
        )
    return f"{saw}."


def skipped(name: str, count: int, reason: str | None) -> str:
    """Records the syncs since the last full one could not store (``count`` may be 0)."""
    if not count:
        return f"The syncs of {name} since its last full sync stored every record."
    return (
        f"Syncs of {name} since its last full sync skipped {plural(count, 'record')} they "
        f"could not store; the first: {reason or 'no reason recorded'}. The rest of each "
        "page was stored."
    )


def unknown_sections(name: str, sections: Sequence[str]) -> str:
    """Top-level record sections outside the registry's schema (sorted; may be empty)."""
    if not sections:
        return f"The records fetched for {name} since its last full sync have only known sections."
    listed = ", ".join(sections[:MAX_NAMES])
    if len(sections) > MAX_NAMES:
        listed += f" and {len(sections) - MAX_NAMES} more"
    return (
        f"Records fetched for {name} have top-level sections TrialWatch does not know: "
        f"{listed}. They are stored as received; the registry's format may have changed."
    )


def unchecked(slug: str) -> str:
    """An active alert of a watchlist no longer checked."""
    return f"Watchlist {slug} is no longer checked (it was disabled)."


# --- the installation-wide conditions -------------------------------------------------------


def drift(records: int, found: Mapping[str, set[str]]) -> str:
    """Fields of another type than the spec's: what drifted -> the watchlists that met it."""
    if not found:
        return "The records fetched since the last full syncs have the spec's field types."
    names = sorted(found)
    listed = "; ".join(f"{name} ({', '.join(sorted(found[name]))})" for name in names[:MAX_NAMES])
    if len(names) > MAX_NAMES:
        listed += f"; and {len(names) - MAX_NAMES} more"
    return (
        f"{plural(records, 'record')} fetched since the last full syncs had fields of "
        f"another JSON type than the API's spec gives: {listed}. They are stored as "
        "received and those fields are not compared, so no change is mailed for them; "
        "the registry's format may have changed."
    )


def outbox_failed(failed: int, threshold: int, window: timedelta, bounced: int) -> str:
    """Outgoing messages failed in ``window`` against the alert threshold."""
    counted = f"{plural(failed, 'outgoing message')} failed in the last {duration(window)}"
    if failed < threshold:
        return f"{counted}, under the alert threshold of {threshold}."
    return (
        f"{counted} (the alert threshold is {threshold}). `trialwatch outbox` shows their "
        f"errors; `trialwatch outbox --retry-failed` queues them again.{_bounces(bounced)}"
    )


def _bounces(count: int) -> str:
    """A sentence on the subscribers marked bounced in the window ('' if none)."""
    if not count:
        return ""
    were = "subscriber was" if count == 1 else "subscribers were"
    return (
        f" {count} {were} marked bounced in that time: TrialWatch mails them no more. "
        "`trialwatch outbox --retry-failed` queues their messages again and reactivates them."
    )


def mail_refused(count: int, answer: str | None) -> str:
    """Messages waiting because the mail server refused TrialWatch's sender (0: accepted)."""
    if not count:
        return "The mail server accepts TrialWatch's sender again."
    return (
        f"The mail server refused TrialWatch itself, not the subscribers: "
        f"{answer or '(no answer)'}. {plural(count, 'message')} wait in the outbox; nobody "
        "was marked bounced. Check TRIALWATCH_MAIL_FROM and what the relay accepts from "
        "this sender (TRIALWATCH_SMTP_URL's login, its relay permissions); once it accepts "
        "them, the next delivery sends them (`trialwatch outbox --send`)."
    )


def clock(notes: Sequence[str]) -> str:
    """Timestamps a clock ahead wrote, clamped this cycle (none: the clocks agree again)."""
    if not notes:
        return "No timestamp is in the future any more."
    return (
        "Timestamps in the future were found and set to now, so that no schedule "
        f"waits for them: {'; '.join(notes)}. Check the clocks (NTP) of every host "
        "that runs TrialWatch."
    )


# --- numbers, dates and spans ---------------------------------------------------------------


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """``"1 record"`` or ``"2 records"`` (``plural`` defaults to singular + "s")."""
    word = singular if count == 1 else (plural if plural is not None else singular + "s")
    return f"{count} {word}"


def when(moment: datetime) -> str:
    """``"14 March 2025, 09:30 UTC"``."""
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%B %Y}, {utc:%H:%M} UTC"


def duration(span: timedelta) -> str:
    """Days from 48 hours, else hours from one, else minutes."""
    hours = span.total_seconds() / 3600
    if hours >= 48:
        return plural(int(hours // 24), "day")
    if hours >= 1:
        return plural(int(hours), "hour")
    return plural(max(int(span.total_seconds() // 60), 0), "minute")


def _studies(count: int) -> str:
    return plural(count, "study", "studies")


def _run(listing: Listing) -> str:
    return f"run {listing.run_id}, {when(listing.at)}"
