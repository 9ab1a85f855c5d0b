"""Signed unsubscribe tokens and the secret key behind them."""

from __future__ import annotations

import re
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from trialwatch.errors import ConfigError, InvalidToken
from trialwatch.mail.signing import (
    SALT,
    SECRET_FILE_NAME,
    ExpiredToken,
    LegacyRef,
    OpaqueRef,
    RequestRef,
    make_confirm_token,
    make_unsubscribe_token,
    read_confirm_token,
    read_unsubscribe_token,
    resolve_secret,
    unsubscribe_url,
)

SECRET = "test-secret-key-of-at-least-32-bytes"
OPAQUE = "Vh3n0uZq8oYbV6xk2mLr1sTq9wE4pA7c"


def _old_token(secret: str, subscriber_id: int, email: str) -> str:
    """A token as mailed before links became opaque: the signed [id, email] pair."""
    return URLSafeSerializer(secret, salt=SALT).dumps([subscriber_id, email])


def test_a_token_reads_back_as_the_subscriber_token() -> None:
    """make then read gives the subscriber's opaque token."""
    token = make_unsubscribe_token(SECRET, OPAQUE)
    assert read_unsubscribe_token(SECRET, token) == OpaqueRef(OPAQUE)


def test_a_token_reveals_neither_address_nor_id() -> None:
    """The signed payload is the opaque token alone."""
    token = make_unsubscribe_token(SECRET, OPAQUE)
    payload = URLSafeSerializer(SECRET, salt=SALT).loads(token)
    assert payload == {"t": OPAQUE}


def test_an_old_format_token_reads_back_as_id_and_address() -> None:
    """Links mailed before opaque tokens still read, as (id, email) to check against the row."""
    token = _old_token(SECRET, 7, "jane@example.org")
    assert read_unsubscribe_token(SECRET, token) == LegacyRef(7, "jane@example.org")


def test_a_token_is_url_safe() -> None:
    """A token can go in a URL path as it is."""
    token = make_unsubscribe_token(SECRET, "a-b_c" * 9)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)


def test_tokens_differ_between_subscribers() -> None:
    """Each subscriber token gets its own signed token."""
    tokens = {make_unsubscribe_token(SECRET, OPAQUE), make_unsubscribe_token(SECRET, OPAQUE[::-1])}
    assert len(tokens) == 2


@pytest.mark.parametrize("old", [False, True])
def test_a_tampered_token_is_invalid(old: bool) -> None:
    """Changing any character of the payload or signature breaks the token, old or new."""
    token = (
        _old_token(SECRET, 7, "jane@example.org") if old else make_unsubscribe_token(SECRET, OPAQUE)
    )
    for index in (0, len(token) // 2, len(token) - 2):
        replacement = "A" if token[index] != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(InvalidToken):
            read_unsubscribe_token(SECRET, tampered)


def test_a_token_signed_with_another_secret_is_invalid() -> None:
    """A token cannot be forged without the secret key."""
    other = "another-secret-of-at-least-32-bytes"
    for token in (make_unsubscribe_token(other, OPAQUE), _old_token(other, 7, "jane@example.org")):
        with pytest.raises(InvalidToken):
            read_unsubscribe_token(SECRET, token)


def test_a_token_for_another_purpose_is_invalid() -> None:
    """A token signed with the same key but another salt is not an unsubscribe token."""
    token = URLSafeSerializer(SECRET, salt="confirm").dumps({"t": OPAQUE})
    with pytest.raises(InvalidToken):
        read_unsubscribe_token(SECRET, token)


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 7},
        [7],
        ["7", "jane@example.org"],
        [True, "a@b.c"],
        {"t": ""},
        {"t": 7},
        {"t": "x" * 65},
        {"t": "has space"},
        {"t": OPAQUE, "e": "jane@example.org"},
        f"t:{OPAQUE}",
    ],
)
def test_a_signed_token_with_an_unexpected_payload_is_invalid(payload: object) -> None:
    """Only {"t": opaque token} or an old [subscriber_id, email] pair is accepted."""
    token = URLSafeSerializer(SECRET, salt=SALT).dumps(payload)
    with pytest.raises(InvalidToken, match="payload"):
        read_unsubscribe_token(SECRET, token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "%%%"])
def test_garbage_is_an_invalid_token(token: str) -> None:
    """Anything that is not a token raises InvalidToken, not a library error."""
    with pytest.raises(InvalidToken):
        read_unsubscribe_token(SECRET, token)


