"""Prometheus metrics: counters from every worker process, gauges read at scrape time.

Workers and web processes share ``METRICS_DIR`` (prometheus-client's
multiprocess mode); ``PROMETHEUS_MULTIPROC_DIR`` must be set before the library
is imported, so :func:`setup` runs at start-up, before any metric exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.delivery.outcome import Outcome, Verdict


class _Metrics:
    """The process's metric objects, made by :func:`setup`."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.deliveries = Counter(
            "alerts_deliveries_total",
            "Delivery attempts by outcome and reason",
            ["outcome", "reason"],
        )
        self.digests = Counter(
            "alerts_digests_total",
            "Digest sending attempts by cadence, outcome and reason",
            ["cadence", "outcome", "reason"],
        )
        self.smtp_connection_errors = Counter(
            "alerts_smtp_connection_errors_total", "Relay connections refused, dropped or timed out"
        )
        self.fanout_size = Histogram(
            "alerts_fanout_size",
            "Deliveries created per fan-out",
            buckets=(1, 10, 100, 1_000, 10_000, 100_000, 1_000_000),
        )
        self.clicks = Counter(
            "alerts_clicks_total", "Click-through link clicks counted, human or machine", ["kind"]
        )
        self.publish_to_send = Histogram(
            "alerts_publish_to_send_seconds",
            "From an item's publication to each accepted send",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
        )


_metrics: _Metrics | None = None


def setup(directory: Path) -> None:
    """Use ``directory`` for every process's samples (call once per process, early)."""
    global _metrics
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    if _metrics is None:
        _metrics = _Metrics()


def _reason(outcome: Outcome) -> str:
    """A low-cardinality reason: the basic SMTP code, or what went wrong."""
    if outcome.reply.startswith("connection:"):
        return "connection"
    if outcome.reply.startswith("relay:"):
        return "relay"
    if outcome.reply.startswith("not attempted"):
        return "not_attempted"
    if outcome.reply.startswith("error:"):
        return "error"
    return outcome.reply[:3] if outcome.reply[:3].isdigit() else "other"


def _kind(outcome: Outcome) -> str:
    if outcome.verdict is Verdict.RETRY:
        return "retried"
    return "sent" if outcome.verdict is Verdict.SENT else "failed"


def record_outcomes(
    results: list[tuple[Any, Outcome, str]], published_at: dict[int, datetime], now: datetime
) -> None:
    if _metrics is None:
        return
    # Counted per label for the batch, then added once: each inc() of a multiprocess
    # counter is a locked write to its memory-mapped file.
    counts: dict[tuple[str, str], int] = {}
    connection_errors = 0
    for claimed, outcome, _ in results:
        labels = (_kind(outcome), _reason(outcome))
        counts[labels] = counts.get(labels, 0) + 1
        if outcome.reply.startswith("connection:"):
            connection_errors += 1
        when = published_at.get(claimed.item_id)
        if outcome.verdict is Verdict.SENT and when is not None:
            _metrics.publish_to_send.observe(max((now - when).total_seconds(), 0.0))
    for (kind, reason), count in counts.items():
        _metrics.deliveries.labels(kind, reason).inc(count)
    if connection_errors:
        _metrics.smtp_connection_errors.inc(connection_errors)


def record_digest(cadence: str, outcome: Outcome) -> None:
    if _metrics is None:
        return
    _metrics.digests.labels(cadence, _kind(outcome), _reason(outcome)).inc()
    if outcome.reply.startswith("connection:"):
        _metrics.smtp_connection_errors.inc()


def record_click(kind: str) -> None:
    if _metrics is not None:
        _metrics.clicks.labels(kind).inc()


def record_fan_out(size: int) -> None:
    if _metrics is not None:
        _metrics.fanout_size.observe(size)


def scrape(directory: Path, extra: Any) -> bytes:
    """The text exposition: every process's counters plus gauges read now."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call,unused-ignore]
    registry.register(extra)
    return bytes(generate_latest(registry))


class StateCollector:
    """Gauges and counters read from the database and broker at scrape time."""

    def __init__(self, read: Any) -> None:
        self._read = read  # () -> dict with the numbers, see web/ops.py

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = self._read()
        depth = GaugeMetricFamily(
            "alerts_queue_depth", "Messages waiting per queue", labels=["queue"]
        )
        for queue, value in state["queues"].items():
            depth.add_metric([queue], value)
        yield depth
        yield GaugeMetricFamily(
            "alerts_oldest_pending_seconds",
            "Age of the oldest delivery not yet sent",
            value=state["oldest_pending_seconds"] or 0.0,
        )
        by_status = GaugeMetricFamily(
            "alerts_deliveries", "Deliveries in the record by status", labels=["status"]
        )
        for status, value in state["deliveries_by_status"].items():
            by_status.add_metric([status], value)
        yield by_status
        bounces = CounterMetricFamily(
            "alerts_suppressions", "Suppressed addresses by kind", labels=["kind"]
        )
        for kind, value in state["suppressions"].items():
            bounces.add_metric([kind], value)
        yield bounces
        unsubscribes = CounterMetricFamily(
            "alerts_unsubscribes", "Unsubscribes by how they were made", labels=["method"]
        )
        for method, value in state["unsubscribes"].items():
            unsubscribes.add_metric([method], value)
        yield unsubscribes
        heartbeats = GaugeMetricFamily(
            "alerts_duty_last_success_timestamp_seconds",
            "When each periodic duty last succeeded (Unix time; 0: never)",
            labels=["duty"],
        )
        for duty, value in state.get("duty_last_success", {}).items():
            heartbeats.add_metric([duty], value)
        yield heartbeats
