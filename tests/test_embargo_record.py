"""Embargoes and corrections in the delivery record, step by step, without a worker.

The races a live worker makes hard to stage: a verification withdrawn between the
fan-out and the claim, and readers who receive an original after its correction
(or embargo notice) went out.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts.audience import membership
from alerts.core.models import Cadence, Delivery, DeliveryStatus, Item, Journalist, utcnow
from alerts.delivery import recovery
from alerts.delivery import store as delivery
from alerts.delivery.outcome import Outcome, Verdict
from alerts.digests import planning
from alerts.digests import runs as digests
from alerts.items import corrections, drafts, embargoes, lifecycle
from tests.factories import TAXONOMY, fan_out, journalist, published_item
from tests.test_digests import sessions  # noqa: F401  (the fixture: SQLite and PostgreSQL)

LEASE = timedelta(minutes=5)
POLICY = delivery.RetryPolicy(30, 3600, 86400)


def _rows(session: Session, item_id: int) -> dict[str, str]:
    return {
        str(email): str(status)
        for email, status in session.execute(
            select(Journalist.email, Delivery.status)
            .join(Journalist, Journalist.id == Delivery.journalist_id)
            .where(Delivery.item_id == item_id)
        )
    }


def _send(session: Session, ids: list[int]) -> None:
    """What a worker does with a batch, with the relay accepting every message."""
    claimed = delivery.claim(session, ids, utcnow(), LEASE)
    delivery.record(
        session, [(c, Outcome(Verdict.SENT, "250 OK"), "<m@x>") for c in claimed], utcnow(), POLICY
    )


def test_unverified_before_the_claim_still_gets_the_alert_at_the_lift(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    with sessions() as session, session.begin():
        vera = journalist(session, "vera@example.org", (["MX"], []))
        membership.verify(vera, "desk", utcnow())
        draft = drafts.create_item(
            session, TAXONOMY, drafts.parse_draft({"title": "Embargoed", "countries": ["MX"]})
        )
        session.flush()
        embargoes.embargo(session, draft, utcnow() + timedelta(hours=1), utcnow())
        item_id = draft.id
        queued = fan_out(session, item_id, utcnow())
    assert len(queued) == 1
    with sessions() as session, session.begin():
        person = session.scalar(select(Journalist))
        assert person is not None
        membership.unverify(person)
    with sessions() as session, session.begin():
        assert delivery.claim(session, queued, utcnow(), LEASE) == []
        assert _rows(session, item_id) == {}  # gone, not cancelled: nothing holds the key
        item = session.get(Item, item_id)
        assert item is not None
        embargoes.lift_embargo(session, item, utcnow())
    with sessions() as session, session.begin():
        lifted = fan_out(session, item_id, utcnow())
        assert _rows(session, item_id) == {"vera@example.org": DeliveryStatus.PENDING}
        _send(session, lifted)
        assert _rows(session, item_id) == {"vera@example.org": DeliveryStatus.SENT}


def test_publishing_an_embargoed_item_is_refused(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with sessions() as session, session.begin():
        draft = drafts.create_item(
            session, TAXONOMY, drafts.parse_draft({"title": "Embargoed", "countries": ["MX"]})
        )
        session.flush()
        embargoes.embargo(session, draft, utcnow() + timedelta(hours=1), utcnow())
        try:
            lifecycle.publish_item(session, draft, utcnow())
        except drafts.InvalidItem as exc:
            assert "lift the embargo" in str(exc)
        else:
            raise AssertionError("an embargoed item was published round its lift")
        assert draft.status == "embargoed"


def test_a_digest_reader_gets_the_correction_of_an_item_their_digest_brought(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    """The correction went out before the digest did: the sweep sends it after."""
    start = utcnow()
    due = start + timedelta(hours=1)  # Dina's digest time (UTC), an hour from now
    with sessions() as session, session.begin():
        dina = journalist(session, "dina@example.org", ([], [], Cadence.DAILY))
        dina.digest_minute = due.hour * 60 + due.minute
        journalist(session, "ivan@example.org", ([], []))
        original = published_item(session, title="Original")
        _send(session, fan_out(session, original, start))
        item = session.get(Item, original)
        assert item is not None
        fixed = corrections.correct(session, item, None, "Fixed.", "", start)
        session.flush()
        correction = fixed.id
        _send(session, fan_out(session, correction, start))
        assert _rows(session, correction) == {"ivan@example.org": DeliveryStatus.SENT}
        # Dina's digest holds the original and is sent after the correction went out.
        planned = planning.plan(session, start + timedelta(hours=2))
        [digest_id] = planned
        claimed = digests.claim(session, digest_id, start, LEASE)
        assert claimed is not None and [i.title for i in claimed.items] == ["Original"]
        digests.record(session, claimed, Outcome(Verdict.SENT, "250 OK"), "<d@x>", start, POLICY)
    with sessions() as session, session.begin():
        owed = recovery.corrections_owed(session, start + timedelta(hours=3), timedelta(minutes=15))
        assert owed == [correction]
        _send(session, fan_out(session, correction, start))
        assert _rows(session, correction) == {
            "ivan@example.org": DeliveryStatus.SENT,
            "dina@example.org": DeliveryStatus.SENT,
        }
    with sessions() as session, session.begin():
        # Everyone reached: the sweep has nothing more for it.
        again = recovery.corrections_owed(
            session, start + timedelta(hours=4), timedelta(minutes=15)
        )
        assert again == []


def test_embargo_notices_never_reach_those_who_got_the_item_after(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    """Moved and lifted notices go to who had it under embargo when they were written: not
    to readers at the lift, nor the move to one verified after it (their copy says so)."""
    start = utcnow()
    with sessions() as session, session.begin():
        vera = journalist(session, "vera@example.org", (["MX"], []))
        membership.verify(vera, "desk", start)
        journalist(session, "noor@example.org", (["MX"], []))
        late = journalist(session, "late@example.org", (["MX"], []))
        draft = drafts.create_item(
            session, TAXONOMY, drafts.parse_draft({"title": "Embargoed", "countries": ["MX"]})
        )
        session.flush()
        embargoes.embargo(session, draft, start + timedelta(hours=2), start)
        item_id = draft.id
        _send(session, fan_out(session, item_id, start))
        embargoes.move_embargo(session, draft, start + timedelta(hours=3), utcnow())
        session.flush()
        [moved] = session.scalars(select(Item.id).where(Item.corrects_id == item_id)).all()
        _send(session, fan_out(session, moved, utcnow()))
        membership.verify(late, "desk", utcnow())
        _send(session, fan_out(session, item_id, utcnow()))  # what verifying queues
        embargoes.lift_embargo(session, draft, utcnow())
        session.flush()
        notices = session.scalars(select(Item.id).where(Item.corrects_id == item_id)).all()
        for notice in notices:
            _send(session, fan_out(session, notice, utcnow()))
        _send(session, fan_out(session, item_id, utcnow()))  # the lift's own fan-out
        assert _rows(session, item_id) == {
            "vera@example.org": DeliveryStatus.SENT,
            "late@example.org": DeliveryStatus.SENT,
            "noor@example.org": DeliveryStatus.SENT,
        }
        kinds = {session.get(Item, n).kind: n for n in notices}  # type: ignore[union-attr]
        # Late had it under embargo, with the new time: told of the lift, not of the move.
        assert _rows(session, kinds["embargo_moved"]) == {"vera@example.org": DeliveryStatus.SENT}
        assert _rows(session, kinds["embargo_lifted"]) == {
            "vera@example.org": DeliveryStatus.SENT,
            "late@example.org": DeliveryStatus.SENT,
        }
    with sessions() as session, session.begin():
        later = utcnow() + timedelta(hours=1)
        assert recovery.corrections_owed(session, later, timedelta(minutes=15)) == []
