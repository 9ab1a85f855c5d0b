"""``trialwatch subscriber add|list|remove|import``."""

from __future__ import annotations

import codecs
import csv
import difflib
import io
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import DBAPIError

from trialwatch.cli.common import JsonOpt, err, load_app, out, print_json, print_table
from trialwatch.config import not_utf8
from trialwatch.errors import ConfigError, TrialwatchError, first_line
from trialwatch.places import DEFAULT_WITHIN_KM
from trialwatch.services import subscriptions
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.models import Subscription
from trialwatch.store.subscribers import SubscriptionRequest

subscriber_app = typer.Typer(help="Manage digest subscribers.", no_args_is_help=True)
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
_UNCLOSED = "a quoted field is not closed on this line (no field may span lines)"


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
        typer.Option(
            "--country",
            "-c",
            help="Only trials with a site in this country (repeatable): a name, an alias"
            " or a code (Holland, NL), stored in the registry's spelling.",
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            "-k",
            help="Only these change kinds (repeatable): "
            + ", ".join(subscriptions.MAILED_KINDS)
            + ".",
        ),
    ] = None,
    near: Annotated[
        str | None,
        typer.Option(
            "--near",
            help='Only trials with a site near this place: "City", "City, Country" or'
            ' "lat, lon" (resolved offline; sites without coordinates do not count).',
        ),
    ] = None,
    within: Annotated[
        float | None,
        typer.Option(
            "--within",
            help=f"With --near: the distance in km (default {DEFAULT_WITHIN_KM:g}).",
        ),
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
        near=subscriptions.near_spec(near, within),
    )
    with app.session() as session:
        request = subscriptions.check_request(session, request)
        subscriber = subscriber_store.subscribe(session, request, app.now())
        data = {"id": subscriber.id, "email": subscriber.email, "status": subscriber.status}
    if json_output:
        print_json(data)
        return
    where = f", near {request.near.label} ({request.near.within_km:g} km)" if request.near else ""
    out.print(
        f"subscribed {data['email']} to {', '.join(watchlist)} ({frequency}, {significance}{where})"
    )


def _near_json(sub: Subscription) -> dict[str, Any] | None:
    if sub.near_label is None:
        return None
    return {
        "place": sub.near_label,
        "lat": sub.near_lat,
        "lon": sub.near_lon,
        "within_km": sub.near_within_km,
    }


def _described(sub: dict[str, Any]) -> str:
    """One subscription as the table shows it: "mmn (daily, major, near Leiden, ... (100 km))"."""
    parts = [sub["frequency"], sub["significance"]]
    if sub["countries"]:
        parts.append("in " + "; ".join(sub["countries"]))
    if sub["kinds"]:
        parts.append("kinds " + "; ".join(sub["kinds"]))
    if sub["near"]:
        parts.append(f"near {sub['near']['place']} ({sub['near']['within_km']:g} km)")
    return f"{sub['watchlist']} ({', '.join(parts)})"


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
                        "near": _near_json(sub),
                        "cursor": sub.cursor,
                        "last_digest_at": sub.last_digest_at.isoformat()
                        if sub.last_digest_at
                        else None,
                    }
                    for sub, wl in subs
                ],
            }
            for s, subs in subscriber_store.list_subscribers(session, watchlist)
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
                ", ".join(_described(s) for s in r["subscriptions"]),
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
        subscriber = subscriber_store.get_subscriber(session, email)
        if purge:
            subscriber_store.purge(session, subscriber)
            out.print(f"deleted {subscriber.email}")
            return
        removed = subscriber_store.unsubscribe(session, subscriber, app.now(), watchlist or ())
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
    header, records = _read_csv(path)
    _check_header(path, header)
    imported, errors = 0, list[dict[str, Any]]()
    now = app.now()
    with app.session() as session:
        for line, fields, problem in records:
            if problem is not None:
                errors.append({"line": line, "error": problem})
                continue
            row = dict(zip(header, fields, strict=False))
            try:
                request = subscriptions.check_request(
                    session,
                    SubscriptionRequest(
                        email=row.get("email") or "",
                        watchlists=_split(row.get("watchlists")),
                        name=row.get("name") or None,
                        frequency=(row.get("frequency") or "daily").strip(),
                        significance=(row.get("significance") or "major").strip(),
                        countries=_split(row.get("countries")),
                        kinds=_split(row.get("kinds")),
                        timezone=(row.get("timezone") or "UTC").strip(),
                    ),
                )
                with session.begin_nested():
                    subscriber_store.subscribe(session, request, now)
                imported += 1
            except TrialwatchError as exc:
                errors.append({"line": line, "error": str(exc)})
            except DBAPIError as exc:  # the row is rolled back to its savepoint, not the rest
                errors.append({"line": line, "error": f"database: {first_line(exc.orig)}"})
    if json_output:
        print_json({"imported": imported, "errors": errors})
    else:
        for rejected in errors:
            err.print(f"{path}: line {rejected['line']}: {rejected['error']}", soft_wrap=True)
        out.print(f"imported {imported} subscriber(s), {len(errors)} row(s) rejected")
    if errors:
        raise typer.Exit(1)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str], str | None]]]:
    """The header and the records of a UTF-8 CSV file: (line, fields, problem) each.

    No field of an import may span lines, so a record that does (a quote left open)
    is reported at the line where it starts, and reading goes on at the next line:
    one stray quote never swallows the rows after it.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(f"{path}: the file is UTF-16 text: save it as UTF-8 CSV")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc
    lines = io.StringIO(text, newline="").readlines()
    records: list[tuple[int, list[str], str | None]] = []
    start = 0  # index in ``lines`` where the current reader began
    while start < len(lines):
        reader = csv.reader(lines[start:], strict=True)
        done = 0  # lines of ``lines[start:]`` consumed by complete, one-line records
        try:
            for fields in reader:
                line = start + done + 1
                if reader.line_num - done > 1:
                    records.append((line, [], _UNCLOSED))
                    break
                done = reader.line_num
                if fields:
                    records.append((line, fields, None))
            else:
                break
        except csv.Error as exc:
            unclosed = "unexpected end of data" in str(exc)
            records.append(
                (start + done + 1, [], _UNCLOSED if unclosed else f"malformed CSV: {exc}")
            )
        start += done + 1
    if not records:
        raise ConfigError(f"{path}: line 1: missing column(s) email, watchlists")
    line, header, header_problem = records[0]
    if header_problem is not None:
        raise ConfigError(f"{path}: line {line}: header row: {header_problem}")
    return [h.strip() for h in header], records[1:]


def _check_header(path: Path, header: list[str]) -> None:
    """ConfigError for a missing required column or one that is not an import column.

    An unknown column (``country`` for ``countries``) would be ignored, importing
    people without the filter they asked for: it is refused, naming the closest.
    """
    missing = {"email", "watchlists"} - set(header)
    if missing:
        raise ConfigError(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}")
    for name in header:
        if name not in IMPORT_COLUMNS:
            close = difflib.get_close_matches(name.lower(), IMPORT_COLUMNS, n=1, cutoff=0.5)
            hint = f"closest: {close[0]}" if close else f"known: {', '.join(IMPORT_COLUMNS)}"
            raise ConfigError(f"{path}: line 1: unknown column '{name}' ({hint})")


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v.strip() for v in value.replace("|", ";").split(";") if v.strip())
