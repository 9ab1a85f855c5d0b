"""SQLAlchemy models: the database schema of TrialWatch.

Times are stored in UTC. A study's full record is kept, for every version, as
canonical JSON text (sorted keys, no whitespace); ``content_hash`` is the
SHA-256 of exactly that text, so a stored version can always be re-verified.

Over 400 lines because the whole schema is here, one class per table, so it reads
in one place and the migrations are compared with one metadata.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Watchlist(Base):
    __tablename__ = "watchlist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[dict[str, Any]]
    schedule: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(500), default="")
    # Newest lastUpdatePostDate seen by a successful sync; incremental syncs start there.
    sync_cursor: Mapped[date | None] = mapped_column(Date)
    last_synced_at: Mapped[datetime | None]
    # The criteria (their hash) and the registry's dataTimestamp of the last successful
    # sync: changed criteria make the next sync full; an unchanged timestamp means
    # nothing new was published.
    criteria_hash: Mapped[str | None] = mapped_column(String(64))
    data_timestamp: Mapped[str | None] = mapped_column(String(40))
    # When a sync last listed the whole membership (departures come from such listings).
    members_listed_at: Mapped[datetime | None]
    # The registries this watchlist searches, by name (see trialwatch.registries).
    registries: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["ctgov"], server_default='["ctgov"]'
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A study is named by its registry and the registry's ID for it.
    registry_name: Mapped[str] = mapped_column(
        "registry", String(20), default="ctgov", server_default="ctgov"
    )
    registry_id: Mapped[str] = mapped_column(String(64))
    # The NCT ID of a ClinicalTrials.gov study (readable for one release; prefer registry_id).
    nct_id: Mapped[str | None] = mapped_column(String(11), unique=True)
    current_version: Mapped[int] = mapped_column(Integer)
    current_hash: Mapped[str] = mapped_column(String(64))
    brief_title: Mapped[str] = mapped_column(Text, default="")
    acronym: Mapped[str | None] = mapped_column(String(200))
    overall_status: Mapped[str | None] = mapped_column(String(40))
    phases: Mapped[str] = mapped_column(String(100), default="")
    last_update_posted: Mapped[str | None] = mapped_column(String(10))
    has_results: Mapped[bool] = mapped_column(Boolean, default=False)
    # Listing columns of the current version, so pages never parse records.
    lead_sponsor: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    countries: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("registry", "registry_id"),)


class SyncRun(Base):
    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlist.id", ondelete="CASCADE"))
    registry_name: Mapped[str] = mapped_column(
        "registry", String(20), default="ctgov", server_default="ctgov"
    )
    mode: Mapped[str] = mapped_column(String(20))  # full | incremental
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    api_url: Mapped[str] = mapped_column(String(500))
    data_timestamp: Mapped[str | None] = mapped_column(String(40))
    cursor_before: Mapped[date | None] = mapped_column(Date)
    cursor_after: Mapped[date | None] = mapped_column(Date)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    left: Mapped[int] = mapped_column(Integer, default=0)
    # Records the run could not store (malformed), and the first reason with its place.
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skip_reason: Mapped[str | None] = mapped_column(Text)
    # Top-level record sections this run met that TrialWatch does not know (format drift).
    unknown_sections: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Records whose fields had another JSON type than the spec gives (stored, not diffed),
    # and what drifted, each "<field path>: <type>, expected <type>" (the registry's paths).
    drifted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    drift: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Members the run's listing of the whole membership found (full runs, and incremental
    # ones that listed); NULL when it listed none. The drop alert compares these.
    listed: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_sync_run_watchlist_started", "watchlist_id", "started_at"),)


class StudyVersion(Base):
    __tablename__ = "study_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)
    # The version's posted date (lastUpdatePostDate for ClinicalTrials.gov).
    last_update_posted: Mapped[str | None] = mapped_column(String(10))
    # "sync" (seen current by a sync) or "history" (a past version from the registry).
    source: Mapped[str] = mapped_column(String(10), default="sync", server_default="sync")
    # The registry's own number for this version, where it has one.
    registry_version: Mapped[str | None] = mapped_column(String(40))
    fetched_at: Mapped[datetime]
    sync_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_run.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (UniqueConstraint("study_id", "version"),)


class StudyLink(Base):
    """A registration a study's record names for itself (an identity graph, never a merge).

    ``version_id`` is the version that first asserted it; ``withdrawn_at`` is set when a
    later version no longer says it (and cleared if one says it again).
    """

    __tablename__ = "study_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    registry_name: Mapped[str] = mapped_column("registry", String(20))
    registry_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("study_version.id", ondelete="SET NULL")
    )
    asserted_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("study_id", "registry", "registry_id"),
        Index("ix_study_link_registry", "registry", "registry_id"),
    )


class WatchlistStudy(Base):
    __tablename__ = "watchlist_study"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlist.id", ondelete="CASCADE"), primary_key=True
    )
    study_id: Mapped[int] = mapped_column(
        ForeignKey("study.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_matched_at: Mapped[datetime]
    last_matched_at: Mapped[datetime]
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    left_at: Mapped[datetime | None]


class Change(Base):
    """One plain-language change of a study, detected when a version was stored.

    ``watchlist_id`` is set for membership changes (a study joining or leaving one
    watchlist); study-level changes (``watchlist_id`` NULL) concern every watchlist
    the study belongs to.
    """

    __tablename__ = "change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("study_version.id", ondelete="CASCADE"), index=True
    )
    watchlist_id: Mapped[int | None] = mapped_column(
        ForeignKey("watchlist.id", ondelete="CASCADE"), index=True
    )
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str] = mapped_column(Text)
    old: Mapped[Any | None] = mapped_column(JSON)
    new: Mapped[Any | None] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    # What the change says as a message key and its parameters (trialwatch.words);
    # NULL on rows written before 0011, whose English summary stands.
    message: Mapped[str | None] = mapped_column(String(60))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    significance: Mapped[str] = mapped_column(String(10))
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Found between past versions (history): shown, never mailed.
    historical: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    detected_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_change_study_id", "study_id", "id"),
        Index("ix_change_detected_at", "detected_at"),
    )


class Subscriber(Base):
    __tablename__ = "subscriber"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # A random opaque identifier: signed mail links carry it, never the address.
    token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(24)
    )
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # pending | active | unsubscribed | bounced
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    # When the last confirmation email was queued (rate limit; dates the link).
    confirm_sent_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    bounced_at: Mapped[datetime | None]


class Subscription(Base):
    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlist.id", ondelete="CASCADE"), index=True
    )
    frequency: Mapped[str] = mapped_column(String(20))  # immediate | daily | weekly
    min_significance: Mapped[str] = mapped_column(String(10))  # major | minor
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    event_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "Near me": a resolved place ("Leiden, Netherlands"), its coordinates, a radius in km.
    near_label: Mapped[str | None] = mapped_column(String(200))
    near_lat: Mapped[float | None] = mapped_column(Float)
    near_lon: Mapped[float | None] = mapped_column(Float)
    near_within_km: Mapped[float | None] = mapped_column(Float)
    # The last change id considered for this subscription (delivered or filtered out).
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    last_digest_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("subscriber_id", "watchlist_id"),)


class Digest(Base):
    """The outbox: one rendered message per row, delivered at most once per claim."""

    __tablename__ = "digest"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for alert mails to admins, who need not be subscribers.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), default="digest")  # digest | confirm | alert
    # queued | sending | sent | unconfirmed (data sent, never acknowledged) | failed
    status: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)  # the full RFC 5322 message
    covered: Mapped[dict[str, Any]]  # {watchlist slug: [first change id, last change id]}
    study_count: Mapped[int] = mapped_column(Integer, default=0)
    change_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    # Who holds the claim (a sender's lease owner name): only it, or anyone once its
    # lease is gone, may release the claim.
    claim_owner: Mapped[str | None] = mapped_column(String(200))
    # Attempts whose data was sent but never acknowledged (the server may have it).
    uncertain: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_digest_status_next", "status", "next_attempt_at"),)


class Lease(Base):
    """One row per leader role: who holds it and until when (renewed by the holder)."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))  # host:pid:start
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class HealthAlert(Base):
    """One row per alert condition: mailed once when it starts and once when it clears."""

    __tablename__ = "health_alert"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. "stale:mmn"
    kind: Mapped[str] = mapped_column(String(40))
    watchlist_id: Mapped[int | None] = mapped_column(ForeignKey("watchlist.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]


class ConfirmationRequest(Base):
    """One subscribe request as its confirmation mail described it.

    A confirmation link names one request; confirming applies exactly ``choices``,
    whatever later requests for the same address asked.
    """

    __tablename__ = "confirmation_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    # A random identifier that the signed link carries.
    nonce: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(18)
    )
    choices: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class RateLimit(Base):
    """Hits of one limited key (``subscribe:ip:127.0.0.1``) in one fixed window."""

    __tablename__ = "rate_limit"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_rate_limit_window_start", "window_start"),)


class WebSession(Base):
    """A signed-in admin session; logout revokes it for every web process."""

    __tablename__ = "web_session"

    # SHA-256 of the session id the cookie carries (the cookie alone can sign in).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
