"""Subscriptions as people manage them: what the command line and the web both call.

A link in an email carries a signed token (:mod:`trialwatch.mail.signing`); this
module turns one back into the subscriber it names, through the store.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from trialwatch.mail.signing import OpaqueRef, read_unsubscribe_token
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.models import Subscriber


def find_by_token(session: Session, secret: str, token: str) -> Subscriber | None:
    """The subscriber a signed link token names, or None if there is none (any more).

    New tokens sign the subscriber's opaque ``token``; old ones (``[id, email]``)
    resolve to that id only while its address is still the one in the token.
    Raises :class:`~trialwatch.errors.InvalidToken` for a forged, tampered or
    malformed token.
    """
    ref = read_unsubscribe_token(secret, token)
    if isinstance(ref, OpaqueRef):
        return subscriber_store.subscriber_by_token(session, ref.token)
    return subscriber_store.subscriber_by_id_and_email(session, ref.subscriber_id, ref.email)
