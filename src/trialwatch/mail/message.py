"""Build the bytes of an email from a rendered message. Pure: same inputs, same bytes.

:func:`build_message` makes a ``multipart/alternative`` message (plain text, then
HTML, both UTF-8) with CRLF line endings, ready for SMTP ``DATA`` or an ``.eml``
file. Nothing a subscriber or a template controls can add a header: the subject
and the recipient's name are put on one line (control characters and line breaks
removed), the unsubscribe URL is percent-encoded, and header values are never
written unchecked.

Headers: ``From``, ``To``, ``Subject``, ``Date``, ``Message-ID``, ``MIME-Version``,
``Auto-Submitted: auto-generated`` (RFC 3834: no auto-replies), and with an
unsubscribe URL ``List-Unsubscribe`` plus ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 8058 one-click unsubscribe), and optionally
``List-Id`` and extra headers.

Each outbox row gets its ``Message-ID`` once, when it is queued, so sending it
again (after a timeout, say) gives the same id and mail clients show it once.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from trialwatch.errors import ConfigError, DeliveryError
from trialwatch.mail.templates import RenderedMessage, one_line

# SMTP policy (CRLF, lines folded at 78). ``refold_source="none"`` keeps the headers
# stored with ``set_raw`` (values validated here) as written: the library would
# otherwise turn a long List-Unsubscribe URL into RFC 2047 encoded words, which
# mail clients do not decode in that header.
_POLICY = policy.SMTP.clone(refold_source="none")

# RFC 5322 msg-id in its common form: dot-atom text, "@", a domain name.
_MESSAGE_ID_RE = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9.-]{1,253}>")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A header name: printable ASCII except the colon (RFC 5322 ftext).
_HEADER_NAME_RE = re.compile(r"[!-9;-~]+")
# Characters kept as they are in a URL; everything else (spaces, CR, LF, <, >, ", non-ASCII)
# is percent-encoded. "%" is kept so that existing escapes survive.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
# A raw header line must stay under the 998-octet limit of RFC 5322.
MAX_URL_LENGTH = 900

SET_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "auto-submitted",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
    }
)
"""Headers :func:`build_message` sets itself; ``extra_headers`` may not name them."""


def build_message(
    rendered: RenderedMessage,
    *,
    sender: str,
    recipient_email: str,
    recipient_name: str | None,
    message_id: str,
    unsubscribe_url: str | None,
    date: datetime,
    list_id: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> bytes:
    """Return the email as bytes with CRLF line endings, ready to send.

    ``sender`` is the configured From line, e.g. ``"TrialWatch <trialwatch@example.org>"``
    (:class:`~trialwatch.errors.ConfigError` naming ``TRIALWATCH_MAIL_FROM`` if it is
    not one address). ``message_id`` is used exactly (``"<...@...>"``;
    :class:`ValueError` otherwise). ``date`` should be
    timezone-aware. ``list_id`` is a ``List-Id`` value such as
    ``"TrialWatch digests <digests.trialwatch.example.org>"``.

    An address that cannot be written in a header (malformed, or non-ASCII, which
    would need SMTPUTF8) raises :class:`~trialwatch.errors.DeliveryError` with
    ``permanent=True``: sending it again cannot help.
    """
    if not _MESSAGE_ID_RE.fullmatch(message_id):
        raise ValueError(f"invalid Message-ID {message_id!r}: expected <local@domain>")
    # From, Subject and List-Id are the same for many messages of a run: each is
    # parsed and folded once (the email package's header parser is most of the time
    # a message takes, 0.3 of 0.5 ms); To and the raw headers are written per message.
    head_start = _from_header(sender)
    head_start += to_header(recipient_address(recipient_email, recipient_name)) + _folded(
        "Subject", one_line(rendered.subject) or ""
    )
    msg = EmailMessage(policy=_POLICY)
    msg.set_raw("Date", format_datetime(date))
    msg.set_raw("Message-ID", message_id)
    msg.set_raw("Auto-Submitted", "auto-generated")
    list_header = b"" if list_id is None else _folded("List-Id", one_line(list_id) or "")
    if unsubscribe_url is not None:
        msg.set_raw("List-Unsubscribe", f"<{_safe_url(unsubscribe_url)}>")
        msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    for name, value in (extra_headers or {}).items():
        if not _HEADER_NAME_RE.fullmatch(name) or name.lower() in SET_HEADERS:
            raise ValueError(f"extra header {name!r} is not allowed")
        msg[name] = one_line(value) or ""
    # The body is assembled here rather than by the email package's content manager
    # and generator, which write it a line at a time: 3.5 ms a digest, most of the
    # time it took to queue one (bench/digest.py). Each part is UTF-8 in
    # quoted-printable (text) or base64 (HTML), CRLF line ends, lines of at most 76.
    boundary = _boundary(message_id, rendered)
    msg.set_raw("MIME-Version", "1.0")
    msg.set_raw("Content-Type", f'multipart/alternative;\r\n boundary="{boundary}"')
    raw = [(name, value) for name, value in msg.raw_items()]
    # List-Id goes where it always went: after Auto-Submitted, before List-Unsubscribe.
    head = head_start + b"".join(_POLICY.fold_binary(name, value) for name, value in raw[:3])
    head += list_header + b"".join(_POLICY.fold_binary(name, value) for name, value in raw[3:])
    separator = f"--{boundary}\r\n".encode("ascii")
    return b"".join(
        (
            head,
            b"\r\n",
            separator,
            _quoted_printable_part("plain", rendered.text),
            b"\r\n",
            separator,
            _base64_part("html", rendered.html),
            b"\r\n",
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )


# A display name and an address that the SMTP policy writes as they are (atext words
# separated by single spaces; a dot-atom address): no quoting, encoding or folding.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_NAME_RE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_PLAIN_ADDRESS_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9.-]+")


def to_header(address: Address) -> bytes:
    """The ``To`` line of ``address``, as the SMTP policy folds it.

    Plain names and addresses (most) are written directly, which gives the same
    bytes as the email package at a tenth of the time; anything else (non-ASCII
    names, quoting, long lines) goes through the package.
    """
    name, spec = address.display_name, address.addr_spec
    line = f"To: {name} <{spec}>\r\n" if name else f"To: {spec}\r\n"
    if (
        len(line) <= 78
        and (not name or _PLAIN_NAME_RE.fullmatch(name))
        and _PLAIN_ADDRESS_RE.fullmatch(spec)
    ):
        return line.encode("ascii")
    return _library_to_header(address)


def _fold(name: str, value: str | Address) -> bytes:
    """One header parsed and folded as the SMTP policy writes it."""
    msg = EmailMessage(policy=_POLICY)
    msg[name] = value
    return b"".join(_POLICY.fold_binary(n, v) for n, v in msg.raw_items())


def _library_to_header(address: Address) -> bytes:
    """The ``To`` line as the email package writes it (what :func:`to_header` matches)."""
    return _fold("To", address)


@functools.lru_cache(maxsize=512)
def _folded(name: str, value: str) -> bytes:
    """:func:`_fold`, kept: a run's From, Subject and List-Id values repeat."""
    return _fold(name, value)


