"""The relay circuit breaker, kept in the database so every worker honours it.

When batches keep meeting a dead relay (refused connections, 421s, a refused
sender), the breaker opens: batches hand their rows back with the time the
relay may be tried again, instead of hammering it. The pause doubles while the
relay stays down (capped); the first accepted message closes the breaker.

One row per relay *and host* (:func:`scope`): a relay that one machine cannot
reach (its route, its firewall) is not down for the others, and a breaker
shared by all would stop every host for one host's trouble. When the relay is
down for everyone, each host opens its own after a few tries, so the relay
still sees a handful of connections per pause, not a flood.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.db import upsert_insert
from alerts.core.models import RelayBreaker


def scope(relay: str, host: str | None = None) -> str:
    """The breaker's row for this relay as seen from this host (the machine's name)."""
    return f"{relay} via {host or socket.gethostname()}"[:300]


def state(session: Session, relay: str, now: datetime) -> tuple[datetime | None, int]:
    """When the relay may be tried again (if the breaker is open now), and its failures."""
    row = session.execute(
        select(RelayBreaker.open_until, RelayBreaker.failures).where(RelayBreaker.relay == relay)
    ).first()
    if row is None:
        return None, 0
    until, failures = row
    return (until if until is not None and until > now else None), failures


def record(
    session: Session,
    relay: str,
    now: datetime,
    *,
    trouble: bool,
    delivered: bool,
    error: str | None,
    cooldown: float,
    max_cooldown: float,
) -> datetime | None:
    """Note how a batch went; returns the new ``open_until`` if the breaker opened."""
    # Created once, whoever comes first; then locked, so two workers count right.
    session.execute(
        upsert_insert(session)(RelayBreaker)
        .values(relay=relay, failures=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["relay"])
    )
    row = session.scalars(
        select(RelayBreaker).where(RelayBreaker.relay == relay).with_for_update()
    ).one()
    row.updated_at = now
    if delivered:
        row.failures, row.open_until, row.last_error = 0, None, None
        return None
    if not trouble:
        return None
    row.failures += 1
    pause = min(cooldown * 2 ** (row.failures - 1), max_cooldown)
    row.open_until = now + timedelta(seconds=pause)
    row.last_error = (error or "")[:1000]
    return row.open_until
