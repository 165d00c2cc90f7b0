"""Thin Celery tasks: ids in, one session per step, a use case, enqueue after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from celery import Task, shared_task

from alerts.audience.membership import Notice
from alerts.core import metrics
from alerts.core.models import utcnow
from alerts.core.runtime import Runtime
from alerts.delivery import batch, breaker, recovery, retention, single
from alerts.delivery.fanout import fan_out_in_slices, work_through
from alerts.delivery.outcome import RetryPolicy, Verdict
from alerts.digests import lanes
from alerts.digests import runs as digests
from alerts.feeds.fetch import make_client
from alerts.feeds.guard import AddressPolicy
from alerts.feeds.ingest import poll_all
from alerts.feeds.lead_photos import LeadPhotos
from alerts.items.embargoes import lift_due
from alerts.items.lifecycle import publish_due
from alerts.mail.smtp import SmtpTransport
from alerts.worker.app import (
    FAN_OUT,
    FAN_OUT_LANE,
    FOLLOW_CORRECTIONS,
    PLAN_DIGESTS,
    POLL_FEEDS,
    PUBLISH_DUE,
    RETENTION,
    SEND_BATCH,
    SEND_DIGEST,
    SEND_NOTICE,
    SEND_TEST,
    SWEEP,
    AlertsCelery,
)
from alerts.worker.duty_runner import run_duty
from alerts.worker.stopping import stop_requested

log = logging.getLogger(__name__)
T = TypeVar("T")


def _app(task: Task[Any, Any]) -> AlertsCelery:
    return cast(AlertsCelery, task.app)


def _duty(
    task: Task[Any, Any], name: str, work: Callable[[AlertsCelery], T], beat: bool
) -> T | None:
    """A duty; from a beat, run once per tick by whichever worker claims it (None: taken).

    Sent by hand (tests, an operator), it runs at once: only beats race for a tick.
    """
    app = _app(task)
    host = str(task.request.hostname or "?")
    return run_duty(app, name, host, lambda: work(app), per_tick=beat)


@shared_task(name=FAN_OUT, bind=True)
def fan_out_task(self: Task[Any, Any], item_id: int) -> int:
    app = _app(self)
    runtime = app.runtime
    queued = 0
    for count in fan_out_in_slices(
        runtime.sessions,
        item_id,
        utcnow,
        runtime.settings.fan_out_slice,
        app.enqueue_batches,
        # After the first slice's batches: they are queued ahead of the helpers.
        lambda: app.enqueue_fan_out_lanes(item_id),
    ):
        queued += count
    metrics.record_fan_out(queued)
    log.info("fan-out item_id=%s queued=%d", item_id, queued)
    return queued


@shared_task(name=FAN_OUT_LANE, bind=True)
def fan_out_lane_task(self: Task[Any, Any], item_id: int) -> int:
    """One more process on an item's fan-out plan: free slices until none is left."""
    app = _app(self)
    runtime = app.runtime
    queued = 0
    for count, _ in work_through(runtime.sessions, item_id, utcnow, app.enqueue_batches):
        queued += count
    log.info("fan-out lane item_id=%s queued=%d", item_id, queued)
    return queued


def _policy(runtime: Runtime) -> RetryPolicy:
    s = runtime.settings
    return RetryPolicy(s.retry_base_seconds, s.retry_max_seconds, s.retry_deadline_seconds)


def _rules(runtime: Runtime) -> batch.BatchRules:
    s = runtime.settings
    return batch.BatchRules(
        lease=timedelta(seconds=s.lease_seconds),
        # This host's view of the relay: one host's trouble pauses that host only.
        relay=breaker.scope(s.smtp.label),
        policy=_policy(runtime),
        cooldown=s.breaker_cooldown_seconds,
        max_cooldown=s.breaker_max_cooldown_seconds,
    )


@shared_task(name=SEND_BATCH, bind=True)
def send_batch_task(self: Task[Any, Any], delivery_ids: list[int]) -> dict[str, int]:
    runtime = _app(self).runtime
    # The process's connection, reused across batches: connecting costs more than a message.
    return batch.send_deliveries(
        delivery_ids,
        runtime.sessions,
        runtime.transport(),
        runtime,
        _rules(runtime),
        runtime.throttle,
        # A stop signal (a supervisor's, to every process) ends the batch between
        # two messages: what the relay took is recorded, the rest handed back.
        stop_requested,
    )


@shared_task(name=SWEEP, bind=True)
def sweep_task(self: Task[Any, Any], beat: bool = False) -> dict[str, int] | None:
    return _duty(self, "sweep", _sweep, beat)


def _sweep(app: AlertsCelery) -> dict[str, int]:
    runtime = app.runtime
    settings = runtime.settings
    with runtime.sessions() as session, session.begin():
        result = recovery.sweep(
            session, utcnow(), timedelta(seconds=settings.requeue_after_seconds)
        )
        digests_due = digests.sweep(
            session, utcnow(), timedelta(seconds=settings.requeue_after_seconds)
        )
    for item_id in result.items_to_fan_out:
        app.enqueue_fan_out(item_id)
    app.enqueue_batches(result.requeue)
    app.enqueue_digests(digests_due)
    summary = {
        "released_leases": result.released_leases,
        "fan_outs": len(result.items_to_fan_out),
        "requeued": len(result.requeue),
        "digests_requeued": len(digests_due),
    }
    log.info("sweep %s", summary)
    return summary


