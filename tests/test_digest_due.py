"""journalists.next_due_at: when digest planning looks at a journalist again, kept up to date.

Every expected instant below was worked out by hand from the wall clocks (Paris is
UTC+1 in November and UTC+2 until 25 October 2026; Tokyo is UTC+9 all year), plus
the planner's two minutes of settling time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import time_machine
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from alerts.audience import membership
from alerts.audience.subscriptions import SubscriptionSpec
from alerts.core.migrate import upgrade
from alerts.core.models import Cadence, Digest, Journalist, Subscription, UnsubscribeMethod, utcnow
from alerts.digests import due, planning
from tests.conftest import PG_ADMIN_URL, PG_HOST
from tests.factories import journalist
from tests.test_digests import sessions  # noqa: F401  (the fixture: SQLite and PostgreSQL)

EPOCH_ISH = datetime(1971, 1, 1, tzinfo=UTC)  # "at once" values all lie before this


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _tick(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session, session.begin():
        return planning.plan(session, utcnow())


def _next(factory: sessionmaker[Session], email: str) -> datetime | None:
    with factory() as session:
        return session.scalar(select(Journalist.next_due_at).where(Journalist.email == email))


def _periods(factory: sessionmaker[Session], email: str, cadence: str = Cadence.DAILY) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(Digest.period)
                .join(Journalist, Journalist.id == Digest.journalist_id)
                .where(Journalist.email == email, Digest.cadence == cadence)
                .order_by(Digest.period)
            )
        )


def _change(factory: sessionmaker[Session], email: str, how: object) -> None:
    with factory() as session, session.begin():
        person = session.scalars(select(Journalist).where(Journalist.email == email)).one()
        how(session, person)  # type: ignore[operator]


def test_a_tick_sets_the_next_cutoff_across_dst(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with time_machine.travel(utc("2026-10-24T07:00"), tick=False) as clock:  # 09:00 CEST
        with sessions() as session, session.begin():
            ana = journalist(session, "ana@example.org", ([], [], Cadence.DAILY))
            ana.timezone = "Europe/Paris"
        assert (_next(sessions, "ana@example.org") or utcnow()) < EPOCH_ISH  # new: at once
        _tick(sessions)
        assert _periods(sessions, "ana@example.org") == ["2026-10-24"]
        # 08:00 on the 25th is CET, an hour later in UTC than the day before.
        assert _next(sessions, "ana@example.org") == utc("2026-10-25T07:02")
        clock.move_to(utc("2026-10-25T07:01"))
        with sessions() as session:
            assert list(due.candidates(session, utcnow())) == []  # nothing due: nobody read
        clock.move_to(utc("2026-10-25T07:02"))
        _tick(sessions)
        assert _periods(sessions, "ana@example.org") == ["2026-10-24", "2026-10-25"]
        assert _next(sessions, "ana@example.org") == utc("2026-10-26T07:02")


def test_a_new_zone_is_planned_on_its_clock(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "kei@example.org", ([], [], Cadence.DAILY))  # 08:00 UTC
        _tick(sessions)
        assert _next(sessions, "kei@example.org") == utc("2026-11-11T08:02")
        _change(
            sessions,
            "kei@example.org",
            lambda _s, j: membership.set_digest_schedule(j, "Asia/Tokyo", "08:00", 0),
        )
        assert (_next(sessions, "kei@example.org") or utcnow()) < EPOCH_ISH
        clock.move_to(utc("2026-11-10T09:01"))
        _tick(sessions)  # 18:01 in Tokyo: today's digest there is the one already sent
        assert _periods(sessions, "kei@example.org") == ["2026-11-10"]
        assert _next(sessions, "kei@example.org") == utc("2026-11-10T23:02")  # 08:02 JST
        clock.move_to(utc("2026-11-10T23:05"))
        _tick(sessions)
        assert _periods(sessions, "kei@example.org") == ["2026-11-10", "2026-11-11"]


def test_an_earlier_digest_time_is_planned_today(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with time_machine.travel(utc("2026-11-10T06:00"), tick=False) as clock:  # 07:00 CET
        with sessions() as session, session.begin():
            lea = journalist(session, "lea@example.org", ([], [], Cadence.DAILY))
            lea.timezone = "Europe/Paris"
        _tick(sessions)
        assert _periods(sessions, "lea@example.org") == ["2026-11-09"]
        assert _next(sessions, "lea@example.org") == utc("2026-11-10T07:02")
        _change(
            sessions,
            "lea@example.org",
            lambda _s, j: membership.set_digest_schedule(j, "Europe/Paris", "07:30", 0),
        )
        clock.move_to(utc("2026-11-10T06:40"))  # 07:40 CET, before the old 08:00
        _tick(sessions)
        assert _periods(sessions, "lea@example.org") == ["2026-11-09", "2026-11-10"]
        assert _next(sessions, "lea@example.org") == utc("2026-11-11T06:32")


def test_a_cadence_changed_in_place_brings_a_digest(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:  # a Tuesday
        with sessions() as session, session.begin():
            journalist(session, "max@example.org", ([], []))  # immediate only
        _tick(sessions)
        assert _next(sessions, "max@example.org") is None  # no digest: never looked at

        def weekly(session: Session, person: Journalist) -> None:
            # The subscription alone, as another code path would load and change it.
            sub = session.scalars(
                select(Subscription).where(Subscription.journalist_id == person.id)
            ).one()
            sub.cadence = Cadence.WEEKLY

        _change(sessions, "max@example.org", weekly)
        clock.move_to(utc("2026-11-10T09:01"))
        _tick(sessions)
        assert _periods(sessions, "max@example.org", Cadence.WEEKLY) == ["2026-11-09"]  # Monday
        assert _next(sessions, "max@example.org") == utc("2026-11-16T08:02")


def test_a_digest_subscription_added_is_looked_at(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "ned@example.org", ([], []))
        _tick(sessions)
        assert _next(sessions, "ned@example.org") is None
        _change(
            sessions,
            "ned@example.org",
            lambda _s, j: membership.set_subscription(
                j, None, SubscriptionSpec(frozenset(), frozenset(), Cadence.DAILY)
            ),
        )
        clock.move_to(utc("2026-11-10T09:01"))
        _tick(sessions)
        assert _periods(sessions, "ned@example.org") == ["2026-11-10"]
        assert _next(sessions, "ned@example.org") == utc("2026-11-11T08:02")


def test_unsubscribing_ends_the_looks(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "ola@example.org", ([], [], Cadence.DAILY))
            journalist(session, "pia@example.org", ([], [], Cadence.DAILY), ([], ["torture"]))
        _tick(sessions)
        _change(
            sessions,
            "ola@example.org",
            lambda s, j: membership.unsubscribe_all(s, j.id, UnsubscribeMethod.ONE_CLICK, utcnow()),
        )

        def drop_digest(_session: Session, person: Journalist) -> None:
            [daily] = [s for s in person.subscriptions if s.cadence == Cadence.DAILY]
            membership.remove_subscription(person, daily.id)

        _change(sessions, "pia@example.org", drop_digest)
        clock.move_to(utc("2026-11-10T09:01"))
        _tick(sessions)
        assert _next(sessions, "ola@example.org") is None
        assert _next(sessions, "pia@example.org") is None
        clock.move_to(utc("2026-11-12T09:00"))
        _tick(sessions)
        assert _periods(sessions, "ola@example.org") == ["2026-11-10"]
        assert _periods(sessions, "pia@example.org") == ["2026-11-10"]


def test_a_change_made_while_the_planner_works_wins(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    """The planner read the old schedule; a new zone committed meanwhile is not overwritten."""
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "rui@example.org", ([], [], Cadence.DAILY))
        clock.move_to(utc("2026-11-10T09:00:00.005"))
        with sessions() as planner, planner.begin():
            [chunk] = list(due.candidates(planner, utcnow()))
            clock.move_to(utc("2026-11-10T09:00:00.010"))
            _change(
                sessions,
                "rui@example.org",
                lambda _s, j: membership.set_digest_schedule(j, "Asia/Tokyo", "08:00", 0),
            )
            due.set_next(planner, [(c, due.next_look(c, utcnow(), planning.SETTLE)) for c in chunk])
        assert (_next(sessions, "rui@example.org") or utcnow()) < EPOCH_ISH  # still at once
        _tick(sessions)
        assert _next(sessions, "rui@example.org") == utc("2026-11-10T23:02")


# --- the migration ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def url_at_0008(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'due.db'}"
        upgrade(url, "0008")
        yield url
        return
    name = f"alerts_due_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{PG_HOST}/{name}"
    try:
        upgrade(url, "0008")
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_computes_next_due_at_for_existing_rows(url_at_0008: str) -> None:
    engine = create_engine(url_at_0008)
    people = [
        # id, email, status, zone, minute, cadence
        (1, "done@example.org", "active", "Europe/Paris", 480, "daily"),  # today's recorded
        (2, "owed@example.org", "active", "Europe/Paris", 480, "daily"),  # today's not yet
        (3, "instant@example.org", "active", "UTC", 480, "immediate"),
        (4, "gone@example.org", "unsubscribed", "UTC", 480, "daily"),
    ]
    with engine.begin() as conn:
        for pid, email, status, zone, minute, cadence in people:
            conn.execute(
                text(
                    "INSERT INTO journalists (id, email, name, outlet, language, status,"
                    " created_at, timezone, digest_minute, digest_weekday)"
                    " VALUES (:id, :email, '', '', 'en', :status, '2026-11-01 00:00:00',"
                    " :zone, :minute, 0)"
                ),
                {"id": pid, "email": email, "status": status, "zone": zone, "minute": minute},
            )
            conn.execute(
                text(
                    "INSERT INTO subscriptions (journalist_id, cadence, all_countries,"
                    " all_topics, created_at) VALUES (:id, :cadence, true, true,"
                    " '2026-11-01 00:00:00')"
                ),
                {"id": pid, "cadence": cadence},
            )
        conn.execute(
            text(
                "INSERT INTO digests (journalist_id, cadence, period, since, cutoff, status,"
                " items, attempts, created_at) VALUES (1, 'daily', '2026-11-10',"
                " '2026-11-09 07:00:00', '2026-11-10 07:00:00', 'empty', 0, 0,"
                " '2026-11-10 07:02:00')"
            )
        )
    engine.dispose()
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False):  # 10:00 in Paris
        upgrade(url_at_0008)
    engine = create_engine(url_at_0008)
    with Session(engine) as session:
        found = dict(session.execute(select(Journalist.id, Journalist.next_due_at)).all())
        # Adding the column kept every row of the tables around it.
        assert len(session.scalars(select(Subscription.id)).all()) == len(people)
    engine.dispose()
    assert found[1] == utc("2026-11-11T07:02")  # tomorrow 08:00 CET, plus settling
    owed = found[2]
    assert owed is not None and owed < EPOCH_ISH  # the first tick plans it
    assert found[3] is None and found[4] is None
