"""Planning digests: each daily or weekly digest that came due, recorded once, its items reserved.

The items are reserved as delivery rows (``digest_id`` set) in the same
transaction that records the digest, so the (item, journalist) uniqueness of
deliveries keeps an item from reaching a journalist twice. Planning twice, or in
two workers at once, changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, exists, func, literal, or_, select, text, update
from sqlalchemy.orm import Session

from alerts.core.bulk import among, insert_new, int_array, pg_array
from alerts.core.db import upsert_insert
from alerts.core.models import (
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
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
)
from alerts.digests.due import Candidate, candidates, candidates_among, next_look, set_next
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


def due_digests(session: Session, now: datetime, chunk: list[Candidate]) -> list[Due]:
    """Of these journalists, every (journalist, cadence) whose latest due period has no digest.

    A run that comes late (a missed beat tick, a worker down for a day) finds
    the latest period only: one email, covering everything since the last one.
    """
    ids = [c.journalist_id for c in chunk if c.cadences]
    if not ids:
        return []
    last = {
        (row.journalist_id, row.cadence): (row.period, row.cutoff)
        for row in session.execute(
            select(
                Digest.journalist_id,
                Digest.cadence,
                func.max(Digest.period).label("period"),
                func.max(Digest.cutoff).label("cutoff"),
            )
            .where(
                among(session, Digest.journalist_id, ids),
                # Only what a lookback can reach: older records change nothing.
                Digest.cutoff >= now - 2 * lookback(Cadence.WEEKLY),
            )
            .group_by(Digest.journalist_id, Digest.cadence)
        )
    }
    due = []
    for c in chunk:
        for cadence in c.cadences:
            try:
                day, cutoff = due_period(now - SETTLE, cadence, c.timezone, c.minute, c.weekday)
            except InvalidSchedule:
                # A zone this system's tzdata lacks must not stop everyone else's digests.
                log.warning(
                    "journalist_id=%s: unknown time zone %r, no digest", c.journalist_id, c.timezone
                )
                continue
            previous = last.get((c.journalist_id, cadence))
            if previous is not None and previous[0] >= day.isoformat():
                continue
            since = (
                previous[1]
                if previous is not None
                else previous_cutoff(day, cadence, c.timezone, c.minute)
            )
            since = min(max(since, cutoff - lookback(cadence)), cutoff)
            due.append(Due(c.journalist_id, cadence, day, since, cutoff))
    return due


def _matches(subscription_table: Any, column: Any, item_table: Any, item_column: Any) -> Any:
    return exists().where(
        subscription_table.subscription_id == Subscription.id,
        column == item_column,
        item_table.item_id == Item.id,
    )


def plan(session: Session, now: datetime) -> list[int]:
    """Record the digests due now and reserve their items; the ids of those to send.

    Only the journalists whose ``next_due_at`` has come are read, a chunk at a time;
    each is given the time of their next look. Digests with nothing new are recorded
    as empty, so the period counts as done. The caller commits, then queues the ids.
    """
    planned: list[int] = []
    for chunk in candidates(session, now):
        planned += _plan_chunk(session, now, chunk)
    return sorted(planned)


def plan_among(session: Session, now: datetime, ids: list[int]) -> list[int]:
    """``plan`` for these journalists only (a chunk of ``due.due_ids``): see digests.lanes."""
    return _plan_chunk(session, now, candidates_among(session, now, ids))


def _plan_chunk(session: Session, now: datetime, chunk: list[Candidate]) -> list[int]:
    planned = _record(session, due_digests(session, now, chunk), now)
    set_next(session, [(c, next_look(c, now, SETTLE)) for c in chunk])
    return planned


def schedule_all(session: Session, now: datetime) -> None:
    """Give every journalist looked at by ``now`` their next look, planning nothing.

    Those with a period due and not yet recorded stay due, for the next tick to plan
    (the migration that added ``next_due_at`` runs this over every row).
    """
    for chunk in candidates(session, now):
        waiting = {d.journalist_id for d in due_digests(session, now, chunk)}
        # Those waiting keep their value ("at once"); the others get their next look.
        set_next(
            session,
            [(c, next_look(c, now, SETTLE)) for c in chunk if c.journalist_id not in waiting],
        )


def _record(session: Session, due: list[Due], now: datetime) -> list[int]:
    """Record these digests once each, reserve their items; the ids of those with items."""
    if not due:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _record_in_one_statement(session, due, now)
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
        for d in due
    ]
    created = insert_new(
        session, cast(Table, Digest.__table__), rows, ("journalist_id", "cadence", "period")
    )
    if not created:
        return []
    _reserve_items(session, created, now, min(d.since for d in due), max(d.cutoff for d in due))
    # The items each holds, counted and written in one statement; those with none are
    # recorded as empty (the period is done, no email).
    held = (
        select(func.count())
        .where(Delivery.digest_id == Digest.id)
        .correlate(Digest)
        .scalar_subquery()
    )
    session.execute(
        update(Digest)
        .where(among(session, Digest.id, created))
        .values(
            items=held,
            status=case((held == 0, DigestStatus.EMPTY.value), else_=Digest.status),
        )
        .execution_options(synchronize_session=False)
    )
    with_items = select(Digest.id).where(among(session, Digest.id, created), Digest.items > 0)
    return list(session.scalars(with_items))


def _digest_items(since: datetime, cutoff: datetime) -> Any:
    """The items any digest of the window may hold."""
    return and_(
        Item.published_at > since,
        Item.published_at <= cutoff,
        Item.status == ItemStatus.PUBLISHED,
        # Corrections and notices go to those who got the original, never in digests.
        Item.corrects_id.is_(None),
        Item.kind.not_in(NOTICE_KINDS),
    )


def _reserve_items(
    session: Session, digest_ids: list[int], now: datetime, since: datetime, cutoff: datetime
) -> None:
    """One INSERT … SELECT: a pending delivery, tied to its digest, per new matching item.

    ON CONFLICT skips every item the journalist already has a row for: sent
    immediately, in an earlier digest, or in another digest planned just now.

    The items of the chunk's window (``since``, ``cutoff``] are locked ``FOR KEY
    SHARE`` first, and only those are reserved: ``deliveries.item_id`` has no foreign
    key (migration 0019), so this lock, once per chunk, is what keeps an item from
    being deleted while its rows are written (the delete waits, then its trigger
    deletes them).
    """
    held = list(
        session.scalars(
            select(Item.id)
            .where(_digest_items(since, cutoff))
            .with_for_update(read=True, key_share=True)
        )
    )
    if not held:
        return
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
            among(session, Digest.id, digest_ids),
            among(session, Item.id, held),
            # Checked again: one withdrawn since the lock is not reserved.
            _digest_items(since, cutoff),
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


# PostgreSQL: a chunk's digests, their reserved items and each one's count, in one
# statement. The digests' ids are drawn from their sequence first, so the rows to
# reserve are known before the digests are written, and each digest is written
# once with its count and status (no second pass rewriting every new digest row,
# nor a count per digest). Sibling sub-statements share one snapshot: ``pairs``
# leaves out what the journalist already has, ``reserved`` may still skip a row
# another transaction wrote meanwhile (or a weekly and a daily digest of one
# journalist wanting the same item); the counts of the rows actually reserved come
# back, and the few digests that differ are corrected after.
_AT_ONCE = text(
    """