@functools.lru_cache(maxsize=32)
def _from_header(sender: str) -> bytes:
    return _fold("From", parse_sender(sender))


def _base64_part(subtype: str, body: str) -> bytes:
    # HTML is full of "=" (style attributes), which quoted-printable triples: base64
    # is smaller for it, three times faster to encode, and no reader sees it raw.
    flat = binascii.b2a_base64(body.encode("utf-8"), newline=False)
    encoded = b"\r\n".join([flat[i : i + 76] for i in range(0, len(flat), 76)]) + b"\r\n"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + encoded


@functools.lru_cache(maxsize=16384)
def _qp_line(line: str) -> bytes:
    return binascii.b2a_qp((line + "\r\n").encode("utf-8"), istext=True)


def quoted_printable(text: str) -> bytes:
    """``text`` in quoted-printable with CRLF line ends, as ``binascii.b2a_qp`` writes it.

    Quoted-printable encodes each line on its own, so the lines are encoded one by
    one and kept: the digests of a run share most of their lines (5x faster).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return b"".join([_qp_line(line) for line in text.split("\n")])


def _quoted_printable_part(subtype: str, body: str) -> bytes:
    encoded = quoted_printable(body)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + encoded


@functools.lru_cache(maxsize=32)
def parse_sender(sender: str) -> Address:
    """Parse the configured From line into an address, or raise ConfigError.

    Accepts ``"Name <addr@example.org>"`` or a bare address; the display name is
    put on one line.
    """
    if _CONTROL_RE.search(sender):
        raise ConfigError(f"TRIALWATCH_MAIL_FROM: control characters in {sender!r}")
    header = policy.default.header_factory("From", sender.strip())
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or header.defects or not addresses[0].domain:
        raise ConfigError(
            f"TRIALWATCH_MAIL_FROM: expected one address like "
            f"'TrialWatch <trialwatch@example.org>', got {sender!r}"
        )
    address = addresses[0]
    if not address.addr_spec.isascii():
        raise ConfigError(f"TRIALWATCH_MAIL_FROM: the address must be ASCII, got {sender!r}")
    return address


def recipient_address(email: str, name: str | None) -> Address:
    """Return the To address: ``email`` with ``name`` on one line as display name.

    Raises :class:`~trialwatch.errors.DeliveryError` (permanent) for an address
    that is malformed or not ASCII.
    """
    if not email.isascii() or not email.isprintable() or " " in email:
        raise DeliveryError(f"cannot send to {email!r}: not a plain ASCII address", permanent=True)
    try:
        address = Address(display_name=one_line(name) or "", addr_spec=email)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise DeliveryError(f"cannot send to {email!r}: malformed address", permanent=True) from exc
    if not address.username or not address.domain:
        raise DeliveryError(f"cannot send to {email!r}: malformed address", permanent=True)
    return address


def _boundary(message_id: str, rendered: RenderedMessage) -> str:
    # Derived from the content rather than random, so that the same inputs give the
    # same bytes. A body cannot contain a hash of itself, and "=_" never occurs in
    # quoted-printable or base64 output.
    seed = "\0".join((message_id, rendered.text, rendered.html)).encode("utf-8", "surrogatepass")
    return "=_tw_" + hashlib.sha256(seed).hexdigest()[:40]


def _safe_url(url: str) -> str:
    safe = quote(url.strip(), safe=_URL_SAFE)
    if len(safe) > MAX_URL_LENGTH:
        raise ValueError(f"unsubscribe URL longer than {MAX_URL_LENGTH} characters")
    return safe
