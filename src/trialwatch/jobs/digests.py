"""The digest job: for each due subscriber, assemble, render and queue one message.

``build_digests_once`` writes each digest row and advances its subscriptions'
cursors in one transaction, so a change is queued exactly once. Delivery is
:mod:`trialwatch.jobs.delivery`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import jinja2
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from trialwatch.digest.assemble import build_digest, near_filter
from trialwatch.digest.details import add_details, site_places, study_info
from trialwatch.digest.model import ChangeItem, Digest, Recipient, StudyInfo, SubscriptionPrefs
from trialwatch.digest.render import Moulds, render_digest
from trialwatch.digest.schedule import is_due
from trialwatch.errors import DeliveryError
from trialwatch.mail.outbox_rows import MailSettings, digest_row
from trialwatch.mail.signing import make_unsubscribe_token, manage_url, unsubscribe_url
from trialwatch.mail.templates import RenderedMessage
from trialwatch.registries.ctgov.summary import change_sites, summarise
from trialwatch.store import changes as change_store
from trialwatch.store import outbox
from trialwatch.store import studies as study_store
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker
from trialwatch.store.locks import exclusive_lock
from trialwatch.store.models import Subscriber, Subscription, Watchlist
from trialwatch.words import supported

log = logging.getLogger("trialwatch.jobs.digests")

BUILD_LOCK_NAME = "digest build"
BUILD_LOCK_WAIT = 600.0  # seconds a second builder waits for the first to finish


@dataclass
class BuildResult:
    subscribers: int = 0
    queued: int = 0
    empty: int = 0
    skipped: int = 0
    studies: int = 0
    changes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscribers": self.subscribers,
            "queued": self.queued,
            "empty": self.empty,
            "skipped": self.skipped,
            "studies": self.studies,
            "changes": self.changes,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Due:
    subscriber: Subscriber
    subscriptions: list[tuple[Subscription, Watchlist]]

    @property
    def locale(self) -> str:
        """The locale the digest is written in: the subscriber's, if TrialWatch speaks it."""
        return supported(self.subscriber.locale)


def _due_subscribers(session: Session, now: datetime, only_email: str | None) -> list[_Due]:
    due: dict[int, _Due] = {}
    for sub, subscriber, wl in subscriber_store.due_candidates(session, only_email):
        if only_email is None and not is_due(
            sub.frequency, sub.last_digest_at, now, subscriber.timezone
        ):
            continue
        due.setdefault(subscriber.id, _Due(subscriber, [])).subscriptions.append((sub, wl))
    return list(due.values())


def _recipient(subscriber: Subscriber, mail: MailSettings) -> Recipient:
    token = make_unsubscribe_token(mail.secret, subscriber.token)
    return Recipient(
        subscriber_id=subscriber.id,
        email=subscriber.email,
        name=subscriber.name,
        unsubscribe_url=unsubscribe_url(mail.public_url, token),
        manage_url=manage_url(mail.public_url, token),
    )


