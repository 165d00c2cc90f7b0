"""Recovery: the sweep re-queues what a crash or a lost message left behind; failed rows retried."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    and_,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from alerts.core.models import (
    NOTICE_KINDS,
    Delivery,
    DeliveryStatus,
    FanOut,
    Item,
    ItemStatus,
    Journalist,
    JournalistStatus,
    Suppression,
)

# record() takes one: callers may name it from here.
from alerts.delivery.outcome import RetryPolicy as RetryPolicy
from alerts.delivery.store import _not_mailable


@dataclass(frozen=True)
class SweepResult:
    released_leases: int
    items_to_fan_out: list[int]
    requeue: list[int]


def sweep(
    session: Session, now: datetime, requeue_after: timedelta, limit: int = 10_000
) -> SweepResult:
    """Find the work the broker may have lost: the database does not lose it.

    - rows still ``sending`` after their lease (the worker died) go back to pending;
    - published items without a fan-out record get one;
    - pending rows that are due and were never queued, or queued long ago, are
      queued again (the claim's status guard makes a duplicate message harmless).
    """
    released = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now)
        .values(
            status=DeliveryStatus.PENDING,
            lease_expires_at=None,
            queued_at=None,
            last_reply="lease expired: the worker stopped before recording a result",
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    items = list(
        session.scalars(
            select(Item.id)
            .where(
                or_(
                    and_(
                        Item.status == ItemStatus.PUBLISHED,
                        Item.published_at <= now - requeue_after,
                    ),
                    and_(
                        Item.status == ItemStatus.EMBARGOED,
                        Item.updated_at <= now - requeue_after,
                    ),
                ),
                ~exists().where(FanOut.item_id == Item.id),
            )
            .order_by(Item.id)
        )
    )
    due = (
        select(Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            # A digest's rows travel in the digest, never on their own.
            Delivery.digest_id.is_(None),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            or_(Delivery.queued_at.is_(None), Delivery.queued_at < now - requeue_after),
        )
        .order_by(Delivery.id)
        .limit(limit)
        .scalar_subquery()
    )
    requeue = list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(due))
            .values(queued_at=now)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    return SweepResult(int(released or 0), items, sorted(requeue))


# How long after a correction (or embargo notice) its original's readers are still
# followed: a weekly digest brings an original up to a week later, and an email in
# flight when the notice went out is recorded sent after it.
CORRECTIONS_FOLLOW_FOR = timedelta(days=8)


def corrections_owed(session: Session, now: datetime, settle: timedelta) -> list[int]:
    """Recent corrections and notices whose original has since been sent to someone
    they have not reached (and who may still be mailed): their fan-out runs again.

    A notice about an embargo is owed only to those whose row for the original
    existed when it was published, as in its fan-out. Run now and then by the beat,
    not by every sweep: for a large original it reads every row that was sent.
    """
    original = Delivery.__table__.alias("original")
    correction = Delivery.__table__.alias("correction")
    missing = (
        select(original.c.id)
        .join(Journalist, Journalist.id == original.c.journalist_id)
        .where(
            original.c.item_id == Item.corrects_id,
            original.c.status == DeliveryStatus.SENT,
            or_(Item.kind.not_in(NOTICE_KINDS), original.c.created_at < Item.published_at),
            Journalist.status == JournalistStatus.ACTIVE,
            ~exists().where(Suppression.email == Journalist.email),
            # Correlated by hand: from within a JOIN, both would be read afresh.
            ~exists()
            .where(
                correction.c.item_id == Item.id,
                correction.c.journalist_id == original.c.journalist_id,
            )
            .correlate(Item, original),
        )
        .correlate(Item)
        .exists()
    )
    return list(
        session.scalars(
            select(Item.id)
            .where(
                Item.corrects_id.is_not(None),
                Item.status == ItemStatus.PUBLISHED,
                Item.published_at <= now - settle,
                Item.published_at > now - CORRECTIONS_FOLLOW_FOR,
                missing,
            )
            .order_by(Item.id)
        )
    )


def retry_failed(
    session: Session, item_id: int | None, now: datetime, since: datetime | None = None
) -> list[int]:
    """Put failed deliveries back (suppressed or gone journalists stay out).

    Those of one item, or (``item_id`` None) every one that failed since ``since``.

    A fresh ``created_at`` restarts the retry deadline for this new round; the
    rows are marked queued, and the caller enqueues them after commit.
    """
    return list(
        session.scalars(
            update(Delivery)
            .where(
                Delivery.item_id == item_id if item_id is not None else Delivery.id.is_not(None),
                Delivery.created_at >= since if since is not None else Delivery.id.is_not(None),
                Delivery.status == DeliveryStatus.FAILED,
                Delivery.digest_id.is_(None),
                ~Delivery.journalist_id.in_(select(Journalist.id).where(_not_mailable())),
            )
            .values(
                status=DeliveryStatus.PENDING, next_attempt_at=None, queued_at=now, created_at=now
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
