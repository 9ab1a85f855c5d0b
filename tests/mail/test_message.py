"""Building the bytes of a digest email: parts, headers, and no header injection."""

from __future__ import annotations

import binascii
import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialwatch.errors import ConfigError, DeliveryError
from trialwatch.mail.message import (
    _library_to_header,
    build_message,
    parse_sender,
    quoted_printable,
    recipient_address,
    to_header,
)
from trialwatch.mail.templates import RenderedMessage

DATE = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)
MESSAGE_ID = "<digest-42.0123456789abcdef01234567@trialwatch.example.org>"
UNSUBSCRIBE = "https://trialwatch.example.org/unsubscribe/abc.DEF-123_x"
INJECTION = "x\r\nBcc: attacker@evil.example\r\n"


def rendered(**overrides: str) -> RenderedMessage:
    """A small digest with non-ASCII text in both parts."""
    fields = {
        "subject": "2 trials changed: Recruiting → Completed",
        "text": "Hello Zoë,\n\nNCT06742190 is now recruiting.\n",
        "html": "<p>Hello Zoë,</p>\n<p>NCT06742190 is now <b>recruiting</b>.</p>\n",
    }
    fields.update(overrides)
    return RenderedMessage(**fields)


def build(message: RenderedMessage | None = None, **overrides: Any) -> bytes:
    """build_message with defaults for every argument."""
    arguments: dict[str, Any] = {
        "sender": "TrialWatch <trialwatch@trialwatch.example.org>",
        "recipient_email": "jane@example.org",
        "recipient_name": "Jane Doe",
        "message_id": MESSAGE_ID,
        "unsubscribe_url": UNSUBSCRIBE,
        "date": DATE,
    }
    arguments.update(overrides)
    return build_message(message or rendered(), **arguments)


