"""The delivery record: claim rows for sending, record outcomes, suppress addresses.

Every function is a guarded statement on the deliveries table, so running any of
them twice, or in two workers at once, changes nothing the second time. Finding
work to re-queue is `delivery.recovery`; counts by status, `delivery.progress`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    String,
    Update,
    any_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from alerts.core.bulk import array_of, id_array, pg_array
from alerts.core.db import upsert_insert
from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    FanOut,
    Item,
    ItemStatus,
    Journalist,
    JournalistStatus,
    Suppression,
)
from alerts.delivery.outcome import Outcome, Verdict

# record() takes one: callers may name it from here.
from alerts.delivery.outcome import RetryPolicy as RetryPolicy


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    item_id: int
    journalist_id: int
    email: str
    name: str
    attempts: int
    created_at: datetime
    language: str = "en"
    timezone: str = "UTC"


def _not_mailable() -> ColumnElement[bool]:
    return or_(
        Journalist.status != JournalistStatus.ACTIVE,
        Journalist.email.is_(None),
        exists().where(Suppression.email == Journalist.email),
    )


def _status_is(status: str) -> ColumnElement[bool]:
    """``status = …`` in a form no index on status can serve.

    A batch's rows are found by primary key. Planners misjudge how many rows are
    pending (statistics lag a fan-out of a million rows by a minute or more) and
    would scan every pending row through the status index for each batch.
    """
    return func.coalesce(Delivery.status, "") == status


def _among(
    session: Session, column: InstrumentedAttribute[int], ids: Sequence[int]
) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``column = ANY(array)``, one parameter.

    A batch's 500 ids as 500 placeholders made a new statement text every time:
    compiled by SQLAlchemy, converted by psycopg and parsed and planned by the
    server for each of a claim's five statements. As an array the text is the
    same for every batch.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(id_array(ids))
    return column.in_(ids)


def claim(session: Session, ids: Sequence[int], now: datetime, lease: timedelta) -> list[Claimed]:
    """Take the due, pending rows among ``ids`` (pending → sending, with a lease).

    Rows whose journalist unsubscribed or was suppressed since the fan-out, or
    whose item was withdrawn, are cancelled instead: a queued message must not
    outlive an unsubscribe.

    This is what cancels an unsubscribed journalist's pending alert rows: the
    unsubscribe itself does not look for them (no index by journalist, migration
    0019). So the journalist is checked in the very statement that takes a row:
    an unsubscribe committed before that statement keeps the row from being
    taken, and the statement after it cancels the row.
    """
    if not ids:
        return []
    among = _among(session, Delivery.id, ids)
    blocked = exists().where(Journalist.id == Delivery.journalist_id, _not_mailable())
    withdrawn = exists().where(
        Item.id == Delivery.item_id,
        Item.status.not_in([ItemStatus.PUBLISHED, ItemStatus.EMBARGOED]),
    )
    # Embargoed content reaches verified press only, whatever became of the verification.
    # The row is deleted, not cancelled: it would hold the (item, journalist) key and
    # keep the journalist from the alert when the embargo lifts.
    unverified = exists().where(
        Item.id == Delivery.item_id,
        Item.status == ItemStatus.EMBARGOED,
        Journalist.id == Delivery.journalist_id,
        Journalist.verified_at.is_(None),
    )
    session.execute(
        delete(Delivery)
        .where(among, _status_is(DeliveryStatus.PENDING), unverified)
        .execution_options(synchronize_session=False)
    )

    def cancel(reason: str, condition: ColumnElement[bool]) -> None:
        session.execute(
            update(Delivery)
            .where(among, _status_is(DeliveryStatus.PENDING), condition)
            .values(status=DeliveryStatus.CANCELLED, last_reply=reason)
            .execution_options(synchronize_session=False)
        )

    cancel("cancelled: item no longer published", withdrawn)
    claimed_ids = session.scalars(
        update(Delivery)
        .where(
            among,
            _status_is(DeliveryStatus.PENDING),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            # A digest's rows go out in their digest, never on their own.
            Delivery.digest_id.is_(None),
            ~blocked,
        )
        .values(
            status=DeliveryStatus.SENDING,
            attempts=Delivery.attempts + 1,
            lease_expires_at=now + lease,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    # After the claim: every row it left for the journalist's sake is cancelled here.
    cancel("cancelled: recipient unsubscribed or suppressed", blocked)
    if not claimed_ids:
        return []
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.item_id,
            Delivery.journalist_id,
            Journalist.email,
            Journalist.name,
            Delivery.attempts,
            Delivery.created_at,
            Journalist.language,
            Journalist.timezone,
        )
        .join(Journalist, Journalist.id == Delivery.journalist_id)
        .where(_among(session, Delivery.id, claimed_ids))
        .order_by(Delivery.item_id, Delivery.id)
    ).all()
    return [
        Claimed(
            r.id,
            r.item_id,
            r.journalist_id,
            str(r.email),
            r.name,
            r.attempts,
            r.created_at,
            r.language,
            r.timezone,
        )
        for r in rows
    ]


def _record_statement(*from_statuses: str) -> Update:
    return (
        update(Delivery)
        # OR of equalities, not IN: an expanding IN cannot run as executemany.
        .where(
            Delivery.id == bindparam("b_id"),
            or_(*(Delivery.status == status for status in from_statuses)),
        )
        .values(
            status=bindparam("b_status"),
            last_reply=bindparam("b_reply"),
            next_attempt_at=bindparam("b_next"),
            queued_at=bindparam("b_queued"),
            sent_at=bindparam("b_sent"),
            message_id=bindparam("b_mid"),
            attempts=bindparam("b_new_attempts"),
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )


# An accepted message is recorded as sent even if the lease ran out meanwhile;
# any other outcome only applies to a row this worker still holds: still
# "sending", and still at the attempt this worker claimed (another worker that
# claimed it since has a higher count).
_RECORD_SENT = _record_statement(DeliveryStatus.SENDING, DeliveryStatus.PENDING)
_RECORD_OTHER = _record_statement(DeliveryStatus.SENDING).where(
    Delivery.attempts == bindparam("b_attempts")
)


def record(
    session: Session,
    results: Iterable[tuple[Claimed, Outcome, str]],
    now: datetime,
    policy: RetryPolicy,
    not_before: datetime | None = None,
) -> dict[str, int]:
    """Write each attempt's outcome; returns counts by resulting status.

    ``not_before``: the relay's breaker is open until then, so no retry is
    scheduled earlier. Rows handed back untried do not count as an attempt.

    Only rows still ``sending`` are moved to retry or failure (a row whose lease
    expired may already belong to another worker). An accepted message is
    recorded as sent even then: the relay has it, and saying otherwise would
    invite a duplicate.
    """
    sent: list[dict[str, object]] = []
    other: list[dict[str, object]] = []
    suppress: list[tuple[int, str, str]] = []
    counts: dict[str, int] = {}
    for claimed, outcome, message_id in results:
        row: dict[str, object] = {
            "b_id": claimed.delivery_id,
            "b_reply": outcome.reply,
            "b_mid": message_id,
            "b_next": None,
            "b_queued": None,
            "b_sent": None,
            "b_attempts": claimed.attempts,
            "b_new_attempts": claimed.attempts - (1 if outcome.untried else 0),
        }
        if outcome.verdict is Verdict.SENT:
            row |= {"b_status": DeliveryStatus.SENT.value, "b_sent": now}
        elif outcome.verdict is Verdict.RETRY:
            if now - claimed.created_at >= timedelta(seconds=policy.deadline_seconds):
                row |= {
                    "b_status": DeliveryStatus.FAILED.value,
                    "b_reply": f"gave up after {claimed.attempts} attempts: {outcome.reply}",
                }
            else:
                retry_at = now
                if not outcome.at_once:
                    retry_at += timedelta(seconds=policy.delay(claimed.attempts))
                if not_before is not None and not_before > retry_at:
                    retry_at = not_before
                row |= {"b_status": DeliveryStatus.PENDING.value, "b_next": retry_at}
        else:
            row["b_status"] = DeliveryStatus.FAILED.value
            if outcome.verdict is Verdict.SUPPRESS:
                suppress.append((claimed.journalist_id, claimed.email, outcome.reply))
        (sent if outcome.verdict is Verdict.SENT else other).append(row)
        status = str(row["b_status"])
        counts[status] = counts.get(status, 0) + 1
    if sent and session.get_bind().dialect.name == "postgresql":
        session.execute(_record_sent_at_once(sent, now))
        sent = []
    for statement, params in ((_RECORD_SENT, sent), (_RECORD_OTHER, other)):
        if params:
            session.connection().execute(statement, params)
    for journalist_id, email, reply in suppress:
        suppress_address(session, email, f"bounce: {reply}"[:200], now, journalist_id)
    return counts


def _record_sent_at_once(rows: list[dict[str, object]], now: datetime) -> Update:
    """``_RECORD_SENT`` for a whole batch as one statement, its values as arrays.

    On PostgreSQL the executemany of one UPDATE per message was most of the
    server's time for a batch (and psycopg's, converting 500 parameter sets):
    ``UPDATE … FROM unnest(ids, replies, message ids, attempts)`` does the same
    rows, with the same guard, in one statement.
    """
    values = (
        func.unnest(
            id_array(r["b_id"] for r in rows),
            array_of(pg_array(r["b_reply"] for r in rows), String),
            array_of(pg_array(r["b_mid"] for r in rows), String),
            id_array(r["b_new_attempts"] for r in rows),
        )
        .table_valued("id", "reply", "mid", "attempts")
        .render_derived(name="v")
    )
    return (
        update(Delivery)
        .where(
            Delivery.id == values.c.id,
            or_(
                Delivery.status == DeliveryStatus.SENDING, Delivery.status == DeliveryStatus.PENDING
            ),
        )
        .values(
            status=DeliveryStatus.SENT.value,
            last_reply=values.c.reply,
            next_attempt_at=None,
            queued_at=None,
            sent_at=now,
            message_id=values.c.mid,
            attempts=values.c.attempts,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )


def suppress_address(
    session: Session, email: str, reason: str, now: datetime, journalist_id: int | None = None
) -> None:
    session.execute(
        upsert_insert(session)(Suppression)
        .values(email=email, reason=reason, created_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
    )
    session.execute(
        update(Journalist)
        .where(Journalist.email == email)
        .values(status=JournalistStatus.SUPPRESSED)
        .execution_options(synchronize_session=False)
    )


def record_fan_out(session: Session, item_id: int, matched: int, now: datetime) -> None:
    # One statement, counted by the database: two fan-outs of one item finishing at
    # once (two worker processes, each queued by a re-run) each read runs = n and
    # wrote n + 1 when this was a read, then a write.
    insert = upsert_insert(session)(FanOut).values(
        item_id=item_id, matched=matched, runs=1, first_run_at=now, last_run_at=now
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["item_id"],
            set_={"runs": FanOut.runs + 1, "last_run_at": now, "matched": matched},
        )
    )


def original_message_ids(
    session: Session, items: Sequence[Item], claimed: Sequence[Claimed]
) -> dict[tuple[int, int], str]:
    """(correction id, journalist id) → Message-ID of the original they received."""
    result: dict[tuple[int, int], str] = {}
    for item in items:
        if item.corrects_id is None:
            continue
        journalists = [c.journalist_id for c in claimed if c.item_id == item.id]
        rows = session.execute(
            select(Delivery.journalist_id, Delivery.message_id).where(
                Delivery.item_id == item.corrects_id,
                Delivery.journalist_id.in_(journalists),
                Delivery.message_id.is_not(None),
            )
        ).all()
        result.update({(item.id, jid): str(mid) for jid, mid in rows})
    return result
