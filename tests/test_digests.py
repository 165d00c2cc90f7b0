"""Digests: which items each journalist's digests hold, walked day by day across DST changes.

Time is frozen with time-machine and moved in half-hour beat ticks; every
expectation below was worked out by hand from the wall clocks of Paris
(CEST → CET on 25 October 2026) and New York (EDT → EST on 1 November 2026).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import (
    Cadence,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    Journalist,
    utcnow,
)
from alerts.delivery.outcome import Outcome, RetryPolicy, Verdict
from alerts.digests import planning
from alerts.digests import runs as digests
from alerts.digests.schedule import (
    InvalidSchedule,
    check_zone,
    due_period,
    parse_minute,
)
from tests.conftest import PG_ADMIN_URL, PG_HOST
from tests.factories import fan_out, journalist, published_item


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the schedule alone --------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "minute", "first", "days", "local_time"),
    [
        ("Europe/Paris", 8 * 60, date(2026, 10, 22), 8, "08:00"),
        ("America/New_York", 90, date(2026, 10, 29), 8, "01:30"),  # 01:30 happens twice on 1 Nov
        ("Europe/Paris", 150, date(2026, 3, 26), 6, None),  # 02:30 does not exist on 29 March
    ],
)
def test_one_period_per_local_day_across_dst(
    zone: str, minute: int, first: date, days: int, local_time: str | None
) -> None:
    """Asked every ten minutes for days on end, the due period steps one local day at a time."""
    start = datetime.combine(first, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)
    seen: dict[date, datetime] = {}
    now = start
    while now < start + timedelta(days=days):
        day, cutoff = due_period(now, Cadence.DAILY, zone, minute, 0)
        assert cutoff <= now
        assert seen.setdefault(day, cutoff) == cutoff  # one instant per local day, however asked
        now += timedelta(minutes=10)
    ordered = sorted(seen)
    assert ordered == [ordered[0] + timedelta(days=n) for n in range(len(ordered))]  # none skipped
    if local_time is not None:
        assert {seen[d].astimezone(ZoneInfo(zone)).strftime("%H:%M") for d in ordered} == {
            local_time
        }


def test_the_skipped_hour_is_read_with_the_offset_before_the_change() -> None:
    # 02:30 on 29 March 2026 does not exist in Paris; read as CET it is 01:30 UTC.
    day, cutoff = due_period(utc("2026-03-29T12:00:00"), Cadence.DAILY, "Europe/Paris", 150, 0)
    assert (day, cutoff) == (date(2026, 3, 29), utc("2026-03-29T01:30:00"))


def test_the_repeated_hour_is_its_first_occurrence() -> None:
    # 01:30 on 1 November 2026 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    at_first = due_period(utc("2026-11-01T05:31:00"), Cadence.DAILY, "America/New_York", 90, 0)
    at_second = due_period(utc("2026-11-01T06:31:00"), Cadence.DAILY, "America/New_York", 90, 0)
    assert at_first == at_second == (date(2026, 11, 1), utc("2026-11-01T05:30:00"))


def test_weekly_is_due_on_the_chosen_weekday() -> None:
    # Wednesday 28 Oct 2026, 10:00 UTC: the last Monday 09:00 in Paris was 26 Oct (CET).
    day, cutoff = due_period(utc("2026-10-28T10:00:00"), Cadence.WEEKLY, "Europe/Paris", 540, 0)
    assert (day, cutoff) == (date(2026, 10, 26), utc("2026-10-26T08:00:00"))
    day, _ = due_period(utc("2026-10-28T10:00:00"), Cadence.WEEKLY, "Europe/Paris", 540, 2)
    assert day == date(2026, 10, 28)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "../etc/passwd", "Europe/"])
def test_unknown_time_zones_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSchedule, match="unknown time zone"):
        check_zone(bad)


@pytest.mark.parametrize("bad", ["25:00", "8", "noon", "08:60"])
def test_bad_times_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSchedule, match="HH:MM"):
        parse_minute(bad)


# --- planning against a real database ------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A database of its own: the pipeline stack's worker must not send these digests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'digests.db'}"
        upgrade(url)
        yield make_session_factory(make_engine(url))
        return
    name = f"alerts_digests_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{PG_HOST}/{name}"
    engine = make_engine(url)
    try:
        upgrade(url)
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _publish(sessions: sessionmaker[Session], title: str, **fields: object) -> None:
    """Publish now (the frozen now) and fan out to immediate subscribers, as the pipeline does."""
    with sessions() as session, session.begin():
        item_id = published_item(session, title=title, **fields)
        fan_out(session, item_id, utcnow())


def _tick(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        planning.plan(session, utcnow())


def _digests_of(
    sessions: sessionmaker[Session], email: str, cadence: str = Cadence.DAILY
) -> dict[str, list[str]]:
    """period → titles of its items, newest first, for each digest of the journalist."""
    with sessions() as session:
        rows = session.execute(
            select(Digest.id, Digest.period, Digest.status, Digest.items)
            .where(Digest.journalist_id == _id(session, email), Digest.cadence == cadence)
            .order_by(Digest.period)
        ).all()
        result = {}
        for digest_id, period, status, count in rows:
            titles = list(
                session.scalars(
                    select(Item.title)
                    .join(Delivery, Delivery.item_id == Item.id)
                    .where(Delivery.digest_id == digest_id)
                    .order_by(Item.published_at.desc())
                )
            )
            assert count == len(titles)
            assert (status == DigestStatus.EMPTY) == (not titles)
            result[period] = titles
        return result


def _id(session: Session, email: str) -> int:
    found = session.scalar(select(Journalist.id).where(Journalist.email == email))
    assert found is not None
    return found


def _days(first: str, last: str, *missing: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    return [d for d in days if d not in missing]


def test_digests_walked_across_two_dst_changes(sessions: sessionmaker[Session]) -> None:
    """Twelve days of half-hour beat ticks, with a day-long outage of the beat in the middle."""
    with sessions() as session, session.begin():
        ana = journalist(
            session,
            "ana@paris.example",
            (["MX"], [], Cadence.DAILY),
            ([], ["torture"]),  # immediate: what this brings must not come again in a digest
        )
        ana.timezone, ana.digest_minute = "Europe/Paris", 8 * 60
        bob = journalist(session, "bob@nyc.example", ([], ["asylum"], Cadence.DAILY))
        bob.timezone, bob.digest_minute = "America/New_York", 90  # 01:30, twice on 1 Nov
        cleo = journalist(session, "cleo@paris.example", ([], ["journalists"], Cadence.WEEKLY))
        cleo.timezone, cleo.digest_minute, cleo.digest_weekday = "Europe/Paris", 9 * 60, 0

    publications = {
        utc("2026-10-23T10:00"): ("mx-1", {"countries": ["MX"]}),
        utc("2026-10-24T05:59"): ("mx-2", {"countries": ["MX"]}),
        utc("2026-10-24T06:30"): ("mx-3", {"countries": ["MX"]}),
        utc("2026-10-24T12:00"): ("c-1", {"topics": ["journalists"]}),
        # 06:30 UTC on 25 Oct is 07:30 CET: still before Ana's 08:00 on the 25-hour day.
        utc("2026-10-25T06:30"): ("mx-4", {"countries": ["MX"]}),
        utc("2026-10-26T07:59"): ("c-2", {"topics": ["journalists"]}),
        utc("2026-10-26T10:00"): ("mx-urgent", {"countries": ["MX"], "topics": ["torture"]}),
        utc("2026-10-26T20:00"): ("mx-5", {"countries": ["MX"]}),
        utc("2026-10-27T09:00"): ("mx-6", {"countries": ["MX"]}),
        utc("2026-10-30T10:00"): ("c-3", {"countries": ["MX"], "topics": ["journalists"]}),
        utc("2026-11-01T05:00"): ("b-1", {"topics": ["asylum"]}),  # 01:00 EDT
        utc("2026-11-01T06:00"): ("b-2", {"topics": ["asylum"]}),  # 01:00 EST, the hour again
        utc("2026-11-02T06:15"): ("b-3", {"topics": ["asylum"]}),  # 01:15 EST
        utc("2026-11-02T06:45"): ("b-4", {"topics": ["asylum"]}),  # 01:45 EST
    }
    outage = (utc("2026-10-27T05:00"), utc("2026-10-28T12:00"))
    now, end = utc("2026-10-23T00:00"), utc("2026-11-03T12:00")
    with time_machine.travel(now, tick=False) as clock:
        while now < end:
            for at, (title, fields) in publications.items():
                if now - timedelta(minutes=30) < at <= now:
                    clock.move_to(at)
                    _publish(sessions, title, **fields)
                    clock.move_to(now)
            if not outage[0] <= now < outage[1]:
                _tick(sessions)
            now += timedelta(minutes=30)
            clock.move_to(now)

    ana_digests = _digests_of(sessions, "ana@paris.example")
    # One digest per local day, recorded even when empty; the 27th fell in the outage
    # and its items came, once, in the late run's digest of the 28th.
    assert list(ana_digests) == _days("2026-10-22", "2026-11-03", "2026-10-27")
    assert {p: t for p, t in ana_digests.items() if t} == {
        "2026-10-24": ["mx-2", "mx-1"],
        "2026-10-25": ["mx-4", "mx-3"],  # the 25-hour day, both sides of the change
        "2026-10-28": ["mx-6", "mx-5"],  # not mx-urgent: it reached her at once
        "2026-10-31": ["c-3"],
    }
    bob_digests = _digests_of(sessions, "bob@nyc.example")
    assert list(bob_digests) == _days("2026-10-22", "2026-11-03", "2026-10-27")
    assert {p: t for p, t in bob_digests.items() if t} == {
        "2026-11-01": ["b-1"],  # at the first 01:30 (EDT); the second one sends nothing
        "2026-11-02": ["b-3", "b-2"],
        "2026-11-03": ["b-4"],
    }
    cleo_digests = _digests_of(sessions, "cleo@paris.example", Cadence.WEEKLY)
    assert cleo_digests == {
        "2026-10-19": [],
        "2026-10-26": ["c-2", "c-1"],
        "2026-11-02": ["c-3"],
    }
    with sessions() as session:
        # mx-urgent went out immediately: one row for Ana, outside every digest.
        urgent = session.execute(
            select(Delivery.digest_id)
            .join(Item, Item.id == Delivery.item_id)
            .where(Item.title == "mx-urgent")
        ).all()
        assert urgent == [(None,)]


def test_planning_twice_plans_once(sessions: sessionmaker[Session]) -> None:
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "dee@example.org", ([], [], Cadence.DAILY))
        _publish(sessions, "one")
        clock.move_to(utc("2026-11-11T08:30"))
        with sessions() as session, session.begin():
            first = planning.plan(session, utcnow())
        with sessions() as session, session.begin():
            second = planning.plan(session, utcnow())
    assert len(first) == 1 and second == []
    assert _digests_of(sessions, "dee@example.org") == {"2026-11-11": ["one"]}


def test_a_journalist_with_only_immediate_subscriptions_gets_no_digest(
    sessions: sessionmaker[Session],
) -> None:
    with time_machine.travel(utc("2026-11-10T07:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "eve@example.org", ([], []))
        _publish(sessions, "one")
        clock.move_to(utc("2026-11-12T09:00"))
        _tick(sessions)
    with sessions() as session:
        assert session.scalars(select(Digest)).all() == []


def test_daily_and_weekly_of_one_journalist_never_share_an_item(
    sessions: sessionmaker[Session],
) -> None:
    """Both digests due in the same run: the item goes in exactly one of them."""
    with time_machine.travel(utc("2026-11-08T12:00"), tick=False) as clock:  # a Sunday
        with sessions() as session, session.begin():
            person = journalist(
                session, "fay@example.org", ([], [], Cadence.DAILY), ([], [], Cadence.WEEKLY)
            )
            person.digest_weekday = 0
        _publish(sessions, "both")
        clock.move_to(utc("2026-11-09T08:30"))  # Monday, after 08:00 UTC
        _tick(sessions)
    daily = _digests_of(sessions, "fay@example.org", Cadence.DAILY)
    weekly = _digests_of(sessions, "fay@example.org", Cadence.WEEKLY)
    assert list(daily) == list(weekly) == ["2026-11-09"]
    assert daily["2026-11-09"] + weekly["2026-11-09"] == ["both"]


def test_a_digest_whose_worker_died_is_sent_again_once(sessions: sessionmaker[Session]) -> None:
    """Claimed, then the worker vanished: after the lease the sweep hands it out again."""
    lease, policy = timedelta(minutes=5), RetryPolicy(30, 3600, 86400)
    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        with sessions() as session, session.begin():
            journalist(session, "gil@example.org", ([], [], Cadence.DAILY))
        _publish(sessions, "one")
        clock.move_to(utc("2026-11-11T08:30"))
        with sessions() as session, session.begin():
            [digest_id] = planning.plan(session, utcnow())
        with sessions() as session, session.begin():
            assert digests.claim(session, digest_id, utcnow(), lease) is not None
        # The worker died here. A duplicate message meanwhile finds nothing to claim,
        # and the sweep leaves a digest alone while its lease runs.
        with sessions() as session, session.begin():
            assert digests.claim(session, digest_id, utcnow(), lease) is None
            assert digests.sweep(session, utcnow(), timedelta(minutes=15)) == []
        clock.move_to(utc("2026-11-11T08:36"))
        with sessions() as session, session.begin():
            assert digests.sweep(session, utcnow(), timedelta(minutes=15)) == [digest_id]
        with sessions() as session, session.begin():
            again = digests.claim(session, digest_id, utcnow(), lease)
            assert again is not None and again.attempts == 2
            status = digests.record(
                session, again, Outcome(Verdict.SENT, "250 OK"), "<d@x>", utcnow(), policy
            )
        assert status == DigestStatus.SENT
        with sessions() as session, session.begin():
            assert digests.sweep(session, utcnow() + timedelta(hours=1), timedelta(0)) == []
            assert digests.claim(session, digest_id, utcnow(), lease) is None
            sent = session.scalars(select(Delivery.status).where(Delivery.digest_id == digest_id))
            assert list(sent) == [DeliveryStatus.SENT]
