"""Digests: plan each journalist's daily or weekly email, claim it, record how it went.

A digest's items are reserved as delivery rows (``digest_id`` set) in the same
transaction that records the digest, so the (item, journalist) uniqueness of
deliveries is what keeps an item from reaching a journalist twice, whether
immediately or in an earlier digest. Every function is a guarded statement:
running it twice, or in two workers at once, changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from alerts.core.db import upsert_insert
from alerts.core.models import (
    DIGEST_CADENCES,
    NOTICE_KINDS,
    Cadence,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    ItemCountry,
    ItemStatus,
    ItemTopic,
    Journalist,
    JournalistStatus,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    Suppression,
)
from alerts.delivery.outcome import Outcome, RetryPolicy, Verdict
from alerts.delivery.store import suppress_address
from alerts.digests.schedule import InvalidSchedule, due_period, lookback, previous_cutoff

log = logging.getLogger(__name__)

# A digest is planned this long after its cutoff, so that an item published just
# before the cutoff has committed and is seen; later is harmless, the window is
# by publication time.
SETTLE = timedelta(minutes=2)


@dataclass(frozen=True)
class Due:
    journalist_id: int
    cadence: str
    period: date
    since: datetime
    cutoff: datetime


def due_digests(session: Session, now: datetime) -> list[Due]:
    """Every (journalist, cadence) whose latest due period has no digest yet.

    A run that comes late (a missed beat tick, a worker down for a day) finds
    the latest period only: one email, covering everything since the last one.
    """
    candidates = session.execute(
        select(
            Journalist.id,
            Journalist.timezone,
            Journalist.digest_minute,
            Journalist.digest_weekday,
            Subscription.cadence,
        )
        .join(Subscription, Subscription.journalist_id == Journalist.id)
        .where(
            Subscription.cadence.in_(DIGEST_CADENCES),
            Journalist.status == JournalistStatus.ACTIVE,
            Journalist.email.is_not(None),
        )
        .distinct()
    ).all()
    last = {
        (row.journalist_id, row.cadence): (row.period, row.cutoff)
        for row in session.execute(
            select(
                Digest.journalist_id,
                Digest.cadence,
                func.max(Digest.period).label("period"),
                func.max(Digest.cutoff).label("cutoff"),
            )
            # Only what a lookback can reach: older records change nothing.
            .where(Digest.cutoff >= now - 2 * lookback(Cadence.WEEKLY))
            .group_by(Digest.journalist_id, Digest.cadence)
        )
    }
    due = []
    for journalist_id, tz_name, minute, weekday, cadence in candidates:
        try:
            day, cutoff = due_period(now - SETTLE, cadence, tz_name, minute, weekday)
        except InvalidSchedule:
            # A zone this system's tzdata lacks must not stop everyone else's digests.
            log.warning("journalist_id=%s: unknown time zone %r, no digest", journalist_id, tz_name)
            continue
        previous = last.get((journalist_id, cadence))
        if previous is not None and previous[0] >= day.isoformat():
            continue
        since = (
            previous[1] if previous is not None else previous_cutoff(day, cadence, tz_name, minute)
        )
        since = min(max(since, cutoff - lookback(cadence)), cutoff)
        due.append(Due(journalist_id, cadence, day, since, cutoff))
    return due


def _matches(subscription_table: Any, column: Any, item_table: Any, item_column: Any) -> Any:
    return exists().where(
        subscription_table.subscription_id == Subscription.id,
        column == item_column,
        item_table.item_id == Item.id,
    )


def plan(session: Session, now: datetime) -> list[int]:
    """Record the digests due now and reserve their items; the ids of those to send.

    Digests with nothing new are recorded as empty, so the period counts as done.
    The caller commits, then queues the returned ids.
    """
    due = due_digests(session, now)
    if not due:
        return []
    created: list[int] = []
    insert = upsert_insert(session)
    for start in range(0, len(due), 1000):
        rows = [
            {
                "journalist_id": d.journalist_id,
                "cadence": d.cadence,
                "period": d.period.isoformat(),
                "since": d.since,
                "cutoff": d.cutoff,
                "status": DigestStatus.PENDING.value,
                "items": 0,
                "attempts": 0,
                "created_at": now,
                "queued_at": now,
            }
            for d in due[start : start + 1000]
        ]
        created += session.scalars(
            insert(Digest)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["journalist_id", "cadence", "period"])
            .returning(Digest.id)
        ).all()
    if not created:
        return []
    _reserve_items(session, created, now)
    counts = dict(
        session.execute(
            select(Delivery.digest_id, func.count())
            .where(Delivery.digest_id.in_(created))
            .group_by(Delivery.digest_id)
        ).all()
    )
    session.connection().execute(
        update(Digest)
        .where(Digest.id == bindparam("b_id"))
        .values(items=bindparam("b_items"), status=bindparam("b_status"))
        .execution_options(synchronize_session=False),
        [
            {
                "b_id": digest_id,
                "b_items": counts.get(digest_id, 0),
                "b_status": DigestStatus.PENDING if counts.get(digest_id) else DigestStatus.EMPTY,
            }
            for digest_id in created
        ],
    )
    return sorted(d for d in created if counts.get(d))


def _reserve_items(session: Session, digest_ids: list[int], now: datetime) -> None:
    """One INSERT … SELECT: a pending delivery, tied to its digest, per new matching item.

    ON CONFLICT skips every item the journalist already has a row for: sent
    immediately, in an earlier digest, or in another digest planned just now.
    """
    country_hit = _matches(
        SubscriptionCountry, SubscriptionCountry.country, ItemCountry, ItemCountry.country
    )
    topic_hit = _matches(SubscriptionTopic, SubscriptionTopic.topic, ItemTopic, ItemTopic.topic)
    at = literal(now, Delivery.__table__.c.created_at.type)
    rows = (
        select(
            Item.id,
            Digest.journalist_id,
            literal(DeliveryStatus.PENDING.value),
            literal(0),
            at,
            Digest.id,
        )
        .select_from(Digest)
        .join(
            Subscription,
            and_(
                Subscription.journalist_id == Digest.journalist_id,
                Subscription.cadence == Digest.cadence,
            ),
        )
        .join(Item, and_(Item.published_at > Digest.since, Item.published_at <= Digest.cutoff))
        .where(
            Digest.id.in_(digest_ids),
            Item.status == ItemStatus.PUBLISHED,
            # Corrections and notices go to those who got the original, never in digests.
            Item.corrects_id.is_(None),
            Item.kind.not_in(NOTICE_KINDS),
            or_(Subscription.all_countries, country_hit),
            or_(Subscription.all_topics, topic_hit),
        )
        .distinct()
    )
    session.execute(
        upsert_insert(session)(Delivery)
        .from_select(
            ["item_id", "journalist_id", "status", "attempts", "created_at", "digest_id"], rows
        )
        .on_conflict_do_nothing(index_elements=["item_id", "journalist_id"])
    )


@dataclass(frozen=True)
class ClaimedDigest:
    digest_id: int
    journalist_id: int
    email: str
    name: str
    language: str
    timezone: str
    cadence: str
    period: str
    attempts: int
    created_at: datetime
    items: list[Item]
    # What the journalist's subscriptions of this cadence name: the email groups by it.
    countries: frozenset[str]
    topics: frozenset[str]
    # The first of its delivery rows: the return path names it, so a bounce finds it.
    delivery_id: int


def _cancel(session: Session, digest_id: int, reason: str) -> None:
    session.execute(
        update(Digest)
        .where(Digest.id == digest_id)
        .values(status=DigestStatus.CANCELLED, lease_expires_at=None, last_reply=reason)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, last_reply=reason)
        .execution_options(synchronize_session=False)
    )


def claim(
    session: Session, digest_id: int, now: datetime, lease: timedelta
) -> ClaimedDigest | None:
    """Take a due, pending digest (pending → sending, with a lease), or None.

    A digest whose journalist can no longer be mailed, who left that digest, or
    whose items were all withdrawn meanwhile is cancelled instead.
    """
    taken = session.scalar(
        update(Digest)
        .where(
            Digest.id == digest_id,
            Digest.status == DigestStatus.PENDING,
            or_(Digest.next_attempt_at.is_(None), Digest.next_attempt_at <= now),
        )
        .values(
            status=DigestStatus.SENDING, attempts=Digest.attempts + 1, lease_expires_at=now + lease
        )
        .returning(Digest.id)
        .execution_options(synchronize_session=False)
    )
    if taken is None:
        return None
    digest = session.get(Digest, digest_id, populate_existing=True)
    journalist = session.get(Journalist, digest.journalist_id) if digest else None
    assert digest is not None
    if (
        journalist is None
        or journalist.email is None
        or journalist.status != JournalistStatus.ACTIVE
        or session.get(Suppression, journalist.email) is not None
    ):
        _cancel(session, digest_id, "cancelled: recipient unsubscribed or suppressed")
        return None
    if not session.scalar(
        select(
            exists().where(
                Subscription.journalist_id == journalist.id,
                Subscription.cadence == digest.cadence,
            )
        )
    ):
        _cancel(session, digest_id, f"cancelled: {digest.cadence} digest ended")
        return None
    session.execute(
        update(Delivery)
        .where(
            Delivery.digest_id == digest_id,
            Delivery.status == DeliveryStatus.PENDING,
            exists().where(Item.id == Delivery.item_id, Item.status != ItemStatus.PUBLISHED),
        )
        .values(status=DeliveryStatus.CANCELLED, last_reply="cancelled: item no longer published")
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(Delivery.id, Item)
        .join(Item, Item.id == Delivery.item_id)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.PENDING)
        .order_by(Delivery.id)
    ).all()
    if not rows:
        _cancel(session, digest_id, "cancelled: every item was withdrawn")
        return None
    mine = select(Subscription.id).where(
        Subscription.journalist_id == journalist.id, Subscription.cadence == digest.cadence
    )
    countries = session.scalars(
        select(SubscriptionCountry.country).where(SubscriptionCountry.subscription_id.in_(mine))
    )
    topics = session.scalars(
        select(SubscriptionTopic.topic).where(SubscriptionTopic.subscription_id.in_(mine))
    )
    return ClaimedDigest(
        digest_id=digest_id,
        journalist_id=journalist.id,
        email=journalist.email,
        name=journalist.name,
        language=journalist.language,
        timezone=journalist.timezone,
        cadence=digest.cadence,
        period=digest.period,
        attempts=digest.attempts,
        created_at=digest.created_at,
        items=[item for _, item in rows],
        countries=frozenset(countries),
        topics=frozenset(topics),
        delivery_id=rows[0][0],
    )


def record(
    session: Session,
    claimed: ClaimedDigest,
    outcome: Outcome,
    message_id: str,
    now: datetime,
    policy: RetryPolicy,
    not_before: datetime | None = None,
) -> str:
    """Write the attempt's outcome to the digest and its items; returns the digest's status.

    As for alerts: an accepted digest is recorded as sent whatever became of the
    lease; anything else applies only while this worker still holds it.
    """
    holds = and_(
        Digest.id == claimed.digest_id,
        Digest.status == DigestStatus.SENDING,
        Digest.attempts == claimed.attempts,
    )
    values: dict[str, Any] = {"last_reply": outcome.reply, "lease_expires_at": None}
    if outcome.verdict is Verdict.SENT:
        status = DigestStatus.SENT
        guard: Any = and_(
            Digest.id == claimed.digest_id,
            Digest.status.in_([DigestStatus.SENDING, DigestStatus.PENDING]),
        )
        values |= {"sent_at": now, "message_id": message_id}
    elif outcome.verdict is Verdict.RETRY and now - claimed.created_at < timedelta(
        seconds=policy.deadline_seconds
    ):
        status, guard = DigestStatus.PENDING, holds
        retry_at = now + timedelta(seconds=policy.delay(claimed.attempts))
        if not_before is not None and not_before > retry_at:
            retry_at = not_before
        values |= {"next_attempt_at": retry_at, "queued_at": None}
        if outcome.untried:
            values["attempts"] = claimed.attempts - 1
    else:
        status, guard = DigestStatus.FAILED, holds
    changed = session.scalar(
        update(Digest)
        .where(guard)
        .values(status=status, **values)
        .returning(Digest.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None or status is DigestStatus.PENDING:
        return status.value if changed is not None else "stale"
    session.execute(
        update(Delivery)
        .where(Delivery.digest_id == claimed.digest_id, Delivery.status == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.SENT if status is DigestStatus.SENT else DeliveryStatus.FAILED,
            attempts=claimed.attempts,
            sent_at=now if status is DigestStatus.SENT else None,
            message_id=message_id,
            last_reply=outcome.reply,
        )
        .execution_options(synchronize_session=False)
    )
    if outcome.verdict is Verdict.SUPPRESS:
        suppress_address(
            session, claimed.email, f"bounce: {outcome.reply}"[:200], now, claimed.journalist_id
        )
    return status.value


def sweep(session: Session, now: datetime, requeue_after: timedelta) -> list[int]:
    """Digests the broker may have lost: expired leases back to pending, then every due
    pending digest not queued lately is marked queued again; returns their ids."""
    session.execute(
        update(Digest)
        .where(Digest.status == DigestStatus.SENDING, Digest.lease_expires_at < now)
        .values(
            status=DigestStatus.PENDING,
            lease_expires_at=None,
            queued_at=None,
            last_reply="lease expired: the worker stopped before recording a result",
        )
        .execution_options(synchronize_session=False)
    )
    due = (
        select(Digest.id)
        .where(
            Digest.status == DigestStatus.PENDING,
            or_(Digest.next_attempt_at.is_(None), Digest.next_attempt_at <= now),
            or_(Digest.queued_at.is_(None), Digest.queued_at < now - requeue_after),
        )
        .order_by(Digest.id)
        .limit(10_000)
        .scalar_subquery()
    )
    return sorted(
        session.scalars(
            update(Digest)
            .where(Digest.id.in_(due))
            .values(queued_at=now)
            .returning(Digest.id)
            .execution_options(synchronize_session=False)
        ).all()
    )


def end_digest(session: Session, journalist_id: int, cadence: str) -> int:
    """Unsubscribing from a digest email: that digest ends, nothing else does.

    Returns how many subscriptions were removed. Digests of that cadence not yet
    sent are cancelled with their items.
    """
    removed = session.execute(
        delete(Subscription)
        .where(Subscription.journalist_id == journalist_id, Subscription.cadence == cadence)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    waiting = session.scalars(
        select(Digest.id).where(
            Digest.journalist_id == journalist_id,
            Digest.cadence == cadence,
            Digest.status == DigestStatus.PENDING,
        )
    ).all()
    for digest_id in waiting:
        _cancel(session, digest_id, f"cancelled: {cadence} digest ended")
    return int(removed or 0)


def items_of(session: Session, digest_id: int) -> list[int]:
    """The ids of the items a digest holds (for the record and the tests)."""
    return sorted(session.scalars(select(Delivery.item_id).where(Delivery.digest_id == digest_id)))