def test_an_empty_secret_is_a_config_error() -> None:
    """Tokens are never signed with an empty key."""
    with pytest.raises(ConfigError, match="TRIALWATCH_SECRET_KEY"):
        make_unsubscribe_token("", OPAQUE)


def test_the_unsubscribe_url_puts_the_token_under_the_public_url() -> None:
    """The link is <public_url>/unsubscribe/<token>."""
    assert unsubscribe_url("https://tw.example", "tok") == "https://tw.example/unsubscribe/tok"
    assert unsubscribe_url("https://tw.example/", "tok") == "https://tw.example/unsubscribe/tok"


def test_a_configured_secret_is_used_as_is(tmp_path: Path) -> None:
    """With a configured key no file is read or written."""
    assert resolve_secret(SECRET, tmp_path) == SECRET
    assert list(tmp_path.iterdir()) == []


def test_without_a_secret_one_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    """The first call creates a private key file; later calls reuse it."""
    state = tmp_path / "state"
    first = resolve_secret("", state)
    path = state / SECRET_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    assert len(first) >= 43  # 32 random bytes, base64
    assert resolve_secret("  ", state) == first
    assert [p.name for p in state.iterdir()] == [SECRET_FILE_NAME]


def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    """Concurrent first calls all return the key that ended up in the file."""
    results: list[str] = []
    barrier = threading.Barrier(8)

    def resolve() -> None:
        barrier.wait()
        results.append(resolve_secret("", tmp_path))

    threads = [threading.Thread(target=resolve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {(tmp_path / SECRET_FILE_NAME).read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE_NAME]


def test_an_empty_secret_file_is_a_config_error(tmp_path: Path) -> None:
    """An emptied key file is not silently replaced (old links would break)."""
    (tmp_path / SECRET_FILE_NAME).write_text("\n")
    (tmp_path / SECRET_FILE_NAME).chmod(0o600)
    with pytest.raises(ConfigError, match="empty"):
        resolve_secret("", tmp_path)


def test_a_state_folder_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    """A file in the way of the state folder gives a ConfigError naming the setting."""
    (tmp_path / "state").write_text("not a folder")
    with pytest.raises(ConfigError, match="TRIALWATCH_SECRET_KEY"):
        resolve_secret("", tmp_path / "state")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    """A key file with group or world permissions is a ConfigError naming it and chmod 600."""
    path = tmp_path / SECRET_FILE_NAME
    path.write_text("k" * 43 + "\n")
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        resolve_secret("", tmp_path)
    assert str(path) in str(info.value)
    assert "k" * 43 not in str(info.value)


def test_a_private_key_file_is_used(tmp_path: Path) -> None:
    """A key file of mode 0600 (or 0400) is read as it is."""
    path = tmp_path / SECRET_FILE_NAME
    path.write_text("k" * 43 + "\n")
    path.chmod(0o400)
    assert resolve_secret("", tmp_path) == "k" * 43


@pytest.mark.parametrize("key", ["s3cret", "x" * 31, "é" * 15])
def test_a_configured_key_shorter_than_32_bytes_is_refused(tmp_path: Path, key: str) -> None:
    """A short key is a ConfigError naming the setting and the minimum, never the key."""
    with pytest.raises(ConfigError, match=r"TRIALWATCH_SECRET_KEY.*32 bytes") as info:
        resolve_secret(key, tmp_path)
    assert key not in str(info.value)


def test_a_short_key_file_is_refused(tmp_path: Path) -> None:
    """A key file holding fewer than 32 bytes is refused, naming the file."""
    path = tmp_path / SECRET_FILE_NAME
    path.write_text("s3cret\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="32 bytes") as info:
        resolve_secret("", tmp_path)
    assert str(path) in str(info.value)


def test_a_confirmation_token_names_its_request_and_an_old_one_its_subscriber() -> None:
    """New links carry a request's nonce; links mailed before carry the subscriber's token."""
    now = datetime(2026, 12, 8, tzinfo=UTC)
    token = make_confirm_token(SECRET, "nonce-1", now)
    assert read_confirm_token(SECRET, token, now) == RequestRef("nonce-1")
    old = URLSafeTimedSerializer(SECRET, salt="confirm").dumps({"c": OPAQUE})
    assert read_confirm_token(SECRET, old, datetime.now(UTC)) == OpaqueRef(OPAQUE)
    with pytest.raises(ExpiredToken) as caught:
        read_confirm_token(SECRET, token, now + timedelta(days=7, seconds=1))
    assert caught.value.ref == RequestRef("nonce-1")
    with pytest.raises(InvalidToken):
        read_confirm_token(SECRET, make_unsubscribe_token(SECRET, OPAQUE), now)
