"""``trialwatch digest`` and ``trialwatch outbox``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trialwatch.cli.common import (
    App,
    JsonOpt,
    atomic_output,
    load_app,
    out,
    print_json,
    print_table,
)
from trialwatch.errors import DeliveryError
from trialwatch.jobs.delivery import send_summary
from trialwatch.store import outbox
from trialwatch.store.subscribers import get_subscriber, normalise_email
from trialwatch.timeparse import parse_since


def send_queued(app: App) -> dict[str, Any]:
    return app.jobs.deliver().to_dict()


def digest(
    preview: Annotated[
        str | None,
        typer.Option("--preview", help="Render this subscriber's next digest; changes nothing."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="With --preview: write the HTML part to FILE."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be queued; change nothing.")
    ] = False,
    send: Annotated[
        bool, typer.Option("--send", help="Also deliver every queued message.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Build the digests that are due and queue them; with --send, deliver the queue."""
    app = load_app()
    app.sessions  # noqa: B018 - checks that the database is initialised
    if preview is not None:
        with app.session() as session:
            get_subscriber(session, preview)  # no such subscriber: exit 2, not "nothing yet"
        _, rendered = app.jobs.preview(normalise_email(preview))
        if rendered is None:
            out.print(f"nothing to send to {preview} yet")
            return
        if output is not None:
            with atomic_output(output) as handle:
                handle.write(rendered.html)
            out.print(f"wrote {output}")
        elif json_output:
            print_json({"subject": rendered.subject, "text": rendered.text, "html": rendered.html})
        else:
            out.print(f"Subject: {rendered.subject}\n", markup=False)
            out.print(rendered.text, markup=False)
        return
    built = app.jobs.build_digests(dry_run=dry_run)
    sent = send_queued(app) if send and not dry_run else None
    if json_output:
        print_json({"built": built.to_dict(), "sent": sent})
        return
    verb = "would queue" if dry_run else "queued"
    out.print(
        f"{verb} {built.queued} digest(s) for {built.subscribers} due subscriber(s)"
        f" ({built.empty} with nothing new)"
    )
    if sent is not None:
        out.print(send_summary(sent), markup=False)
        if sent["error"]:
            raise DeliveryError(f"delivery stopped, messages stay queued: {sent['error']}")


def outbox_cmd(
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Queue failed messages again; their bounced subscribers become active.",
        ),
    ] = False,
    send: Annotated[bool, typer.Option("--send", help="Deliver every queued message now.")] = False,
    purge_sent_before: Annotated[
        str | None,
        typer.Option(
            "--purge-sent-before",
            help="Delete sent messages older than this: a duration (90d) or a date.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many recent messages to list.")
    ] = 20,
    json_output: JsonOpt = False,
) -> None:
    """Inspect the outbox; retry failed messages; deliver the queue."""
    app = load_app()
    now = app.now()
    requeued = outbox.Requeued(requeued=0, reactivated=0)
    if retry_failed:
        with app.session() as session:
            requeued = outbox.requeue_failed(session, now)
    sent = send_queued(app) if send else None
    purged = 0
    if purge_sent_before is not None:
        with app.session() as session:
            purged = outbox.purge_sent(
                session, parse_since(purge_sent_before, now, "--purge-sent-before")
            )
    with app.session() as session:
        counts = outbox.status_counts(session)
        rows = [
            {
                "id": d.id,
                "status": d.status,
                "recipient": d.recipient,
                "subject": d.subject,
                "attempts": d.attempts,
                "uncertain": d.uncertain,
                "created_at": d.created_at.isoformat(),
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                "last_error": d.last_error,
                "message_id": d.message_id,
            }
            for d in outbox.recent(session, limit)
        ]
    purged_or_none = purged if purge_sent_before is not None else None
    if json_output:
        print_json(
            {
                "counts": counts,
                "requeued": requeued.requeued,
                "reactivated": requeued.reactivated,
                "purged": purged,
                "sent": sent,
                "messages": rows,
            }
        )
    else:
        _print_outbox(requeued if retry_failed else None, sent, purged_or_none, counts, rows)
    if sent is not None and sent["error"]:
        raise DeliveryError(f"delivery stopped, messages stay queued: {sent['error']}")


def _print_outbox(
    requeued: outbox.Requeued | None,
    sent: dict[str, Any] | None,
    purged: int | None,
    counts: dict[str, int],
    rows: list[dict[str, Any]],
) -> None:
    if requeued is not None:
        out.print(
            f"queued {requeued.requeued} failed message(s) again; "
            f"reactivated {requeued.reactivated} bounced subscriber(s)"
        )
    if sent is not None:
        out.print(send_summary(sent), markup=False)
    if purged is not None:
        out.print(f"deleted {purged} sent message(s)")
    out.print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "the outbox is empty")
    if rows:
        print_table(
            None,
            ["id", "status", "to", "subject", "tries", "error"],
            [
                [
                    r["id"],
                    r["status"],
                    r["recipient"],
                    r["subject"],
                    _tries(r["attempts"], r["uncertain"]),
                    r["last_error"] or "",
                ]
                for r in rows
            ],
        )


def _tries(attempts: int, uncertain: int) -> str:
    """Attempts, and how many of them were never acknowledged: ``2 (2 unacknowledged)``."""
    return f"{attempts} ({uncertain} unacknowledged)" if uncertain else str(attempts)
