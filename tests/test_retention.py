"""Retention on a real SQLite database: old rows go in batches, long-gone addresses too."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from alerts.audience.csv_import import import_journalists
from alerts.audience.membership import address_hasher
from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import (
    Cadence,
    Delivery,
    Digest,
    DigestStatus,
    Journalist,
    JournalistStatus,
    Suppression,
    utcnow,
)
from alerts.delivery import retention
from tests.factories import TAXONOMY, fan_out, journalist, published_item

HASHER = address_hasher("retention-test-secret-0123456789")


def test_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    now = utcnow()
    with sessions() as session:
        for n in range(5):
            journalist(session, f"r{n}@example.net", ([], []))
        journalist(session, "gone-long@example.net", ([], []), status=JournalistStatus.UNSUBSCRIBED)
        journalist(
            session, "gone-lately@example.net", ([], []), status=JournalistStatus.UNSUBSCRIBED
        )
        old_item = published_item(session, title="Old")
        fan_out(session, old_item, now)
        new_item = published_item(session, title="New")
        fan_out(session, new_item, now)
        for age in (400, 3):  # one digest record past retention, one recent
            session.add(
                Digest(
                    journalist_id=1,
                    cadence=Cadence.DAILY,
                    period=(now - timedelta(days=age)).date().isoformat(),
                    since=now - timedelta(days=age + 1),
                    cutoff=now - timedelta(days=age),
                    status=DigestStatus.EMPTY,
                    created_at=now - timedelta(days=age),
                )
            )
        session.execute(
            update(Delivery)
            .where(Delivery.item_id == old_item)
            .values(created_at=now - timedelta(days=400))
        )
        session.execute(
            update(Journalist)
            .where(Journalist.email == "gone-long@example.net")
            .values(unsubscribed_at=now - timedelta(days=40))
        )
        session.execute(
            update(Journalist)
            .where(Journalist.email == "gone-lately@example.net")
            .values(unsubscribed_at=now - timedelta(days=3))
        )
        session.commit()

    result = retention.run(sessions, now, timedelta(days=365), timedelta(days=28), HASHER)
    assert result == {
        "deliveries_deleted": 5,
        "digests_deleted": 1,
        "clicks_deleted": 0,
        "addresses_forgotten": 1,
        "staff_sessions_deleted": 0,
    }
    with sessions() as session:
        kept = session.scalars(select(Delivery.item_id).distinct()).all()
        emails = set(session.scalars(select(Journalist.email)))
        blanked = session.scalar(select(func.count()).where(Journalist.email.is_(None)))
        suppressed = set(session.scalars(select(Suppression.email)))
    assert kept == [new_item]
    assert "gone-long@example.net" not in emails and "gone-lately@example.net" in emails
    assert blanked == 1 and HASHER("gone-long@example.net") in suppressed
    # Forgotten, yet never signed up again by an import.
    csv = b"email,name,outlet,countries,topics,cadence\ngone-long@example.net,,,,,\n"
    with sessions() as session:
        summary = import_journalists(session, io.BytesIO(csv), TAXONOMY, now, HASHER)
        session.commit()
    assert summary.journalists_created == 0 and len(summary.skipped) == 1
    # A second run finds nothing more to do.
    assert retention.run(sessions, now, timedelta(days=365), timedelta(days=28), HASHER) == {
        "deliveries_deleted": 0,
        "digests_deleted": 0,
        "clicks_deleted": 0,
        "addresses_forgotten": 0,
        "staff_sessions_deleted": 0,
    }
