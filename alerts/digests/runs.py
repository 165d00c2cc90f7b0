"""Digests: claim a planned digest, record how it went, sweep and end them.

A digest's items are reserved as delivery rows (``digest_id`` set) when it is
planned (`digests.planning`), so the (item, journalist) uniqueness of
deliveries is what keeps an item from reaching a journalist twice, whether
immediately or in an earlier digest. Every function is a guarded statement:
running it twice, or in two workers at once, changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    ItemStatus,
    Journalist,
    JournalistStatus,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    Suppression,
)
from alerts.delivery.outcome import Outcome, RetryPolicy, Verdict
from alerts.delivery.store import suppress_address


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
    # Each item's delivery row: its click tokens name it (digests/links.py).
    item_deliveries: dict[int, int] = field(default_factory=dict)


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
        item_deliveries={item.id: delivery_id for delivery_id, item in rows},
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
