"""The Celery application, built from settings by :func:`create_celery`."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_init,
    worker_process_shutdown,
)
from kombu import Exchange, Queue  # type: ignore[attr-defined]

from alerts.core import metrics
from alerts.core.log_redaction import redact_handlers
from alerts.core.logs import use_json
from alerts.core.models import utcnow
from alerts.core.runtime import Runtime
from alerts.core.settings import Settings
from alerts.worker import broker, sqlite_broker

URGENT = "urgent"  # fan-out and immediate alerts: never behind anything else
BULK = "bulk"  # digests, imports, test sends and other work that can wait
PERIODIC = "periodic"  # the sweep and other beat tasks
QUEUES = (URGENT, BULK, PERIODIC)

FAN_OUT = "alerts.fan_out"
FAN_OUT_LANE = "alerts.fan_out_lane"
SEND_BATCH = "alerts.send_batch"
SWEEP = "alerts.sweep"
SEND_NOTICE = "alerts.send_notice"
SEND_TEST = "alerts.send_test"
PUBLISH_DUE = "alerts.publish_due"
POLL_FEEDS = "alerts.poll_feeds"
RETENTION = "alerts.retention"
PLAN_DIGESTS = "alerts.plan_digests"
SEND_DIGEST = "alerts.send_digest"
FOLLOW_CORRECTIONS = "alerts.follow_corrections"


class AlertsCelery(Celery):
    """A Celery app that carries the process's :class:`Runtime`."""

    runtime: Runtime

    @cached_property
    def Worker(self) -> Any:  # Celery's name for it
        # The worker program with stop signals that end in exit 0 (worker/stopping.py).
        return self.subclass_with_self("alerts.worker.stopping:Worker")

    def enqueue_fan_out(self, item_id: int) -> None:
        self.send_task(FAN_OUT, args=[item_id], queue=URGENT)

    def enqueue_fan_out_lanes(self, item_id: int) -> None:
        """More processes on an item's fan-out plan: ``ALERTS_FAN_OUT_LANES`` in all.

        SQLite has one writer: there, one process does every slice.
        """
        runtime = self.runtime
        if runtime.engine.dialect.name != "postgresql":
            return
        for _ in range(runtime.settings.fan_out_lanes - 1):
            self.send_task(FAN_OUT_LANE, args=[item_id], queue=URGENT)

    def enqueue_batch(self, delivery_ids: list[int], queue: str = URGENT) -> None:
        self.send_task(SEND_BATCH, args=[delivery_ids], queue=queue)

    def enqueue_batches(self, delivery_ids: list[int], queue: str = URGENT) -> None:
        """Queue rows already marked queued, ``ALERTS_BATCH_SIZE`` to a message."""
        size = self.runtime.settings.batch_size
        for start in range(0, len(delivery_ids), size):
            self.enqueue_batch(delivery_ids[start : start + size], queue)

    def enqueue_digests(self, digest_ids: list[int]) -> None:
        # Digests can wait: they never hold up an alert.
        for digest_id in digest_ids:
            self.send_task(SEND_DIGEST, args=[digest_id], queue=BULK)

    def enqueue_test_send(self, item_id: int, address: str) -> None:
        self.send_task(SEND_TEST, args=[item_id, address], queue=BULK)

    def enqueue_notice(
        self, journalist_id: int, notice: str, request: dict[str, Any] | None = None
    ) -> None:
        # When it was asked for travels with the id: a notice that outlives its journalist
        # (an id SQLite hands out again once the last row is gone) must not reach the next.
        asked_at = utcnow().isoformat()
        # A journalist waits for this one with the page still open: urgent.
        self.send_task(SEND_NOTICE, args=[journalist_id, notice, request, asked_at], queue=URGENT)


_current: AlertsCelery | None = None


def current() -> AlertsCelery | None:
    """The app this process built, for signal handlers that get no app."""
    return _current


# A duty message never lives less than this. A late one is harmless (it claims the tick
# it runs in, or finds it taken), but one that expires before a polling broker hands it
# over is lost: on the SQLite broker a message can wait two seconds in the queue, so
# with an expiry of one short interval a beat's every message was discarded unread.
DUTY_EXPIRY_FLOOR = 60.0