WITH wanted AS MATERIALIZED (
  SELECT CAST(nextval(pg_get_serial_sequence('digests', 'id')) AS INTEGER) AS id, u.*
  FROM unnest(CAST(:journalists AS INTEGER[]), CAST(:cadences AS VARCHAR[]),
              CAST(:periods AS VARCHAR[]), CAST(:since AS TIMESTAMP[]),
              CAST(:cutoffs AS TIMESTAMP[]))
       AS u(journalist_id, cadence, period, since, cutoff)
),
pairs AS MATERIALIZED (
  SELECT DISTINCT w.id AS digest_id, i.id AS item_id, w.journalist_id
  FROM wanted w
  JOIN subscriptions s ON s.journalist_id = w.journalist_id AND s.cadence = w.cadence
  JOIN items i ON i.published_at > w.since AND i.published_at <= w.cutoff
  WHERE i.id = ANY(CAST(:items AS INTEGER[]))
    AND i.status = :published
    AND (s.all_countries OR EXISTS (
      SELECT 1 FROM subscription_countries sc
      JOIN item_countries ic ON ic.country = sc.country AND ic.item_id = i.id
      WHERE sc.subscription_id = s.id))
    AND (s.all_topics OR EXISTS (
      SELECT 1 FROM subscription_topics st
      JOIN item_topics it ON it.topic = st.topic AND it.item_id = i.id
      WHERE st.subscription_id = s.id))
    AND NOT EXISTS (
      SELECT 1 FROM deliveries x WHERE x.item_id = i.id AND x.journalist_id = w.journalist_id)
),
counted AS (
  SELECT w.*, coalesce(c.n, 0) AS n
  FROM wanted w
  LEFT JOIN (SELECT digest_id, count(*) AS n FROM pairs GROUP BY digest_id) c
    ON c.digest_id = w.id
),
recorded AS (
  INSERT INTO digests (id, journalist_id, cadence, period, since, cutoff, status, items,
                       attempts, created_at, queued_at)
  SELECT id, journalist_id, cadence, period, since, cutoff,
         CASE WHEN n = 0 THEN :empty ELSE :pending END, n, 0, :now, :now
  FROM counted
  ON CONFLICT (journalist_id, cadence, period) DO NOTHING
  RETURNING id, items
),
reserved AS (
  INSERT INTO deliveries (item_id, journalist_id, status, attempts, created_at, digest_id)
  SELECT p.item_id, p.journalist_id, :pending, 0, :now, p.digest_id
  FROM pairs p JOIN recorded r ON r.id = p.digest_id
  ON CONFLICT (item_id, journalist_id) DO NOTHING
  RETURNING digest_id
)
SELECT r.id, r.items, coalesce(g.n, 0) AS held
FROM recorded r
LEFT JOIN (SELECT digest_id, count(*) AS n FROM reserved GROUP BY digest_id) g
  ON g.digest_id = r.id
