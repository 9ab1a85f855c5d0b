"""A digest rendered once for many recipients is, for each, the digest rendered for them."""

from __future__ import annotations

import dataclasses

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.digest.test_render_snapshot import RECIPIENT, default_digest
from trialwatch.digest import render_digest
from trialwatch.digest.model import Recipient
from trialwatch.digest.render import render_digest_mould

_NAMES = st.one_of(
    st.none(),
    st.text(min_size=0, max_size=40),
    st.sampled_from(["<b>Ana</b> & Co", 'O"Brien', "José\nMaría", "tw-name-", "  "]),
)
_TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_NAMES, token=_TOKENS, manage=st.booleans())
def test_a_filled_mould_is_the_digest_rendered_for_that_recipient(
    env: jinja2.Environment, name: str | None, token: str, manage: bool
) -> None:
    """Names with markup, quotes or line breaks and any token give the same bytes."""
    digest = default_digest()
    recipient = Recipient(
        subscriber_id=7,
        email="someone@example.org",
        name=name,
        unsubscribe_url=f"https://tw.example/unsubscribe/{token}?a=1&b=2",
        manage_url=f"https://tw.example/manage/{token}" if manage else None,
    )
    for_them = dataclasses.replace(digest, recipient=recipient)
    mould = render_digest_mould(env, for_them)
    assert mould.fill(recipient) == render_digest(env, for_them)


def test_a_mould_refuses_a_recipient_it_was_not_made_for(env: jinja2.Environment) -> None:
    """A mould made for a named recipient cannot fill one without a name."""
    mould = render_digest_mould(env, default_digest())
    with pytest.raises(ValueError, match="mould"):
        mould.fill(dataclasses.replace(RECIPIENT, name=None))


def test_the_placeholders_never_reach_a_recipient(env: jinja2.Environment) -> None:
    """No trace of the stand-in values is left in the filled text or HTML."""
    rendered = render_digest_mould(env, default_digest()).fill(RECIPIENT)
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "tw-name-" not in part
        assert ".invalid/" not in part
    assert RECIPIENT.unsubscribe_url in rendered.text
    assert "Hello Ana," in rendered.text