@shared_task(name=SEND_NOTICE, bind=True, max_retries=8)
def send_notice_task(
    self: Task[Any, Any],
    journalist_id: int,
    notice: str,
    request: dict[str, Any] | None = None,
    asked_at: str | None = None,
) -> str:
    """A confirmation or "already subscribed" email to one journalist."""
    runtime = _app(self).runtime
    # None: a message queued before asked_at existed (an upgrade mid-flight).
    asked = datetime.fromisoformat(asked_at) if asked_at else None
    with _fresh_transport(runtime) as transport:
        outcome = single.send_account_email(
            journalist_id, Notice(notice), request, runtime.sessions, transport, runtime, asked
        )
    if isinstance(outcome, str):
        return outcome
    if outcome.verdict is Verdict.RETRY:
        # Few and short-lived: a countdown far below any visibility timeout is fine.
        raise self.retry(countdown=min(30 * 2**self.request.retries, 600))
    return outcome.verdict.value


def _fresh_transport(runtime: Runtime) -> SmtpTransport:
    """A connection of its own for a single email, closed after it (not the batches' one)."""
    settings = runtime.settings
    return SmtpTransport(settings.smtp, settings.smtp_timeout_seconds)


@shared_task(name=PUBLISH_DUE, bind=True)
def publish_due_task(self: Task[Any, Any], beat: bool = False) -> list[int] | None:
    """Beat: publish scheduled items and lift embargoes whose time has come, then fan out."""
    return _duty(self, "publish_due", _publish_due, beat)


def _publish_due(app: AlertsCelery) -> list[int]:
    with app.runtime.sessions() as session, session.begin():
        published = publish_due(session, utcnow())
        lifted = lift_due(session, utcnow())
    for item_id in published + lifted:
        app.enqueue_fan_out(item_id)
    if published:
        log.info("published scheduled items %s", published)
    if lifted:
        log.info("lifted embargoes on items %s", lifted)
    return published + lifted


@shared_task(name=SEND_TEST, bind=True, max_retries=3)
def send_test_task(self: Task[Any, Any], item_id: int, address: str) -> str:
    """Staff's test send: the item exactly as journalists get it, marked [TEST]."""
    runtime = _app(self).runtime
    with _fresh_transport(runtime) as transport:
        outcome = single.send_test(item_id, address, runtime.sessions, transport, runtime)
    if outcome is None:
        return "gone"
    if outcome.verdict is Verdict.RETRY:
        raise self.retry(countdown=30)
    return outcome.verdict.value


@shared_task(name=POLL_FEEDS, bind=True)
def poll_feeds_task(self: Task[Any, Any], beat: bool = False) -> dict[str, Any] | None:
    """Beat: poll the newsroom feeds; new mapped entries are published (and fanned out)."""
    return _duty(self, "poll_feeds", _poll_feeds, beat)


def _poll_feeds(app: AlertsCelery) -> dict[str, Any]:
    runtime = app.runtime
    policy = AddressPolicy(allow_private=runtime.settings.feeds_allow_private)
    with make_client(policy=policy) as client:
        # runtime.sessions: its after-commit hook enqueues each published item's fan-out.
        photos = LeadPhotos.of(runtime.settings)
        return poll_all(runtime.sessions, runtime.taxonomy, client, utcnow(), photos)


@shared_task(name=RETENTION, bind=True)
def retention_task(self: Task[Any, Any], beat: bool = False) -> dict[str, int] | None:
    """Beat: delete old delivery rows, forget addresses of people long unsubscribed."""
    return _duty(self, "retention", _retention, beat)


def _retention(app: AlertsCelery) -> dict[str, int]:
    runtime = app.runtime
    settings = runtime.settings
    result = retention.run(
        runtime.sessions,
        utcnow(),
        timedelta(days=settings.retention_days),
        timedelta(days=settings.forget_unsubscribed_after_days),
        runtime.address_hasher,
    )
    log.info("retention %s", result)
    return result


@shared_task(name=PLAN_DIGESTS, bind=True)
def plan_digests_task(self: Task[Any, Any], beat: bool = False) -> int | None:
    """Beat: record the digests that have come due and queue those with items."""
    return _duty(self, "plan_digests", _plan_digests, beat)


def _plan_digests(app: AlertsCelery) -> int:
    runtime = app.runtime
    postgres = runtime.engine.dialect.name == "postgresql"
    # Each chunk's digests are queued once that chunk has committed: a lost message
    # is found again by the sweep, never sent twice.
    due = lanes.plan_in_lanes(
        runtime.sessions,
        utcnow(),
        runtime.settings.digest_lanes if postgres else 1,
        app.enqueue_digests,
    )
    if due:
        log.info("digests planned count=%d", len(due))
    return len(due)


@shared_task(name=SEND_DIGEST, bind=True)
def send_digest_task(self: Task[Any, Any], digest_id: int) -> str:
    """One journalist's digest, over the process's relay connection."""
    runtime = _app(self).runtime
    return single.send_digest(
        digest_id,
        runtime.sessions,
        runtime.transport(),
        runtime,
        timedelta(seconds=runtime.settings.lease_seconds),
        _policy(runtime),
    )


@shared_task(name=FOLLOW_CORRECTIONS, bind=True)
def follow_corrections_task(self: Task[Any, Any], beat: bool = False) -> list[int] | None:
    """Beat: corrections and notices owed to readers their original reached later."""
    return _duty(self, "follow_corrections", _follow_corrections, beat)


def _follow_corrections(app: AlertsCelery) -> list[int]:
    settings = app.runtime.settings
    with app.runtime.sessions() as session:
        owed = recovery.corrections_owed(
            session, utcnow(), timedelta(seconds=settings.requeue_after_seconds)
        )
    for item_id in owed:
        app.enqueue_fan_out(item_id)  # idempotent: only the missing rows are added
    if owed:
        log.info("corrections followed up item_ids=%s", owed)
    return owed