def _posted(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _change_items(session: Session, wl: Watchlist, after: int, upto: int) -> list[ChangeItem]:
    """The watchlist's mailable changes in ``(after, upto]`` as the digest model has them."""
    return [
        ChangeItem(
            change_id=row.id,
            watchlist_slug=wl.slug,
            watchlist_name=wl.name,
            nct_id=row.nct_id,
            kind=row.kind,
            summary=row.summary,
            significance=row.significance,  # type: ignore[arg-type]
            detected_at=row.detected_at,
            countries=tuple(row.countries or ()),
            sites=site_places(change_sites(row.kind, row.old, row.new)),
            posted=_posted(row.last_update_posted),
            message=row.message,
            params=row.params,
        )
        for row in change_store.change_feed(session, wl.id, after, upto)
    ]


def _study_infos(session: Session, nct_ids: list[str]) -> dict[str, StudyInfo]:
    """What the digest shows about each study: from its current record, else its row."""
    records = study_store.current_records_by_nct(session, nct_ids)
    infos = {nct: study_info(summarise(record)) for nct, record in records.items()}
    for nct, title, acronym, status in study_store.study_rows(session, nct_ids):
        if nct not in infos or not infos[nct].title:
            infos[nct] = StudyInfo(
                nct_id=nct, title=title, acronym=acronym, overall_status=status or "UNKNOWN"
            )
    return infos


def _assemble(
    session: Session,
    due: Iterable[_Due],
    now: datetime,
    horizon: int,
    mail: MailSettings,
) -> Iterable[tuple[_Due, Digest | None]]:
    """Yield each due subscriber with their digest (None: nothing to say)."""
    due = list(due)
    lowest: dict[int, tuple[Watchlist, int]] = {}
    for item in due:
        for sub, wl in item.subscriptions:
            if wl.id not in lowest or sub.cursor < lowest[wl.id][1]:
                lowest[wl.id] = (wl, sub.cursor)
    feed: dict[int, list[ChangeItem]] = {
        wl_id: _change_items(session, wl, after, horizon) for wl_id, (wl, after) in lowest.items()
    }
    studies = _study_infos(session, sorted({c.nct_id for items in feed.values() for c in items}))
    # Subscribers with the same locale, preferences and cursors get the same digest
    # content: assemble it once and give each their own recipient (links, name).
    # "And N more" links to the watchlist's page on the site, the same for everyone.
    # The locale is the one the digest is written in (two stored values that speak
    # the same language, "en" and "en-GB", share), so one content is one rendering.
    assembled: dict[tuple[str, tuple[SubscriptionPrefs, ...]], Digest | None] = {}
    for item in due:
        prefs = (
            item.locale,
            tuple(
                SubscriptionPrefs(
                    watchlist_slug=wl.slug,
                    minimum_significance=sub.min_significance,  # type: ignore[arg-type]
                    countries=tuple(sub.countries or ()),
                    event_kinds=tuple(sub.event_kinds or ()),
                    near=near_filter(
                        sub.near_label, sub.near_lat, sub.near_lon, sub.near_within_km
                    ),
                    cursor=sub.cursor,
                )
                for sub, wl in item.subscriptions
            ),
        )
        recipient = _recipient(item.subscriber, mail)
        if prefs not in assembled:
            changes = [
                c for sub, wl in item.subscriptions for c in feed[wl.id] if c.change_id > sub.cursor
            ]
            more_urls = {
                wl.slug: f"{mail.public_url.rstrip('/')}/w/{wl.slug}"
                for _, wl in item.subscriptions
            }
            digest = build_digest(
                recipient,
                prefs[1],
                changes,
                studies,
                now=now,
                max_studies=mail.max_studies,
                more_urls=more_urls,
            )
            assembled[prefs] = None if digest is None else add_details(digest, studies, changes)
        digest = assembled[prefs]
        yield item, None if digest is None else dataclasses.replace(digest, recipient=recipient)


def build_digests_once(
    engine: Engine,
    env: jinja2.Environment,
    mail: MailSettings,
    *,
    now: datetime,
    dry_run: bool = False,
    commit_every: int = 200,
    lock_wait: float = BUILD_LOCK_WAIT,
) -> BuildResult:
    """Queue one digest per due subscriber with something to say; advance cursors.

    One builder at a time across threads and processes (:data:`BUILD_LOCK_NAME`); a
    second caller waits up to ``lock_wait`` seconds and then finds only what became
    due since. Independently of the lock, a subscriber's digest is queued only if
    this builder moved each of their cursors from the value it read (compare and
    set, in the transaction of the insert), so no change is ever queued twice.
    """
    if dry_run:
        return _build(engine, env, mail, now=now, dry_run=True, commit_every=commit_every)
    with exclusive_lock(engine, BUILD_LOCK_NAME, wait=lock_wait):
        return _build(engine, env, mail, now=now, dry_run=False, commit_every=commit_every)


def _build(
    engine: Engine,
    env: jinja2.Environment,
    mail: MailSettings,
    *,
    now: datetime,
    dry_run: bool,
    commit_every: int,
) -> BuildResult:
    started = time.perf_counter()
    result = BuildResult()
    factory = make_sessionmaker(engine)
    session = factory()
    try:
        horizon = change_store.newest_change_id(session)
        due = _due_subscribers(session, now, None)
        batch = _CursorBatch()
        moulds = Moulds(env)
        for item, digest in _assemble(session, due, now, horizon, mail):
            result.subscribers += 1
            row: dict[str, Any] | None = None
            if digest is None:
                result.empty += 1
            else:
                if not dry_run:
                    try:
                        row = _outbox_row(
                            item, digest, moulds.render(digest, item.locale), mail, now
                        )
                    except DeliveryError as exc:  # an address no message can be built for
                        log.warning("digest skipped for subscriber %d: %s", item.subscriber.id, exc)
                        result.skipped += 1
                        continue
                result.queued += 1
                result.studies += digest.study_count
                result.changes += digest.change_count
            if not dry_run:
                batch.add(
                    item.subscriber.id, [(sub.id, sub.cursor) for sub, _ in item.subscriptions], row
                )
                if len(batch) >= commit_every:
                    result.queued -= batch.write(session, horizon, now)
                    session.commit()
        if dry_run:
            session.rollback()
        else:
            result.queued -= batch.write(session, horizon, now)
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    result.seconds = time.perf_counter() - started
    log.info(
        "digests built subscribers=%d queued=%d empty=%d dry_run=%s seconds=%.2f",
        result.subscribers,
        result.queued,
        result.empty,
        dry_run,
        result.seconds,
    )
    return result


@dataclass
class _Pending:
    """One subscriber's part of a batch: their subscriptions as read, and their row."""

    subscriber_id: int
    subscriptions: list[tuple[int, int]]  # (subscription id, cursor read)
    row: dict[str, Any] | None  # the outbox row, None when there was nothing to say


@dataclass
class _CursorBatch:
    """Subscriptions whose cursors move in the transaction that queues their digests."""

    pending: list[_Pending] = field(default_factory=list)

    def add(
        self, subscriber_id: int, subscriptions: list[tuple[int, int]], row: dict[str, Any] | None
    ) -> None:
        self.pending.append(_Pending(subscriber_id, subscriptions, row))

    def __len__(self) -> int:
        return len(self.pending)

    def write(self, session: Session, horizon: int, now: datetime) -> int:
        """Move cursors (compare and set), queue the rows of whoever moved; return rows lost.

        A cursor moves only from the value this builder read: one UPDATE per distinct
        value read (usually one), then one INSERT and one UPDATE for the batch. A
        subscriber any of whose cursors another builder moved first gets no row here,
        and the cursors moved for them are put back.
        """
        by_cursor: dict[int, list[int]] = {}
        for item in self.pending:
            for sub_id, cursor in item.subscriptions:
                if cursor < horizon:
                    by_cursor.setdefault(cursor, []).append(sub_id)
        moved = subscriber_store.advance_cursors(session, by_cursor, horizon)
        rows: list[dict[str, Any]] = []
        mailed: list[int] = []
        lost = 0
        for item in self.pending:
            wanted = [(s, c) for s, c in item.subscriptions if c < horizon]
            if all(s in moved for s, _ in wanted):
                if item.row is not None:
                    rows.append(item.row)
                    mailed.extend(s for s, _ in item.subscriptions)
                continue
            if item.row is not None:
                lost += 1
            log.warning(
                "digest not queued for subscriber %d: another builder moved the cursors first",
                item.subscriber_id,
            )
            for sub_id, cursor in wanted:
                if sub_id in moved:
                    subscriber_store.put_back_cursor(session, sub_id, cursor, horizon)
        outbox.queue(session, rows)
        subscriber_store.mark_mailed(session, mailed, now)
        self.pending = []
        return lost


def _outbox_row(
    item: _Due, digest: Digest, rendered: RenderedMessage, mail: MailSettings, now: datetime
) -> dict[str, Any]:
    """The outbox row that will carry one rendered digest."""
    subscriber = item.subscriber
    return digest_row(
        rendered,
        mail=mail,
        subscriber=(subscriber.id, subscriber.email, subscriber.name),
        unsubscribe_url=digest.recipient.unsubscribe_url,
        covered=digest.covered,
        counts=(digest.study_count, digest.change_count),
        now=now,
    )


def preview_digest(
    engine: Engine, env: jinja2.Environment, mail: MailSettings, email: str, *, now: datetime
) -> tuple[Digest | None, RenderedMessage | None]:
    """The next digest of one subscriber, rendered, touching nothing."""
    factory = make_sessionmaker(engine)
    with factory() as session:
        horizon = change_store.newest_change_id(session)
        due = _due_subscribers(session, now, email)
        for item, digest in _assemble(session, due, now, horizon, mail):
            if digest is None:
                return None, None
            return digest, render_digest(env, digest, item.locale)
        session.rollback()
    return None, None
