"""Fan-out in slices: every matching journalist exactly once, however the ids fall."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.audience.membership import set_subscription
from alerts.audience.subscriptions import SubscriptionSpec
from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import (
    Delivery,
    FanOut,
    FanOutSlice,
    Item,
    ItemStatus,
    Journalist,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    utcnow,
)
from alerts.delivery.fanout import fan_out_in_slices
from tests.factories import published_item


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'slices.db'}"
    upgrade(url)
    return make_session_factory(make_engine(url))


def _population(sessions: sessionmaker[Session], n: int) -> tuple[int, set[int]]:
    """N journalists, two in three matching (half of those twice); sparse subscription ids."""
    now = utcnow()
    journalists: list[dict[str, object]] = []
    subscriptions: list[dict[str, object]] = []
    countries: list[dict[str, object]] = []
    topics: list[dict[str, object]] = []
    expected: set[int] = set()
    next_id = 3
    for i in range(1, n + 1):
        journalists.append(
            {"id": i, "email": f"j{i}@example.net", "status": "active", "created_at": now}
        )
        if i % 3 == 1:
            shapes = [(["MX"], []), ([], ["torture"])]
        elif i % 3 == 0:
            shapes = [(["FR"], [])]
        else:
            shapes = [([], [])]
        for sub_countries, sub_topics in shapes:
            # Gaps in the ids, as deletions and other kinds of rows leave them.
            next_id += 7
            subscriptions.append(
                {
                    "id": next_id,
                    "journalist_id": i,
                    "cadence": "immediate",
                    "all_countries": not sub_countries,
                    "all_topics": not sub_topics,
                    "created_at": now,
                }
            )
            countries += [{"subscription_id": next_id, "country": c} for c in sub_countries]
            topics += [{"subscription_id": next_id, "topic": t} for t in sub_topics]
        if i % 3:
            expected.add(i)
    with sessions() as session, session.begin():
        for model, rows in (
            (Journalist, journalists),
            (Subscription, subscriptions),
            (SubscriptionCountry, countries),
            (SubscriptionTopic, topics),
        ):
            session.execute(insert(model), rows)
        item_id = published_item(session, countries=["MX"], topics=["torture"])
    return item_id, expected


def _everyone_matches(sessions: sessionmaker[Session], n: int) -> int:
    """N journalists with one catch-all subscription each, at sparse ids; the item's id."""
    now = utcnow()
    with sessions() as session, session.begin():
        session.execute(
            insert(Journalist),
            [{"id": i, "email": f"j{i}@example.net", "status": "active"} for i in range(1, n + 1)],
        )
        session.execute(
            insert(Subscription),
            [
                {
                    "id": 10 + 7 * i,
                    "journalist_id": i,
                    "cadence": "immediate",
                    "all_countries": True,
                    "all_topics": True,
                    "created_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        return published_item(session, countries=["MX"], topics=["torture"])


def test_slices_cover_every_id_once_and_start_small(sessions: sessionmaker[Session]) -> None:
    item_id = _everyone_matches(sessions, 3467)
    sizes = list(fan_out_in_slices(sessions, item_id, utcnow, 2000, lambda ids: None))
    # One matching row is one delivery, so each slice's count is its size in rows:
    # 1,000 first (the first emails leave early), then at most the 2,000 asked for.
    assert sizes == [1000, 2000, 467]
    with sessions() as session:
        journalists = list(
            session.scalars(select(Delivery.journalist_id).where(Delivery.item_id == item_id))
        )
    assert sorted(journalists) == list(range(1, 3468))  # contiguous: none twice, none missed


def test_fan_out_in_slices_creates_one_delivery_per_matching_journalist(
    sessions: sessionmaker[Session],
) -> None:
    item_id, expected = _population(sessions, 2600)
    queued: list[list[int]] = []
    counts = list(fan_out_in_slices(sessions, item_id, utcnow, 1000, queued.append))
    with sessions() as session:
        rows = session.execute(select(Delivery.id, Delivery.journalist_id)).all()
        fan_out = session.get(FanOut, item_id)
    assert {j for _, j in rows} == expected and len(rows) == len(expected)
    # Each new row queued exactly once, slice by slice, and the fan-out recorded at the end.
    assert sorted(i for batch in queued for i in batch) == sorted(i for i, _ in rows)
    assert len(counts) == len(queued) > 1 and sum(counts) == len(rows)
    assert fan_out is not None and fan_out.matched == len(expected)
    # A second run (the sweep's) creates and queues nothing.
    again: list[list[int]] = []
    assert sum(fan_out_in_slices(sessions, item_id, utcnow, 1000, again.append)) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == len(expected)


def test_with_nobody_subscribed_the_fan_out_is_still_recorded(
    sessions: sessionmaker[Session],
) -> None:
    # Otherwise the sweep would take the item for a lost fan-out and run it forever.
    with sessions() as session, session.begin():
        item_id = published_item(session, countries=["MX"])
    # One empty slice: the plan always has one, whose end records the fan-out.
    assert list(fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)) == [0]
    with sessions() as session:
        fan_out = session.get(FanOut, item_id)
    assert fan_out is not None and fan_out.matched == 0


def test_a_subscription_edited_during_the_fan_out_still_brings_the_alert(
    sessions: sessionmaker[Session],
) -> None:
    item_id, expected = _population(sessions, 2600)
    last = max(expected)
    slices = fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)
    next(slices)  # the first slice is done; the last journalist's is still to come
    with sessions() as session, session.begin():
        journalist = session.get(Journalist, last)
        assert journalist is not None
        old = journalist.subscriptions[0]
        # Saving the preferences page replaces the subscription: a new, higher id.
        new = set_subscription(journalist, old.id, SubscriptionSpec(frozenset(), frozenset()))
        session.flush()
        assert new.id > old.id
    list(slices)
    with sessions() as session:
        served = set(session.scalars(select(Delivery.journalist_id)))
    assert served == expected


def test_a_run_stopped_half_way_is_resumed_where_it_stopped(
    sessions: sessionmaker[Session],
) -> None:
    item_id = _everyone_matches(sessions, 3467)
    stopped = fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)
    assert [next(stopped), next(stopped)] == [1000, 1000]
    stopped.close()  # the process died between two slices
    with sessions() as session:
        assert session.get(FanOut, item_id) is None
        assert sorted(session.scalars(select(FanOutSlice.done))) == [False, False, True, True]
    # The next run (the sweep's) does only the two slices left, and records the fan-out.
    assert list(fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)) == [
        1000,
        467,
    ]
    with sessions() as session:
        journalists = sorted(
            session.scalars(select(Delivery.journalist_id).where(Delivery.item_id == item_id))
        )
        fan_out = session.get(FanOut, item_id)
        assert session.scalar(select(func.count()).select_from(FanOutSlice)) == 0
    assert journalists == list(range(1, 3468))
    assert fan_out is not None and fan_out.matched == 3467 and fan_out.runs == 1