"""
)
_CORRECT_COUNTS = text(
    "UPDATE digests AS d SET items = v.n, "
    "status = CASE WHEN v.n = 0 THEN :empty ELSE d.status END "
    "FROM unnest(CAST(:ids AS INTEGER[]), CAST(:counts AS INTEGER[])) AS v(id, n) "
    "WHERE d.id = v.id"
)


def _naive_utc(at: datetime) -> datetime:
    # Arrays bypass UTCDateTime, which stores naive UTC.
    return at.astimezone(UTC).replace(tzinfo=None)


def _record_in_one_statement(session: Session, due: list[Due], now: datetime) -> list[int]:
    """``_record`` on PostgreSQL (see ``_AT_ONCE``); the items locked as ``_reserve_items``
    locks them."""
    since, cutoff = min(d.since for d in due), max(d.cutoff for d in due)
    held = list(
        session.scalars(
            select(Item.id)
            .where(_digest_items(since, cutoff))
            .with_for_update(read=True, key_share=True)
        )
    )
    params: dict[str, Any] = {
        "journalists": int_array(d.journalist_id for d in due),
        "cadences": pg_array(d.cadence for d in due),
        "periods": pg_array(d.period.isoformat() for d in due),
        "since": pg_array(d.since for d in due),
        "cutoffs": pg_array(d.cutoff for d in due),
        "items": int_array(held),
        "published": ItemStatus.PUBLISHED.value,
        "pending": DigestStatus.PENDING.value,
        "empty": DigestStatus.EMPTY.value,
        "now": _naive_utc(now),
    }
    rows = session.execute(_AT_ONCE, params).all()
    off = [(r.id, r.held) for r in rows if r.held != r.items]
    if off:
        session.execute(
            _CORRECT_COUNTS,
            {
                "ids": int_array(i for i, _ in off),
                "counts": int_array(n for _, n in off),
                "empty": DigestStatus.EMPTY.value,
            },
        )
    return [r.id for r in rows if r.held > 0]
