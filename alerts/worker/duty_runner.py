"""Running a periodic duty once per tick, and every worker watching that duties still run."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from celery.signals import celeryd_init, worker_ready, worker_shutdown

from alerts.core.models import utcnow
from alerts.ops import duties
from alerts.worker.app import AlertsCelery, current

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_duty(
    app: AlertsCelery, duty: str, host: str, work: Callable[[], T], per_tick: bool = True
) -> T | None:
    """Run ``work`` if this tick of ``duty`` is ours; record its start, end and result."""
    runtime = app.runtime
    interval = duties.intervals(runtime.settings)[duty]
    with runtime.sessions() as session:
        run_id = duties.claim(session, duty, interval, utcnow(), host, per_tick)
    if run_id is None:
        log.debug("duty %s: this tick already taken by another worker", duty)
        return None
    try:
        result = work()
    except Exception as exc:
        with runtime.sessions() as session:
            duties.finish(session, run_id, False, f"{type(exc).__name__}", utcnow())
        raise
    with runtime.sessions() as session:
        duties.finish(session, run_id, True, result, utcnow())
    return result


def warn_overdue(app: AlertsCelery) -> list[str]:
    """Log a warning for each duty overdue by more than three intervals; return their names."""
    settings = app.runtime.settings
    with app.runtime.sessions() as session:
        late = [s for s in duties.states(session, settings, utcnow()) if s.overdue]
    for state in late:
        log.warning(
            "duty %s overdue: no success for %.0f s (every %.0f s expected); is a beat running?",
            state.name,
            state.late_seconds,
            state.interval_seconds,
        )
    return [s.name for s in late]


_stop = threading.Event()


def _announce(options: dict[str, Any] | None = None, **_: Any) -> None:
    """In a worker's first lines: say so when no beat has run any duty lately."""
    app = current()
    if app is None:
        return
    settings = app.runtime.settings
    now = utcnow()
    try:
        with app.runtime.sessions() as session, session.begin():
            silent = duties.beat_silent(session, settings, now)
            duties.register(session, list(duties.intervals(settings)), now)
    except Exception as exc:  # an unmigrated database is reported by the tasks themselves
        print(f"duty heartbeats unavailable: {type(exc).__name__}", file=sys.stderr)
        return
    beat = bool((options or {}).get("beat"))
    if silent and not beat:
        # Logging is not configured yet this early; stderr is where the banner goes.
        print(f"WARNING: {duties.NO_BEAT}", file=sys.stderr, flush=True)
    elif silent:
        print("no duty has run lately: this worker's beat will start them", file=sys.stderr)


def _watch(**_: Any) -> None:
    """Every worker checks the heartbeats, so an overdue duty shows up in every log."""
    app = current()
    if app is None:
        return
    every = max(min(duties.intervals(app.runtime.settings).values()), 1.0)

    def loop() -> None:
        while not _stop.wait(every):
            try:
                warn_overdue(app)
            except Exception:  # the database may be down for a moment; try next time
                log.exception("could not read the duty heartbeats")

    _stop.clear()
    threading.Thread(target=loop, name="duty-watch", daemon=True).start()


def _unwatch(**_: Any) -> None:
    _stop.set()


# Connected by call, not as decorators: these signals are untyped in the stubs.
celeryd_init.connect(_announce)
worker_ready.connect(_watch)
worker_shutdown.connect(_unwatch)
