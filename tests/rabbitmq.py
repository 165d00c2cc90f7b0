"""RabbitMQ for the tests: a vhost of their own, and the broker restarted on demand.

The machine's RabbitMQ is shared by everyone running tests at the same time, so a
test session works in a vhost it creates and deletes: queues, exchanges and
messages of one session are invisible to every other.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu import Connection  # type: ignore[attr-defined]

# Kombu is untyped: its calls are Any here.
connect: Any = Connection

# Without the vhost: the tests add their own.
AMQP_BASE = os.environ.get("ALERTS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
AMQP_USER = os.environ.get("ALERTS_TEST_AMQP_USER", "guest")
RABBITMQCTL = os.environ.get("ALERTS_TEST_RABBITMQCTL", "rabbitmqctl")


def rabbitmqctl(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [RABBITMQCTL, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}")
    return result.stdout


@contextmanager
def vhost(prefix: str = "alerts_test") -> Iterator[str]:
    """A fresh vhost the test user may use fully; its broker URL, deleted afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, AMQP_USER, ".*", ".*", ".*")
        yield f"{AMQP_BASE}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


def wait_for_broker(url: str, timeout: float = 60) -> None:
    """Until the broker takes connections to ``url`` again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def restart_app(url: str, down_seconds: float = 3.0) -> None:
    """Stop the RabbitMQ application (every connection dropped), wait, start it again.

    The Erlang node stays up, and with it durable queues and persistent messages.
    """
    rabbitmqctl("stop_app")
    try:
        time.sleep(down_seconds)
    finally:
        rabbitmqctl("start_app")
    wait_for_broker(url)
