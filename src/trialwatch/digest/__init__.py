"""Digests: pure assembly of what changed for a subscriber, and its email's template context."""

from __future__ import annotations

from trialwatch.digest.assemble import build_digest, next_cursors, study_url
from trialwatch.digest.glossary import describe_status
from trialwatch.digest.model import (
    ChangeItem,
    ChangeLine,
    Digest,
    DigestSection,
    Recipient,
    Significance,
    StatusInfo,
    StudyEntry,
    StudyInfo,
    SubscriptionPrefs,
    WatchlistGroup,
)
from trialwatch.digest.render import render_digest
from trialwatch.words.digest import STATUSES

__all__ = [
    "STATUSES",
    "ChangeItem",
    "ChangeLine",
    "Digest",
    "DigestSection",
    "Recipient",
    "Significance",
    "StatusInfo",
    "StudyEntry",
    "StudyInfo",
    "SubscriptionPrefs",
    "WatchlistGroup",
    "build_digest",
    "describe_status",
    "next_cursors",
    "render_digest",
    "study_url",
]
