"""Outbox rows: a rendered email built into its message and the row that queues it.

One builder per kind of mail: :func:`digest_row`, :func:`confirmation_row` (after
:func:`render_confirmation`) and :func:`alert_rows`. Each gives the message its
``Message-ID`` once, here, so a message sent again keeps it. An address no
message can be built for raises :class:`~trialwatch.errors.DeliveryError` from
:func:`digest_row` and :func:`confirmation_row`; :func:`alert_rows` skips it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Protocol

import jinja2

from trialwatch.errors import DeliveryError
from trialwatch.mail.message import build_message
from trialwatch.mail.templates import RenderedMessage, one_line, render_email
from trialwatch.words import DEFAULT_LOCALE

log = logging.getLogger("trialwatch.mail")

OutboxRow = dict[str, Any]
"""The values of one outbox row (:func:`trialwatch.store.outbox.queue`)."""


@dataclass(frozen=True)
class MailSettings:
    """What building a message needs besides the data."""

    sender: str
    public_url: str
    secret: str
    max_studies: int = 25

    @property
    def domain(self) -> str:
        return domain_of(self.sender)


def domain_of(sender: str) -> str:
    """The domain of a From line, for Message-IDs (``localhost`` if it has none)."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def _row(
    rendered: RenderedMessage,
    *,
    kind: str,
    sender: str,
    to: tuple[str, str | None],
    subscriber_id: int | None,
    unsubscribe_url: str | None,
    now: datetime,
) -> OutboxRow:
    """The row of one message of ``kind`` to ``to`` (address, name), queued ``now``."""
    email, name = to
    message_id = f"<{kind}.{uuid.uuid4().hex}@{domain_of(sender)}>"
    message = build_message(
        rendered,
        sender=sender,
        recipient_email=email,
        recipient_name=name,
        message_id=message_id,
        unsubscribe_url=unsubscribe_url,
        date=now,
    )
    return {
        "subscriber_id": subscriber_id,
        "kind": kind,
        "message_id": message_id,
        "recipient": email,
        "subject": rendered.subject,
        "message": message.decode("utf-8", errors="surrogateescape"),
        "covered": {},
        "next_attempt_at": now,
        "created_at": now,
    }


def digest_row(
    rendered: RenderedMessage,
    *,
    mail: MailSettings,
    subscriber: tuple[int, str, str | None],
    unsubscribe_url: str,
    covered: Mapping[str, Sequence[int]],
    counts: tuple[int, int],
    now: datetime,
) -> OutboxRow:
    """The row of one digest to ``subscriber`` (id, address, name).

    ``covered`` is the span of change ids per watchlist slug; ``counts`` is
    (studies, changes).
    """
    subscriber_id, email, name = subscriber
    row = _row(
        rendered,
        kind="digest",
        sender=mail.sender,
        to=(email, name),
        subscriber_id=subscriber_id,
        unsubscribe_url=unsubscribe_url,
        now=now,
    )
    row["covered"] = {slug: list(span) for slug, span in covered.items()}
    row["study_count"], row["change_count"] = counts
    return row


class Addressee(Protocol):
    """Whom a confirmation greets: an address and maybe a name."""

    @property
    def email(self) -> str: ...

    @property
    def name(self) -> str | None: ...


def render_confirmation(
    env: jinja2.Environment,
    recipient: Addressee,
    confirm_url: str,
    *,
    watchlist_names: Sequence[str] = (),
    choices: Sequence[str] | None = None,
    expires_days: int | None = None,
    locale: str | None = DEFAULT_LOCALE,
) -> RenderedMessage:
    """Render the double opt-in email asking ``recipient`` to open ``confirm_url``.

    ``choices`` are the lines describing what the link confirms; ``expires_days``
    how long it works (both shown only when given).
    """
    context: dict[str, Any] = {
        "recipient": recipient,
        "greeting_name": one_line(recipient.name),
        "confirm_url": confirm_url,
        "watchlist_names": tuple(watchlist_names),
    }
    if choices is not None:
        context["choices"] = tuple(choices)
    if expires_days is not None:
        context["expires_days"] = expires_days
    return render_email(env, "confirm", context, locale)


def confirmation_row(
    rendered: RenderedMessage,
    *,
    mail: MailSettings,
    subscriber: tuple[int, str, str | None],
    now: datetime,
) -> OutboxRow:
    """The row of a confirmation email to ``subscriber`` (id, address, name)."""
    subscriber_id, email, name = subscriber
    return _row(
        rendered,
        kind="confirm",
        sender=mail.sender,
        to=(email, name),
        subscriber_id=subscriber_id,
        unsubscribe_url=None,
        now=now,
    )


def alert_rows(
    rendered: RenderedMessage, *, admins: Sequence[str], sender: str, now: datetime
) -> tuple[list[OutboxRow], int]:
    """One row of the alert per admin address, and how many addresses were skipped.

    An address no message can be built for is logged and skipped: the others
    still hear.
    """
    rows: list[OutboxRow] = []
    skipped = 0
    for address in admins:
        try:
            rows.append(
                _row(
                    rendered,
                    kind="alert",
                    sender=sender,
                    to=(address, None),
                    subscriber_id=None,
                    unsubscribe_url=None,
                    now=now,
                )
            )
        except DeliveryError as exc:
            log.warning("health alert not queued for an admin address: %s", exc)
            skipped += 1
    return rows, skipped