def test_a_plan_made_under_embargo_is_made_anew_once_it_lifts(
    sessions: sessionmaker[Session],
) -> None:
    item_id = _everyone_matches(sessions, 2500)
    with sessions() as session, session.begin():
        item = session.get(Item, item_id)
        assert item is not None
        item.status = ItemStatus.EMBARGOED
        verified = session.get(Journalist, 1)
        assert verified is not None
        verified.verified_at = utcnow()
    under_embargo = fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)
    assert next(under_embargo) == 1  # verified press only, in the first slice
    under_embargo.close()
    with sessions() as session, session.begin():
        item = session.get(Item, item_id)
        assert item is not None
        item.status = ItemStatus.PUBLISHED  # the embargo lifts before the plan is done
    # Its done slice reached verified press only: every slice is matched again.
    assert sum(fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)) == 2499
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2500


def test_an_item_withdrawn_half_way_stops_its_fan_out_and_leaves_no_plan(
    sessions: sessionmaker[Session],
) -> None:
    item_id = _everyone_matches(sessions, 3467)
    run = fan_out_in_slices(sessions, item_id, utcnow, 1000, lambda ids: None)
    assert next(run) == 1000
    with sessions() as session, session.begin():
        item = session.get(Item, item_id)
        assert item is not None
        item.status = ItemStatus.WITHDRAWN
    assert sum(run) == 0  # nothing more matched
    with sessions() as session:
        assert session.get(FanOut, item_id) is None
        assert session.scalar(select(func.count()).select_from(FanOutSlice)) == 0
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1000