def _duty(task: str, seconds: float) -> dict[str, Any]:
    """A beat entry for a periodic duty: it claims its tick (see ops/duties.py); its
    message expires after an interval (at least a minute), so a stopped worker does not
    come back to a pile of them."""
    return {
        "task": task,
        "schedule": seconds,
        "kwargs": {"beat": True},
        "options": {"queue": PERIODIC, "expires": max(seconds, DUTY_EXPIRY_FLOOR)},
    }


def create_celery(settings: Settings) -> AlertsCelery:
    global _current
    app = AlertsCelery("alerts", set_as_current=True)
    app.runtime = Runtime(settings, on_published=app.enqueue_fan_out)
    assert settings.metrics_dir is not None
    metrics.setup(settings.metrics_dir)
    # Flower and `celery events` listen by broadcast, which the SQLite broker lacks.
    events = broker.carries_broadcast(settings.broker_url)
    connection: dict[str, Any] = {"broker_url": settings.broker_url}
    if settings.broker_url.startswith("sqla+sqlite"):
        # Our subclass of the transport: it polls faster and writes the file in WAL.
        connection = {
            "broker_url": sqlite_broker.broker_url(settings.broker_url),
            "broker_transport": sqlite_broker.TRANSPORT,
        }
    app.conf.update(
        **connection,
        broker_transport_options=broker.transport_options(settings.broker_url),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # When the broker connection drops (a RabbitMQ restart), a batch already sending
        # carries on and records each result in the database; its message, which can no
        # longer be acknowledged, is redelivered and claims nothing. Cancelling it instead
        # (Celery 6's default) would stop it between an accepted SMTP send and its record,
        # and the lease sweep would send that email again.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_prefetch_multiplier=1,
        # Each queue bound to its own direct exchange under its own name: a bare
        # Queue(name) is bound to the default queue's exchange and key, so all three
        # shared `periodic` (and a message published there reached every queue).
        # Sending is unchanged: tasks go to a queue by name, through the default exchange.
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES
        ],
        task_default_queue=PERIODIC,
        task_routes={
            SEND_NOTICE: {"queue": URGENT},
            SEND_TEST: {"queue": BULK},
            PUBLISH_DUE: {"queue": PERIODIC},
            POLL_FEEDS: {"queue": PERIODIC},
            RETENTION: {"queue": PERIODIC},
            PLAN_DIGESTS: {"queue": PERIODIC},
            SEND_DIGEST: {"queue": BULK},
            FOLLOW_CORRECTIONS: {"queue": PERIODIC},
            FAN_OUT: {"queue": URGENT},
            FAN_OUT_LANE: {"queue": URGENT},
            SEND_BATCH: {"queue": URGENT},
            SWEEP: {"queue": PERIODIC},
        },
        beat_schedule={
            "retention": _duty(RETENTION, settings.retention_interval_seconds),
            "poll-feeds": _duty(POLL_FEEDS, settings.feed_poll_seconds),
            "publish-due": _duty(PUBLISH_DUE, settings.schedule_poll_seconds),
            "plan-digests": _duty(PLAN_DIGESTS, settings.digest_poll_seconds),
            "follow-corrections": _duty(FOLLOW_CORRECTIONS, settings.requeue_after_seconds),
            "sweep": _duty(SWEEP, settings.sweep_interval_seconds),
        },
        worker_send_task_events=events,
        task_send_sent_event=events,
        timezone="UTC",
        enable_utc=True,
        include=["alerts.worker.tasks"],
    )
    _current = app
    return app


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: logging.Logger, **_: Any) -> None:
    redact_handlers(logger)  # a task's arguments or an error may quote a link
    if _current is not None and _current.runtime.settings.log_format == "json":
        use_json(logger)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked child must not reuse the parent's database sockets.
    if _current is not None:
        _current.runtime.dispose()


@worker_process_shutdown.connect
def _quit_relay(**_: Any) -> None:
    if _current is not None:
        _current.runtime.close_transport()
