"""What differs between the brokers the service runs on: SQLite (embedded), Redis, RabbitMQ.

The Celery app (``worker/app.py``) and the operators' status (``ops/status.py``) ask
here, so the two agree on which URL is which broker.
"""

from __future__ import annotations

from typing import Any

# Kombu's names for its py-amqp transport: RabbitMQ (or any AMQP 0-9-1 broker).
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")
REDIS_SCHEMES = ("redis://", "rediss://")


def is_amqp(url: str) -> bool:
    return url.startswith(AMQP_SCHEMES)


def is_redis(url: str) -> bool:
    return url.startswith(REDIS_SCHEMES)


def carries_broadcast(url: str) -> bool:
    """Whether events (Flower, ``celery events``) and ``inspect`` reach other processes.

    They travel over fan-out exchanges, which Kombu's SQLAlchemy transport (the
    embedded default) does not carry between processes.
    """
    return is_redis(url) or is_amqp(url)


def transport_options(url: str) -> dict[str, Any]:
    if url.startswith("sqla+sqlite"):
        # Kombu hands these to create_engine: wait for the file lock, don't fail.
        return {"connect_args": {"timeout": 30}}
    if is_redis(url):
        # Every countdown we use is far below this, so no task is delivered twice
        # merely for waiting in a worker's reserve.
        return {"visibility_timeout": 3600}
    if is_amqp(url):
        # Publisher confirms: send_task returns once RabbitMQ has taken the message,
        # and raises if it did not. Without them a message written to the socket just
        # before the broker stopped was gone without a word (the sweep would find its
        # rows again, but only after ALERTS_REQUEUE_AFTER_SECONDS).
        return {"confirm_publish": True}
    return {}