def parse(data: bytes) -> EmailMessage:
    """Parse as a mail client would."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def content(part: MIMEPart) -> str:
    """A part's decoded text, with the CRLF of MIME's canonical form turned back into LF."""
    text = part.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def test_it_has_a_text_and_an_html_part_in_that_order() -> None:
    """The message is multipart/alternative: text/plain, then text/html, both UTF-8."""
    message = parse(build())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert content(parts[0]) == rendered().text
    assert content(parts[1]) == rendered().html


def test_it_sets_the_envelope_headers() -> None:
    """From, To, Subject, Date, Message-ID, MIME-Version and Auto-Submitted are set."""
    message = parse(build())
    assert message["From"] == "TrialWatch <trialwatch@trialwatch.example.org>"
    assert message["To"] == "Jane Doe <jane@example.org>"
    assert message["Subject"] == rendered().subject
    assert message["Date"].datetime == DATE
    assert message["Message-ID"] == MESSAGE_ID
    assert message["MIME-Version"] == "1.0"
    assert message["Auto-Submitted"] == "auto-generated"


def test_it_keeps_the_message_id_exactly() -> None:
    """The Message-ID given by the caller is written unchanged, even a long one."""
    long_id = "<digest-42." + "f" * 120 + "@trialwatch.example.org>"
    data = build(message_id=long_id)
    assert f"\r\nMessage-ID: {long_id}\r\n".encode() in data
    assert parse(data)["Message-ID"] == long_id


@pytest.mark.parametrize("message_id", ["digest-42@x.org", "<no-domain>", "<a b@x.org>", ""])
def test_it_refuses_a_malformed_message_id(message_id: str) -> None:
    """A Message-ID that is not <local@domain> is a programming error."""
    with pytest.raises(ValueError, match="Message-ID"):
        build(message_id=message_id)


def test_it_offers_one_click_unsubscribe() -> None:
    """List-Unsubscribe names the URL and List-Unsubscribe-Post asks for RFC 8058 one-click."""
    message = parse(build())
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_it_keeps_a_long_unsubscribe_url_on_one_line() -> None:
    """A long URL is not folded or turned into encoded words, which clients would not read."""
    url = "https://trialwatch.example.org/unsubscribe/" + "A" * 300
    data = build(unsubscribe_url=url)
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in data


def test_it_leaves_out_the_unsubscribe_headers_without_a_url() -> None:
    """A message with no unsubscribe URL (a confirmation email) has no List-Unsubscribe."""
    message = parse(build(unsubscribe_url=None))
    assert "List-Unsubscribe" not in message
    assert "List-Unsubscribe-Post" not in message


def test_it_adds_a_list_id_and_extra_headers_when_asked() -> None:
    """List-Id and extra headers are written, on one line."""
    message = parse(
        build(
            list_id="TrialWatch digests <digests.trialwatch.example.org>",
            extra_headers={"X-TrialWatch-Digest": "42\n"},
        )
    )
    assert message["List-Id"] == "TrialWatch digests <digests.trialwatch.example.org>"
    assert message["X-TrialWatch-Digest"] == "42"


@pytest.mark.parametrize("name", ["From", "to", "Bcc: x", "X-Bad\r\nBcc"])
def test_extra_headers_cannot_replace_or_inject_headers(name: str) -> None:
    """Extra headers may not name a header the builder sets, nor be malformed."""
    with pytest.raises(ValueError, match="not allowed"):
        build(extra_headers={name: "x@evil.example"})


@pytest.mark.parametrize(
    "overrides",
    [
        {"message": rendered(subject="Changes" + INJECTION)},
        {"recipient_name": "Jane" + INJECTION},
        {"unsubscribe_url": UNSUBSCRIBE + INJECTION},
        {"list_id": "TrialWatch" + INJECTION},
        {"extra_headers": {"X-Note": "note" + INJECTION}},
    ],
    ids=["subject", "name", "url", "list-id", "extra-header"],
)
def test_header_injection_is_impossible(overrides: dict[str, Any]) -> None:
    """CR/LF in the subject, name, URL or other values never start a new header."""
    data = build(**overrides)
    message = parse(data)
    assert "Bcc" not in message
    assert b"\r\nBcc:" not in data
    assert not message.defects
    assert "\n" not in message["To"].addresses[0].display_name
    assert message["To"].addresses[0].addr_spec == "jane@example.org"


def test_an_injected_unsubscribe_url_is_percent_encoded() -> None:
    """Characters not allowed in a URL (CR, LF, space, <, >) are escaped, not dropped."""
    message = parse(build(unsubscribe_url=UNSUBSCRIBE + "\r\n> <x"))
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}%0D%0A%3E%20%3Cx>"


def test_a_sender_with_line_breaks_is_a_config_error() -> None:
    """The From setting cannot smuggle headers either."""
    with pytest.raises(ConfigError, match="TRIALWATCH_MAIL_FROM"):
        build(sender="TrialWatch <tw@example.org>\r\nBcc: x@evil.example")


@pytest.mark.parametrize("sender", ["", "not an address", "a@example.org, b@example.org"])
def test_a_sender_that_is_not_one_address_is_a_config_error(sender: str) -> None:
    """TRIALWATCH_MAIL_FROM must be exactly one address."""
    with pytest.raises(ConfigError, match="TRIALWATCH_MAIL_FROM"):
        parse_sender(sender)


def test_a_bare_sender_address_is_accepted() -> None:
    """A From setting without a display name works."""
    assert parse(build(sender="tw@example.org"))["From"] == "tw@example.org"


def test_a_non_ascii_name_is_encoded() -> None:
    """A non-ASCII display name becomes an RFC 2047 encoded word and reads back the same."""
    data = build(recipient_name='Zoë "Z" Müller, PhD')
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in header_block
    assert parse(data)["To"].addresses[0].display_name == 'Zoë "Z" Müller, PhD'


def test_a_blank_name_gives_a_bare_address() -> None:
    """No name, or only whitespace, gives To: with the address alone."""
    assert parse(build(recipient_name=None))["To"] == "jane@example.org"
    assert parse(build(recipient_name=" \t "))["To"] == "jane@example.org"


@pytest.mark.parametrize(
    "address", ["not-an-address", "jane@", "zoë@example.org", "a b@example.org", "a@b\r\nc"]
)
def test_an_unusable_recipient_is_a_permanent_delivery_error(address: str) -> None:
    """An address that cannot go in a header fails for good, not for a retry."""
    with pytest.raises(DeliveryError) as caught:
        build(recipient_email=address)
    assert caught.value.permanent


def test_lines_are_crlf_and_at_most_998_octets() -> None:
    """Long subjects, URLs and body lines are folded or encoded to legal lines."""
    message = rendered(
        subject="Status changed " * 20,
        text="é" + "x" * 5000 + "\n" + "word " * 400 + "\n",
        html="<p>" + "y" * 5000 + "</p>\n",
    )
    data = build(message, unsubscribe_url="https://t.example/unsubscribe/" + "A" * 800)
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parts = list(parse(data).iter_parts())
    assert content(parts[0]) == message.text
    assert content(parts[1]) == message.html


def test_a_very_long_unsubscribe_url_is_refused() -> None:
    """A URL that would not fit on one header line is a programming error."""
    with pytest.raises(ValueError, match="URL"):
        build(unsubscribe_url="https://t.example/" + "A" * 1000)


_NAME_CHARS = "abcXYZ019 !#$%&'*+/=?^_`{|}~-.\"(),:;<>@[]\\éü"


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(alphabet=_NAME_CHARS, max_size=60),
    local=st.text(alphabet="abcz09.+-_", min_size=1, max_size=40),
    domain=st.sampled_from(["example.org", "mail.example.co.uk", "x.io"]),
)
def test_the_direct_to_line_is_the_email_packages_to_line(
    name: str, local: str, domain: str
) -> None:
    """Written directly or by the email package, the To line has the same bytes."""
    try:
        address = recipient_address(f"{local}@{domain}", name)
    except DeliveryError:
        return  # refused either way (build_message raises it before any header)
    assert to_header(address) == _library_to_header(address)


_QP_PIECES = [*"ab =\t.-_é€\u00a0\n\r", "x" * 80, " \n", "=\r\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_QP_PIECES), max_size=200).map("".join))
def test_quoted_printable_line_by_line_is_the_whole_text_encoded(text: str) -> None:
    """Encoding line by line (and keeping the lines) gives binascii's bytes for the whole."""
    flat = text.replace("\r\n", "\n").replace("\r", "\n")
    if not flat.endswith("\n"):
        flat += "\n"
    whole = binascii.b2a_qp(flat.replace("\n", "\r\n").encode("utf-8"), istext=True)
    assert quoted_printable(text) == whole
