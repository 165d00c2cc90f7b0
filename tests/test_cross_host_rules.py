"""The two rules the multi-host cases (tests/multihost/) led to, on a real database."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alerts.core.db import make_engine
from alerts.core.migrate import upgrade
from alerts.core.models import utcnow
from alerts.delivery import breaker


def test_one_hosts_relay_trouble_leaves_the_other_hosts_breaker_closed(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    relay = "smtp://relay.example:25"
    here, there = breaker.scope(relay, "w1"), breaker.scope(relay, "w2")
    assert here != there
    now = utcnow()
    with Session(engine) as session, session.begin():
        opened = breaker.record(
            session, here, now, trouble=True, delivered=False, error="timed out",
            cooldown=30, max_cooldown=600,
        )  # fmt: skip
    with Session(engine) as session:
        assert opened is not None
        assert breaker.state(session, here, now)[0] == opened
        assert breaker.state(session, there, now) == (None, 0)
    engine.dispose()


def test_a_transaction_left_idle_is_ended_by_the_server(postgres_url: str) -> None:
    """As a host frozen mid-transaction leaves it: its locks must not outlive the lease."""
    engine = make_engine(postgres_url, idle_in_transaction_seconds=1)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1s"
        conn.execute(text("SELECT 1"))  # the transaction is open now
        time.sleep(2)
        with pytest.raises(DBAPIError) as ended:
            conn.execute(text("SELECT 1"))
    # What the recording retry looks for: the connection is gone, not the statement wrong.
    assert ended.value.connection_invalidated
    engine.dispose()
