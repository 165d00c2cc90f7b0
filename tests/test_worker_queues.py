"""The worker's queues: each with its own exchange and routing key, on a real broker."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Producer  # type: ignore[attr-defined]

from alerts.core.settings import load_settings
from alerts.worker.app import QUEUES, AlertsCelery, create_celery
from tests.conftest import REDIS_URL, SECRET


@pytest.fixture
def celery(tmp_path: Path) -> Iterator[AlertsCelery]:
    settings = load_settings(data_dir=tmp_path, broker_url=REDIS_URL, secret_key=SECRET)
    app = create_celery(settings)
    try:
        yield app
    finally:
        app.runtime.dispose()


def test_the_start_up_banner_names_each_queue_with_its_own_exchange(celery: AlertsCelery) -> None:
    # What `alerts worker` prints under [queues] (celery.apps.worker's banner).
    banner = celery.amqp.queues.format()
    lines = {m.group(1): m.group(0) for m in re.finditer(r"\.> (\w+)\s+\S.*", banner)}
    assert set(lines) == set(QUEUES)
    for name in QUEUES:
        assert f"exchange={name}(direct) key={name}" in lines[name], banner


def test_a_message_reaches_only_the_queue_it_was_sent_to(celery: AlertsCelery) -> None:
    # Keys of our own in the shared test database: another stack's worker may be
    # consuming these queue names there, and its keys must not be touched.
    prefix = f"queues-test-{uuid.uuid4().hex}:"
    celery.conf.broker_transport_options = dict(
        celery.conf.broker_transport_options, global_keyprefix=prefix
    )
    client = redis.Redis.from_url(REDIS_URL)
    try:
        # Kombu is untyped: its calls are Any here.
        publish: Any = Producer
        with celery.connection_for_write() as conn:
            channel = conn.default_channel
            for queue in celery.amqp.queues.values():
                queue.bind(channel).declare()
            producer = publish(channel)
            for name in QUEUES:
                queue = celery.amqp.queues[name]
                # Through the queue's own exchange and key, as a router or a tool would.
                producer.publish(
                    {"queue": name},
                    exchange=queue.exchange,
                    routing_key=queue.routing_key,
                    serializer="json",
                )
        # And the way the app sends tasks: by queue name.
        celery.send_task("alerts.sweep", queue="urgent")
        depths = {name: client.llen(prefix + name) for name in QUEUES}
        assert depths == {"urgent": 2, "bulk": 1, "periodic": 1}
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
