"""``trialwatch subscriber add|list|remove|import``."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from trialwatch.cli.common import err, load_app, out, print_json, print_table
from trialwatch.errors import ConfigError, TrialwatchError
from trialwatch.store import subscriber_repo
from trialwatch.store.subscriber_repo import SubscriptionRequest

subscriber_app = typer.Typer(help="Manage digest subscribers.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
IMPORT_COLUMNS = (
    "email",
    "name",
    "watchlists",
    "frequency",
    "significance",
    "countries",
    "kinds",
    "timezone",
)


@subscriber_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    watchlist: Annotated[
        list[str], typer.Option("--watchlist", "-w", help="Watchlist slug (repeatable).")
    ],
    name: Annotated[str | None, typer.Option("--name", help="Name used in the greeting.")] = None,
    frequency: Annotated[
        str, typer.Option("--frequency", "-f", help="immediate, daily or weekly.")
    ] = "daily",
    significance: Annotated[
        str, typer.Option("--significance", "-s", help="major or minor (minor includes major).")
    ] = "major",
    country: Annotated[
        list[str] | None,
        typer.Option("--country", "-c", help="Only site changes in this country (repeatable)."),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", "-k", help="Only these change kinds, e.g. new_study (repeatable)."),
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone for daily digests.")
    ] = "UTC",
    json_output: JsonOpt = False,
) -> None:
    """Subscribe an address to watchlists (updates the preferences if already subscribed)."""
    app = load_app()
    request = SubscriptionRequest(
        email=email,
        watchlists=tuple(watchlist),
        name=name,
        frequency=frequency,
        significance=significance,
        countries=tuple(country or ()),
        kinds=tuple(kind or ()),
        timezone=timezone,
    )
    with app.session() as session:
        subscriber = subscriber_repo.subscribe(session, request, datetime.now(UTC))
        data = {"id": subscriber.id, "email": subscriber.email, "status": subscriber.status}
    if json_output:
        print_json(data)
    else:
        out.print(
            f"subscribed {data['email']} to {', '.join(watchlist)} ({frequency}, {significance})"
        )


@subscriber_app.command("list")
def list_(
    watchlist: Annotated[
        str | None, typer.Option("--watchlist", "-w", help="Only subscribers of this watchlist.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """List subscribers with their subscriptions."""
    app = load_app()
    with app.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "email": s.email,
                "name": s.name,
                "status": s.status,
                "timezone": s.timezone,
                "subscriptions": [
                    {
                        "watchlist": wl.slug,
                        "frequency": sub.frequency,
                        "significance": sub.min_significance,
                        "countries": sub.countries,
                        "kinds": sub.event_kinds,
                        "cursor": sub.cursor,
                        "last_digest_at": sub.last_digest_at.isoformat()
                        if sub.last_digest_at
                        else None,
                    }
                    for sub, wl in subs
                ],
            }
            for s, subs in subscriber_repo.list_subscribers(session, watchlist)
        ]
    if json_output:
        print_json(rows)
        return
    print_table(
        None,
        ["email", "name", "status", "subscriptions"],
        [
            [
                r["email"],
                r["name"],
                r["status"],
                ", ".join(
                    f"{s['watchlist']} ({s['frequency']}, {s['significance']})"
                    for s in r["subscriptions"]
                ),
            ]
            for r in rows
        ],
    )


@subscriber_app.command("remove")
def remove(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    watchlist: Annotated[
        list[str] | None,
        typer.Option("--watchlist", "-w", help="Only this subscription (repeatable)."),
    ] = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="Delete the subscriber and their messages entirely.")
    ] = False,
) -> None:
    """Unsubscribe an address from some or all watchlists (or purge it)."""
    app = load_app()
    with app.session() as session:
        subscriber = subscriber_repo.get_subscriber(session, email)
        if purge:
            subscriber_repo.purge(session, subscriber)
            out.print(f"deleted {subscriber.email}")
            return
        removed = subscriber_repo.unsubscribe(
            session, subscriber, datetime.now(UTC), watchlist or ()
        )
        out.print(
            f"removed {removed} subscription(s) of {subscriber.email} (status {subscriber.status})"
        )


@subscriber_app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help=f"CSV with a header row: {', '.join(IMPORT_COLUMNS)}"
            " (watchlists, countries and kinds separated by ';')."
        ),
    ],
    json_output: JsonOpt = False,
) -> None:
    """Import subscribers from CSV: good rows are imported, bad rows reported by line."""
    app = load_app()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = {"email", "watchlists"} - set(reader.fieldnames or ())
    if missing:
        raise ConfigError(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}")
    imported, errors = 0, []
    now = datetime.now(UTC)
    with app.session() as session:
        for row in reader:
            line = reader.line_num
            request = SubscriptionRequest(
                email=row.get("email") or "",
                watchlists=_split(row.get("watchlists")),
                name=row.get("name") or None,
                frequency=(row.get("frequency") or "daily").strip(),
                significance=(row.get("significance") or "major").strip(),
                countries=_split(row.get("countries")),
                kinds=_split(row.get("kinds")),
                timezone=(row.get("timezone") or "UTC").strip(),
            )
            try:
                with session.begin_nested():
                    subscriber_repo.subscribe(session, request, now)
                imported += 1
            except TrialwatchError as exc:
                errors.append({"line": line, "error": str(exc)})
    if json_output:
        print_json({"imported": imported, "errors": errors})
    else:
        for problem in errors:
            err.print(
                f"{path}: line {problem['line']}: {problem['error']}", markup=False, soft_wrap=True
            )
        out.print(f"imported {imported} subscriber(s), {len(errors)} row(s) rejected")
    if errors:
        raise typer.Exit(1)


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v.strip() for v in value.replace("|", ";").split(";") if v.strip())
