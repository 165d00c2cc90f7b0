"""The store: typed SQLAlchemy 2 models. The delivery table is the source of truth."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
    update,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


# ``journalists.next_due_at`` of a row written by anyone but this code (a plain INSERT):
# long past, so the next planning tick looks at it. Written as SQLAlchemy writes a
# SQLite datetime, so the planner's compare-and-set matches it there too.
DUE_AT_ONCE = "1970-01-01 00:00:00.000000"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def due_at_once() -> datetime:
    """``next_due_at`` for "look at once": long past whatever the clock says (a clock set
    back, or a test travelling in time, must not postpone it), and a different value at
    each change (a microsecond per millisecond of real time), so that the planner's
    compare-and-set on the value it read notices a change made meanwhile."""
    return _EPOCH + (utcnow() - _EPOCH) / 1000


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every backend, always handed back timezone-aware.

    SQLite keeps no zone and PostgreSQL's ``timestamp`` follows the server's; storing
    UTC explicitly makes comparisons in SQL mean the same thing everywhere.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite raw strings from set-based statements
            value = datetime.fromisoformat(value)
        result: datetime = value.replace(tzinfo=UTC)
        return result


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ItemStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    # Sent at once to verified press only; everyone else hears of it when it lifts.
    EMBARGOED = "embargoed"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class NoticeKind(StrEnum):
    """Kinds of item the system writes itself, about an embargoed item, to its recipients."""

    EMBARGO_MOVED = "embargo_moved"
    EMBARGO_LIFTED = "embargo_lifted"
    WITHDRAWAL = "withdrawal"


NOTICE_KINDS = tuple(kind.value for kind in NoticeKind)


class JournalistStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"


class Cadence(StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


DIGEST_CADENCES = (Cadence.DAILY, Cadence.WEEKLY)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Item(Base):
    __tablename__ = "items"
    # The newsroom's newest-first lists and its count of visible items (migration 0013).
    __table_args__ = (Index("ix_items_newest", "status", "published_at", "id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="press_release")
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str] = mapped_column(String(16), default="en")
    campaign: Mapped[str | None] = mapped_column(String(300))
    # A correction is an item of its own, mailed only to those who got the original.
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.DRAFT, index=True)
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While embargoed: when it lifts. Kept afterwards, for the record.
    embargo_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A release as press offices write it (items/rich_fields.py has the shapes): the lead
    # photo, documents by media id, notes to editors (Markdown) and media contacts.
    # Notes and contacts left None are the newsroom's defaults (NewsroomDefaults).
    image: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)
    contacts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Why an imported entry was left a draft (its feed's lead photo could not be had), for
    # staff; cleared once they set a photo or publish. English, as the feed poller words it.
    import_problem: Mapped[str | None] = mapped_column(String(1000))

    country_rows: Mapped[list[ItemCountry]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    topic_rows: Mapped[list[ItemTopic]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    # Loaded only when read (the staff API's item, a new item's translations): emails and
    # pages pick one version with one query (items/translations.py).
    translation_rows: Mapped[list[ItemTranslation]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ItemTranslation.language"
    )

    @property
    def countries(self) -> list[str]:
        return sorted(r.country for r in self.country_rows)

    @property
    def topics(self) -> list[str]:
        return sorted(r.topic for r in self.topic_rows)


class ItemCountry(Base):
    __tablename__ = "item_countries"
    __table_args__ = (Index("ix_item_countries_country", "country", "item_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)


class ItemTopic(Base):
    __tablename__ = "item_topics"
    __table_args__ = (Index("ix_item_topics_topic", "topic", "item_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)


class FanOut(Base):
    """That an item's deliveries were created: the sweep fans out items without one."""

    __tablename__ = "fan_outs"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    matched: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=1)
    first_run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FanOutSlice(Base):
    """One range of journalist ids of an item's fan-out, done or still to do.

    The plan lets several worker processes match one item at once, each slice its
    own transaction, and lets a run that died half-way be finished where it
    stopped. The rows go when the fan-out is recorded.
    """

    __tablename__ = "fan_out_slices"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    first_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    # Planned under embargo (verified press only): a plan of the other kind is redone.
    verified_only: Mapped[bool] = mapped_column(Boolean, default=False)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class Journalist(Base):
    __tablename__ = "journalists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Nullable so that erasing a journalist keeps their delivery history anonymous.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    outlet: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    status: Mapped[str] = mapped_column(String(16), default=JournalistStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Digests go out at this local time (minutes after midnight) in this IANA zone;
    # weekly ones on this weekday (0 = Monday).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    digest_minute: Mapped[int] = mapped_column(Integer, default=480, server_default="480")
    digest_weekday: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When digest planning must look at this journalist again: their next digest's
    # cutoff (plus the planner's settling time), or at once after a change that could
    # bring one closer (see the listeners at the end); None when they have no digest.
    # Indexed, so that a tick with nothing due reads nothing.
    next_due_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=due_at_once, server_default=text(f"'{DUE_AT_ONCE}'"), index=True
    )
    # Verified press receive embargoed items before they lift.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by: Mapped[str | None] = mapped_column(String(200))

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="journalist", cascade="all, delete-orphan"
    )


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_cadence_journalist", "cadence", "journalist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    journalist_id: Mapped[int] = mapped_column(
        ForeignKey("journalists.id", ondelete="CASCADE"), index=True
    )
    cadence: Mapped[str] = mapped_column(String(16), default=Cadence.IMMEDIATE)
    # Denormalised "empty set means any", so matching needs no NOT EXISTS probe.
    all_countries: Mapped[bool] = mapped_column(Boolean, default=True)
    all_topics: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    journalist: Mapped[Journalist] = relationship(back_populates="subscriptions")
    country_rows: Mapped[list[SubscriptionCountry]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    topic_rows: Mapped[list[SubscriptionTopic]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def countries(self) -> list[str]:
        return sorted(r.country for r in self.country_rows)

    @property
    def topics(self) -> list[str]:
        return sorted(r.topic for r in self.topic_rows)


class SubscriptionCountry(Base):
    __tablename__ = "subscription_countries"
    __table_args__ = (Index("ix_subscription_countries_country", "country", "subscription_id"),)

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)


class SubscriptionTopic(Base):
    __tablename__ = "subscription_topics"
    __table_args__ = (Index("ix_subscription_topics_topic", "topic", "subscription_id"),)

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("item_id", "journalist_id", name="uq_deliveries_item_journalist"),
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_deliveries_item_status", "item_id", "status"),
        # No index by journalist: each fan-out row would enter it (migration 0019). A
        # one-click unsubscribe leaves pending alert rows to the claim, which cancels them.
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key (migration 0019): its check ran once per row, the same item each time.
    # The two writers of deliveries (delivery/fanout.py, digests/planning.py) lock their
    # items FOR KEY SHARE once per statement instead, and a trigger deletes an item's
    # deliveries with it, whoever deletes it.
    item_id: Mapped[int] = mapped_column(Integer)
    journalist_id: Mapped[int] = mapped_column(ForeignKey("journalists.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a send_batch message was last published for this row (a hint, see sweep).
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reply: Mapped[str | None] = mapped_column(String(1000))
    message_id: Mapped[str | None] = mapped_column(String(300))
    # Set when the item went out in a digest: the digest is what is sent, and
    # this row records (and reserves) the item for the journalist. No foreign key
    # (migration 0020): only the planner writes it, always a digest of its own
    # transaction, and the check cost a sixth of a planning chunk. A trigger sets it
    # to NULL when the digest is deleted, whoever deletes it.
    digest_id: Mapped[int | None] = mapped_column(Integer, index=True)


class DigestStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EMPTY = "empty"  # nothing matched this period: recorded, no email


class Digest(Base):
    """One journalist's digest for one period: at most one per (journalist, cadence, period).

    ``period`` is the local date the digest is due (ISO), so a DST change can
    neither make two of one day nor skip one. It lists the matching items
    published in (``since``, ``cutoff``].
    """

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("journalist_id", "cadence", "period", name="uq_digests_period"),
        Index("ix_digests_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    journalist_id: Mapped[int] = mapped_column(ForeignKey("journalists.id", ondelete="CASCADE"))
    cadence: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(10))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=DigestStatus.PENDING)
    items: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reply: Mapped[str | None] = mapped_column(String(1000))
    message_id: Mapped[str | None] = mapped_column(String(300))


class Suppression(Base):
    """Addresses never to be mailed again, whoever imports them."""

    __tablename__ = "suppressions"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnsubscribeMethod(StrEnum):
    ONE_CLICK = "one-click"  # RFC 8058 POST from the mail provider
    PAGE = "page"  # the button on the page behind the List-Unsubscribe link
    PREFERENCES = "preferences"  # "unsubscribe from everything" on the preferences page
    ERASED = "erased"  # the journalist asked us to forget them


class UnsubscribeEvent(Base):
    """When and how a journalist left: kept for the record and for the metrics."""

    __tablename__ = "unsubscribe_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    journalist_id: Mapped[int] = mapped_column(
        ForeignKey("journalists.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffRole(StrEnum):
    PUBLISHER = "publisher"  # items and journalists
    OPERATOR = "operator"  # queues, deliveries, retries
    ADMIN = "admin"  # everything, keys and erasure included


class ApiKey(Base):
    """A staff key: only its SHA-256 is kept; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A staff page session, kept here so that signing out or revoking the key ends it.

    The id is the SHA-256 of the random token in the cookie: a copy of this table
    opens no session.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Feed(Base):
    """A newsroom RSS/Atom feed polled by the beat; new entries become items once."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="press_release")
    # JSON: {"categories": {"<feed category>": {"topics": [...], "countries": [...]}}}
    topic_map: Mapped[str] = mapped_column(Text, default="{}")
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BounceKind(StrEnum):
    HARD = "hard"  # permanent: the address is suppressed at once
    SOFT = "soft"  # temporary: counted; suppressed after too many in a window
    COMPLAINT = "complaint"  # the journalist marked an alert as spam: suppressed


class BounceEvent(Base):
    """A bounce or complaint that came back to the VERP address of a delivery."""

    __tablename__ = "bounce_events"
    __table_args__ = (Index("ix_bounce_events_journalist_kind", "journalist_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    journalist_id: Mapped[int | None] = mapped_column(
        ForeignKey("journalists.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))  # RFC 3463 code, e.g. 5.1.1
    detail: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayBreaker(Base):
    """The circuit breaker of one SMTP relay, shared by every worker through the database."""

    __tablename__ = "relay_breakers"

    relay: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Media(Base):
    """A stored photo or document; its files are under the media folder, named by ``id``.

    The id is random, not a counter: a public URL must not let anyone list the
    photos and reports of releases still under embargo.
    """

    __tablename__ = "media"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "image" or "document"
    content_type: Mapped[str] = mapped_column(String(120))
    label: Mapped[str] = mapped_column(String(20))  # "JPEG", "PDF": shown to readers
    filename: Mapped[str] = mapped_column(String(300))  # the stored file's own name
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NewsroomDefaults(Base):
    """Notes to editors and media contacts set once by staff: every item without its own."""

    __tablename__ = "newsroom_defaults"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # one row, id 1
    notes: Mapped[str] = mapped_column(Text, default="")
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100))


class Duty(Base):
    """One periodic duty's heartbeat: what operators read to see that it still runs.

    ``registered_at`` is when a worker first knew of the duty, so a duty that has
    never run counts as overdue only once it has been expected for a while.
    """

    __tablename__ = "duties"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str | None] = mapped_column(String(1000))
    last_host: Mapped[str | None] = mapped_column(String(200))


class DutyRun(Base):
    """One run of a duty in one tick; the unique key lets only one worker run each tick."""

    __tablename__ = "duty_runs"
    __table_args__ = (UniqueConstraint("duty", "tick", name="uq_duty_runs_duty_tick"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    duty: Mapped[str] = mapped_column(String(64))
    # floor(epoch seconds / interval): the same number on every host within one interval.
    # None for a run asked for by hand: it takes no tick from the beats.
    tick: Mapped[int | None] = mapped_column(BigInteger)
    host: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    result: Mapped[str | None] = mapped_column(String(1000))


# --- keeping journalists.next_due_at honest -------------------------------------------
# Any change that could bring a digest closer (a zone, a time, a weekday, a status, a
# subscription added, changed or removed) sets it to "at once": the planner looks at that
# journalist on its next tick and works out the real next time. Looking early is always
# safe (planning is idempotent); looking late would lose a digest, so these listen on
# the mapping itself, whichever code path makes the change. Set-based writes that
# bypass the ORM set the column themselves (audience.csv_import).

_SCHEDULE_FIELDS = (
    Journalist.timezone,
    Journalist.digest_minute,
    Journalist.digest_weekday,
    Journalist.status,
    Journalist.email,
)


def _look_again(target: Journalist, *_: Any) -> None:
    target.next_due_at = due_at_once()


for _field in _SCHEDULE_FIELDS:
    event.listen(_field, "set", _look_again)
event.listen(Journalist.subscriptions, "append", _look_again)
event.listen(Journalist.subscriptions, "remove", _look_again)


def _look_again_at_owner(_mapper: Any, connection: Connection, target: Subscription) -> None:
    # A subscription saved or deleted on its own (its journalist not loaded, or its
    # cadence changed in place) reaches the journalist row directly.
    connection.execute(
        update(Journalist)
        .where(Journalist.id == target.journalist_id)
        .values(next_due_at=due_at_once())
    )


for _change in ("after_insert", "after_update", "after_delete"):
    event.listen(Subscription, _change, _look_again_at_owner)


class ClickLink(Base):
    """The links of an item's email in one language, numbered in document order, as first
    sent: a click token names (item, language, number) and the target comes from here."""

    __tablename__ = "click_links"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))


class ClickCount(Base):
    """Aggregate click counters: per item, kind (human or machine) and dimension
    (``all``, ``link``, ``country``, ``topic``, ``outlet``, ``hour``) with its value."""

    __tablename__ = "click_counts"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)


class ClickSeen(Base):
    """A keyed hash of (item, delivery, link, kind): counts a person once without
    keeping who they are. Deleted with the delivery record (retention)."""

    __tablename__ = "click_seen"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    mark: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ClickEvent(Base):
    """Who clicked what (ALERTS_TRACK_CLICKS=individual only); erased with the journalist."""

    __tablename__ = "click_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    journalist_id: Mapped[int] = mapped_column(
        ForeignKey("journalists.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ItemTranslation(Base):
    """An item's words in another language (items/translations.py). A field left None
    is the original's: a translation may give only the title and summary."""

    __tablename__ = "item_translations"
    __table_args__ = (UniqueConstraint("item_id", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    image_alt: Mapped[str | None] = mapped_column(String(300))
    image_caption: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    # Document titles by the document's media id (the item's attachments).
    document_titles: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
