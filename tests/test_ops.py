"""Operators' view: `alerts status`, /metrics, /healthz, /readyz — on the real stacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from typer.testing import CliRunner

from alerts.cli.root import app as cli
from alerts.core.models import Delivery, DeliveryStatus, Suppression
from alerts.dev.sink import free_port
from alerts.web import create_app
from alerts.worker.app import create_celery
from tests.conftest import Stack
from tests.factories import journalist, published_item

runner = CliRunner()


def _status(stack: Stack) -> dict[str, Any]:
    env = {k: v for k, v in stack.env.items() if k.startswith("ALERTS_")}
    result = runner.invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_status_reports_true_queue_depths_and_progress(pipeline: Stack) -> None:
    with pipeline.session() as session:
        for n in range(10):
            journalist(session, f"s{n}@example.net", ([], []))
        session.commit()
    # An injected failure: one mailbox the relay refuses (without suppressing it).
    pipeline.sink.rcpt_replies = {"s1@example.net": "552 5.3.4 message too big"}
    pipeline.stop_worker()
    try:
        with pipeline.session() as session:
            first = published_item(session, title="Queued while stopped")
            second = published_item(session, title="Also queued")
            session.commit()  # two fan-outs wait in the urgent queue
        stopped = _status(pipeline)
        assert stopped["queues"] == {"urgent": 2, "bulk": 0, "periodic": 0}
        assert stopped["broker"]["reachable"] is True
    finally:
        pipeline.start_worker()
    pipeline.wait_for_item(first)
    pipeline.wait_for_item(second)
    drained = _status(pipeline)
    assert drained["queues"] == {"urgent": 0, "bulk": 0, "periodic": 0}
    assert drained["deliveries_last_hour"] == {
        "pending": 0,
        "sending": 0,
        "sent": 18,
        "failed": 2,
        "cancelled": 0,
    }
    assert drained["failure_rate_last_day"] == 0.1
    assert drained["oldest_pending_seconds"] is None
    recent = {i["title"]: i for i in drained["recent_items"]}
    assert (recent["Queued while stopped"]["sent"], recent["Queued while stopped"]["failed"]) == (
        9,
        1,
    )
    assert recent["Queued while stopped"]["publish_to_last_send_seconds"] > 0
    workers = drained["workers"]
    if pipeline.name == "postgres":  # Redis carries the inspect broadcast
        assert workers and all(q == ["bulk", "periodic", "urgent"] for q in workers.values())
    else:
        assert workers is None


def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_match_the_delivery_record(pipeline: Stack) -> None:
    pipeline.sink.rcpt_replies = {
        "gone@example.net": "550 5.1.1 no such user",
        "big@example.net": "552 5.3.4 too big",
    }
    with TestClient(create_app(pipeline.app)) as client:
        before = _metrics(client)
        with pipeline.session() as session:
            for email in (
                "a@example.net",
                "b@example.net",
                "c@example.net",
                "gone@example.net",
                "big@example.net",
            ):
                journalist(session, email, ([], []))
            item_id = published_item(session)
            session.commit()
        pipeline.wait_for_item(item_id)
        after = _metrics(client)
    with pipeline.session() as session:
        in_db = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        suppressed = session.scalar(select(func.count()).select_from(Suppression))

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert in_db == {DeliveryStatus.SENT: 3, DeliveryStatus.FAILED: 2}
    assert delta("alerts_deliveries_total", outcome="sent", reason="250") == 3
    assert delta("alerts_deliveries_total", outcome="failed", reason="550") == 1
    assert delta("alerts_deliveries_total", outcome="failed", reason="552") == 1
    assert after[("alerts_deliveries", (("status", "sent"),))] == 3
    assert after[("alerts_deliveries", (("status", "failed"),))] == 2
    assert after[("alerts_suppressions_total", (("kind", "bounce"),))] == suppressed == 1
    assert delta("alerts_fanout_size_count") == 1 and delta("alerts_fanout_size_sum") == 5
    assert delta("alerts_publish_to_send_seconds_count") == 3
    assert after[("alerts_queue_depth", (("queue", "urgent"),))] == 0


def test_healthz_and_readyz_with_a_dead_relay(pipeline: Stack) -> None:
    with TestClient(create_app(pipeline.app)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert all(check["ok"] for check in ready.json()["checks"].values())
    dead = pipeline.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    with TestClient(create_app(create_celery(dead))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["smtp"]["ok"] is False and "ConnectionRefused" in checks["smtp"]["detail"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]


def _redis_server(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A throwaway Redis on a port of its own, answering before this returns."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test (Debian package redis-server)"
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while (
        subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
        ).stdout.strip()
        != "PONG"
    ):
        assert time.monotonic() < deadline, "private redis did not start"
        time.sleep(0.05)
    return server


@pytest.mark.parametrize("stack", ["postgres"], indirect=True)
def test_readyz_follows_the_broker_down_and_back(pipeline: Stack, tmp_path: Path) -> None:
    port = free_port()
    server = _redis_server(port, tmp_path)
    try:
        settings = pipeline.settings.model_copy(
            update={"broker_url": f"redis://127.0.0.1:{port}/0"}
        )
        with TestClient(create_app(create_celery(settings))) as client:
            assert client.get("/readyz").status_code == 200
            server.kill()
            server.wait()
            down = client.get("/readyz")
            assert down.status_code == 503 and down.json()["checks"]["broker"]["ok"] is False
            server = _redis_server(port, tmp_path)
            deadline = time.monotonic() + 15
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "readyz did not come back"
                time.sleep(0.2)
    finally:
        server.kill()
        server.wait()


def test_worker_logs_name_ids_never_addresses(pipeline: Stack) -> None:
    with pipeline.session() as session:
        journalist(session, "private.person@example.net", ([], []))
        item_id = published_item(session, title="Logged")
        session.commit()
    pipeline.wait_for_item(item_id)
    log = pipeline.worker_log()
    assert f"item_id={item_id}" in log and "delivery attempt" in log
    assert "private.person" not in log


def test_json_log_lines() -> None:
    import logging

    from alerts.core.logs import JsonFormatter

    record = logging.makeLogRecord(
        {
            "msg": "delivery attempt delivery_id=%s",
            "args": (7,),
            "levelname": "INFO",
            "name": "alerts.sending",
            "item_id": 3,
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "delivery attempt delivery_id=7"
    assert line["level"] == "INFO" and line["item_id"] == 3 and "time" in line
