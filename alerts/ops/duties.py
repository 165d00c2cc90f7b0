"""The periodic duties' heartbeats, and the claim that lets one worker run each tick.

Every worker may run a beat (`alerts worker --beat`), so each beat sends every
duty on its own clock. A run first claims its tick: a ``duty_runs`` row unique
on (duty, floor(now / interval)). Whichever message reaches a worker first in a
tick runs the duty; the others find the row and stop. There is no leader to
lose: if the worker that ran the last tick is killed, the next tick is claimed
by whichever beat's message comes next, so another takes over within one
interval. The duties stay safe to run twice regardless (status-guarded SQL).

The ``duties`` table keeps one heartbeat row per duty: what ``alerts status``,
/ops, /metrics and /readyz read, and what every worker checks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.core.db import upsert_insert
from alerts.core.models import Duty, DutyRun
from alerts.core.settings import Settings

# How many intervals late a duty may be before operators are told.
OVERDUE_INTERVALS = 3
# Per-tick rows kept per duty: enough to read back a day of a minutely duty.
KEEP_RUNS = 2000

NO_BEAT = "no beat is running: retries, scheduled items and embargo lifts will not happen"


def intervals(settings: Settings) -> dict[str, float]:
    """Each duty and how often the beat runs it (the same numbers as the beat schedule)."""
    return {
        "sweep": settings.sweep_interval_seconds,
        "publish_due": settings.schedule_poll_seconds,
        "plan_digests": settings.digest_poll_seconds,
        "follow_corrections": float(settings.requeue_after_seconds),
        "poll_feeds": settings.feed_poll_seconds,
        "retention": settings.retention_interval_seconds,
    }


def tick_of(now: datetime, interval: float) -> int:
    return math.floor(now.timestamp() / interval)


def register(session: Session, names: list[str], now: datetime) -> None:
    """Make sure each duty has a heartbeat row (its clock for "never ran" starts now)."""
    rows = [{"name": name, "registered_at": now} for name in names]
    session.execute(upsert_insert(session)(Duty).values(rows).on_conflict_do_nothing())


def claim(
    session: Session, duty: str, interval: float, now: datetime, host: str, per_tick: bool = True
) -> int | None:
    """This tick's run of ``duty`` for ``host``, or None when another worker has it.

    Commits: the claim must be visible to every other worker before the duty runs.
    Without ``per_tick`` (a run asked for by hand) the row has no tick and always wins.
    """
    tick = tick_of(now, interval) if per_tick else None
    run = DutyRun(duty=duty, tick=tick, host=host[:200], started_at=now)
    try:
        with session.begin():
            register(session, [duty], now)
            session.add(run)
            session.flush()
            session.execute(
                update(Duty)
                .where(Duty.name == duty)
                .values(last_started_at=now, last_host=host[:200])
            )
            kept = now - timedelta(seconds=KEEP_RUNS * interval)
            session.execute(delete(DutyRun).where(DutyRun.duty == duty, DutyRun.started_at < kept))
    except IntegrityError:
        return None  # the (duty, tick) key: someone else runs this tick
    return run.id


def finish(session: Session, run_id: int, ok: bool, result: Any, now: datetime) -> None:
    """Record how the run ended; a success is the heartbeat operators watch."""
    text = json.dumps(result, default=str)[:1000]
    with session.begin():
        run = session.get(DutyRun, run_id)
        if run is None:  # pruned meanwhile: nothing to record against
            return
        run.finished_at, run.ok, run.result = now, ok, text
        values: dict[str, Any] = {"last_finished_at": now, "last_result": text}
        if ok:
            values["last_success_at"] = now
        session.execute(update(Duty).where(Duty.name == run.duty).values(**values))


@dataclass(frozen=True)
class DutyState:
    name: str
    interval_seconds: float
    last_started: datetime | None
    last_success: datetime | None
    last_result: str | None
    last_host: str | None
    overdue: bool
    late_seconds: float  # seconds since the last success (or since it was expected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_started": self.last_started.isoformat() if self.last_started else None,
            "last_result": self.last_result,
            "last_host": self.last_host,
            "interval_seconds": self.interval_seconds,
            "overdue": self.overdue,
        }


def states(session: Session, settings: Settings, now: datetime) -> list[DutyState]:
    """Every duty, overdue when it has not succeeded for more than three intervals."""
    rows = {d.name: d for d in session.scalars(select(Duty))}
    result = []
    for name, interval in intervals(settings).items():
        row = rows.get(name)
        since = (row.last_success_at or row.registered_at) if row else None
        late = (now - since).total_seconds() if since else 0.0
        result.append(
            DutyState(
                name=name,
                interval_seconds=interval,
                last_started=row.last_started_at if row else None,
                last_success=row.last_success_at if row else None,
                last_result=row.last_result if row else None,
                last_host=row.last_host if row else None,
                overdue=late > OVERDUE_INTERVALS * interval,
                late_seconds=late,
            )
        )
    return result


def duties_part(session: Session, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The ``"duties"`` entries of the status snapshot."""
    return [state.as_dict() for state in states(session, settings, now)]


def beat_silent(session: Session, settings: Settings, now: datetime) -> bool:
    """True when no duty has succeeded within three of its intervals (no beat anywhere)."""
    recent = [
        s
        for s in states(session, settings, now)
        if s.last_success is not None
        and (now - s.last_success) <= timedelta(seconds=OVERDUE_INTERVALS * s.interval_seconds)
    ]
    return not recent
