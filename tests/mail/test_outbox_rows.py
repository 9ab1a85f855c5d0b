"""Outbox rows: each kind of mail becomes a row with its own Message-ID and message."""

from __future__ import annotations

from datetime import UTC, datetime

from trialwatch.mail.outbox_rows import MailSettings, alert_rows, digest_row
from trialwatch.mail.templates import RenderedMessage

NOW = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)
RENDERED = RenderedMessage(subject="Subject", text="Text\n", html="<p>HTML</p>\n")
MAIL = MailSettings(
    sender="TrialWatch <tw@trialwatch.example>", public_url="https://t.example", secret="s" * 32
)


def test_a_digest_row_carries_its_span_counts_and_unsubscribe_header() -> None:
    """The row is the outbox's: covered spans, counts, and List-Unsubscribe in the message."""
    row = digest_row(
        RENDERED,
        mail=MAIL,
        subscriber=(7, "ana@example.org", "Ana"),
        unsubscribe_url="https://t.example/u/x",
        covered={"mmn": (3, 9)},
        counts=(2, 5),
        now=NOW,
    )
    assert row["kind"] == "digest"
    assert row["subscriber_id"] == 7
    assert row["covered"] == {"mmn": [3, 9]}
    assert (row["study_count"], row["change_count"]) == (2, 5)
    assert row["message_id"].startswith("<digest.")
    assert row["message_id"].endswith("@trialwatch.example>")
    assert "List-Unsubscribe: <https://t.example/u/x>" in row["message"]
    assert row["next_attempt_at"] == row["created_at"] == NOW


def test_alert_rows_skip_an_address_no_message_can_be_built_for() -> None:
    """One row per admin; a malformed address is counted as skipped, the others still hear."""
    rows, skipped = alert_rows(
        RENDERED,
        admins=["ops@example.org", "not an address", "dev@example.org"],
        sender=MAIL.sender,
        now=NOW,
    )
    assert [r["recipient"] for r in rows] == ["ops@example.org", "dev@example.org"]
    assert skipped == 1
    assert {r["kind"] for r in rows} == {"alert"}
    assert all(r["subscriber_id"] is None for r in rows)
    assert len({r["message_id"] for r in rows}) == 2
