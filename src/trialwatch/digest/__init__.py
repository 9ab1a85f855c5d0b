"""Digests: pure assembly of what changed for a subscriber, and rendering to email."""

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
from trialwatch.digest.render import (
    RenderedMessage,
    default_environment,
    default_template_dir,
    make_environment,
    render_confirmation,
    render_digest,
    render_email,
)
from trialwatch.vocab import STATUSES

__all__ = [
    "STATUSES",
    "ChangeItem",
    "ChangeLine",
    "Digest",
    "DigestSection",
    "Recipient",
    "RenderedMessage",
    "Significance",
    "StatusInfo",
    "StudyEntry",
    "StudyInfo",
    "SubscriptionPrefs",
    "WatchlistGroup",
    "build_digest",
    "default_environment",
    "default_template_dir",
    "describe_status",
    "make_environment",
    "next_cursors",
    "render_confirmation",
    "render_digest",
    "render_email",
    "study_url",
]
