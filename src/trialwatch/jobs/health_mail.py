"""The health check's words about mail refused as the sender's fault, and about bounces.

``mail_refused`` holds while messages wait (or failed) because the mail server
refused TrialWatch itself (at MAIL FROM, or every recipient of a pass alike): see
:mod:`trialwatch.jobs.delivery`. Nobody is bounced for it, so an admin must hear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from trialwatch.mail.templates import one_line, plural
from trialwatch.store import outbox

REFUSED_KEY = "mail_refused"
REFUSED_TITLE = "the mail server refuses TrialWatch's mail"


def refused(session: Session) -> tuple[bool, str]:
    """Whether ``mail_refused`` holds, and what to say about it."""
    count, error = outbox.sender_refusals(session)
    if not count:
        return False, "The mail server accepts TrialWatch's sender again."
    answer = one_line((error or "").removeprefix(outbox.SENDER_REFUSED)) or "(no answer)"
    return True, (
        f"The mail server refused TrialWatch itself, not the subscribers: {answer}. "
        f"{plural(count, 'message')} wait in the outbox; nobody was marked bounced. "
        "Check TRIALWATCH_MAIL_FROM and what the relay accepts from this sender "
        "(TRIALWATCH_SMTP_URL's login, its relay permissions); once it accepts them, "
        "the next delivery sends them (`trialwatch outbox --send`)."
    )


def bounces(session: Session, since: datetime) -> str:
    """A sentence on the subscribers marked bounced since ``since`` ('' if none)."""
    count = outbox.bounced_since(session, since)
    if not count:
        return ""
    were = "subscriber was" if count == 1 else "subscribers were"
    return (
        f" {count} {were} marked bounced in that time: TrialWatch mails them no more. "
        "`trialwatch outbox --retry-failed` queues their messages again and reactivates them."
    )
