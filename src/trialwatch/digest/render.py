"""A digest as an email: its template context, and one rendering shared by many recipients.

What is generic (the Jinja environment, filters, locales, the three parts of an
email) is :mod:`trialwatch.mail.templates`; this module gives a digest's
templates what only they use:

* ``digest`` (:class:`~trialwatch.digest.model.Digest`), ``recipient``
  (:class:`~trialwatch.digest.model.Recipient`) and ``greeting_name`` (the
  recipient's name on one line, or ``None``);
* ``contact_text(contact)`` (a contact on one line) and ``describe_status(code)``
  (a status's label and explanation).
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

import jinja2
import markupsafe

from trialwatch.digest.glossary import describe_status
from trialwatch.digest.model import Contact, Digest, Recipient
from trialwatch.mail.templates import RenderedMessage, one_line, render_email
from trialwatch.words import DEFAULT_LOCALE


def contact_text(contact: Contact) -> str:
    """A contact on one line for the plain-text part: ``"Name, phone, email"``."""
    return ", ".join(part for part in (contact.name, contact.phone, contact.email) if part)


def digest_context(digest: Digest) -> dict[str, Any]:
    """What the digest templates read."""
    return {
        "digest": digest,
        "recipient": digest.recipient,
        "greeting_name": one_line(digest.recipient.name),
        "contact_text": contact_text,
        "describe_status": describe_status,
    }


def render_digest(
    env: jinja2.Environment, digest: Digest, locale: str | None = DEFAULT_LOCALE
) -> RenderedMessage:
    """Render a digest email in ``locale``."""
    return render_email(env, "digest", digest_context(digest), locale)


# Placeholders for the recipient's own values in a digest rendered once for many
# recipients: random per process, so no registry text can contain them.
_MARK = secrets.token_hex(12)
_NAME_MARK = f"tw-name-{_MARK}"
_UNSUBSCRIBE_MARK = f"https://tw-unsubscribe-{_MARK}.invalid/"
_MANAGE_MARK = f"https://tw-manage-{_MARK}.invalid/"


@dataclass(frozen=True)
class DigestMould:
    """A digest rendered once with placeholders where each recipient's values go.

    Subscribers with the same preferences get the same digest content; rendering it
    once and filling in each one's name and links (:meth:`fill`) gives the same text
    as :func:`render_digest` for that recipient, for a fraction of the time. A mould
    is for recipients who, like the one it was made for, have a name or not and a
    manage link or not (:func:`mould_key`).
    """

    rendered: RenderedMessage
    key: tuple[bool, bool]

    def fill(self, recipient: Recipient) -> RenderedMessage:
        """The digest email for ``recipient``, whose :func:`mould_key` must match."""
        if mould_key(recipient) != self.key:
            raise ValueError(f"mould {self.key} for {mould_key(recipient)}")
        name = one_line(recipient.name) or ""
        text_values = {
            _NAME_MARK: name,
            _UNSUBSCRIBE_MARK: recipient.unsubscribe_url,
            _MANAGE_MARK: recipient.manage_url or "",
        }
        text, html = self.rendered.text, self.rendered.html
        for mark, value in text_values.items():
            text = text.replace(mark, value)
            html = html.replace(mark, str(markupsafe.escape(value)))
        return RenderedMessage(subject=self.rendered.subject, text=text, html=html)


def mould_key(recipient: Recipient) -> tuple[bool, bool]:
    """Which :class:`DigestMould` fits a recipient: (has a name, has a manage link)."""
    return bool(one_line(recipient.name)), recipient.manage_url is not None


def render_digest_mould(
    env: jinja2.Environment, digest: Digest, locale: str | None = DEFAULT_LOCALE
) -> DigestMould:
    """Render ``digest`` in ``locale`` once, for each recipient of its :func:`mould_key`."""
    has_name, has_manage = mould_key(digest.recipient)
    stand_in = dataclasses.replace(
        digest.recipient,
        name=_NAME_MARK if has_name else None,
        unsubscribe_url=_UNSUBSCRIBE_MARK,
        manage_url=_MANAGE_MARK if has_manage else None,
    )
    rendered = render_digest(env, dataclasses.replace(digest, recipient=stand_in), locale)
    return DigestMould(rendered=rendered, key=(has_name, has_manage))


class Moulds:
    """Each distinct digest content rendered once per locale and :func:`mould_key`, then filled."""

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env
        self.moulds: dict[tuple[int, str, tuple[bool, bool]], tuple[object, DigestMould]] = {}

    def render(self, digest: Digest, locale: str) -> RenderedMessage:
        # The content's identity is the key: the digest job shares one content object
        # (its groups) among subscribers with the same locale, preferences and cursors.
        # The object is kept beside its mould, so an id is never taken by another content.
        key = (id(digest.groups), locale, mould_key(digest.recipient))
        kept = self.moulds.get(key)
        if kept is None or kept[0] is not digest.groups:
            mould = render_digest_mould(self.env, digest, locale)
            kept = self.moulds[key] = (digest.groups, mould)
        return kept[1].fill(digest.recipient)
