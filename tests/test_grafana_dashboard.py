"""docs/grafana/newsroom-alerts.json: importable as it is, and over metrics the app exports.

Every metric name in every panel's PromQL must be one a real ``/metrics`` scrape
shows, after a publish with sends, a bounce and a one-click unsubscribe on a real
worker; a misspelt or removed metric would leave a panel silently empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from alerts.core.models import Journalist
from alerts.core.tokens import Purpose
from alerts.web import create_app
from tests.conftest import Stack
from tests.factories import journalist, published_item

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "docs" / "grafana" / "newsroom-alerts.json"
# Another change is adding this gauge (duty heartbeats). Until the app's source
# names it, the dashboard may show it ahead of time; once it does, it must be scraped.
COMING = {"alerts_duty_last_success_timestamp_seconds"}

PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    # Aggregations may stand apart from their parentheses: `sum by (le) (…)`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
}
# The series suffixes of a family, and the family types that have them.
SUFFIX_TYPES = {
    "_total": {"counter"},
    "_created": {"counter", "histogram", "summary"},
    "_bucket": {"histogram"},
    "_sum": {"histogram", "summary"},
    "_count": {"histogram", "summary"},
}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return panels


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", []) if "expr" in t]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors, [$__rate_interval]
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text
    )  # grouping label lists
    text = re.sub(r"\$\{?\w+\}?", "", text)  # dashboard variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def unknown_metrics(names: set[str], exposition: str) -> set[str]:
    """Names neither a series nor a family (with a suffix its type has) in ``exposition``."""
    series: set[str] = set()
    families: set[tuple[str, str]] = set()
    for family in text_string_to_metric_families(exposition):
        families.add((family.name, family.type))
        series |= {sample.name for sample in family.samples}
    unknown = set()
    for name in names:
        if name in series or any(f == name for f, _ in families):
            continue
        fits = any(
            name.endswith(suffix) and (name.removesuffix(suffix), kind) in families
            for suffix, kinds in SUFFIX_TYPES.items()
            for kind in kinds
        )
        if not fits:
            unknown.add(name)
    return unknown


def test_the_dashboard_is_importable_as_exported_dashboards_are() -> None:
    dashboard = _dashboard()
    inputs = dashboard["__inputs"]
    assert [(i["name"], i["type"], i["pluginId"]) for i in inputs] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    assert dashboard["id"] is None and dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    required = {r["id"] for r in dashboard["__requires"]}
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["type"] in required, panel["type"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert panel["targets"] and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
    titles = " | ".join(p["title"].lower() for p in panels)
    for subject in ("sends", "latency", "queue depth", "oldest pending", "duty", "unsubscribes"):
        assert subject in titles, subject
    assert "suppressions" in titles  # bounces and complaints


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, queue) (rate(alerts_x_bucket{outcome!="sent",'
        'reason=~"4.."}[$__rate_interval]))) / on (queue) group_left alerts_y * 60 '
        "and time() - alerts_z offset 5m"
    )
    assert metric_names(expr) == {"alerts_x_bucket", "alerts_y", "alerts_z"}


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_every_metric_the_dashboard_queries_is_exported(pipeline: Stack) -> None:
    pipeline.sink.rcpt_replies = {"gone@example.net": "550 5.1.1 no such user"}
    with pipeline.session() as session:
        for email in ("a@example.net", "b@example.net", "gone@example.net", "leaves@example.net"):
            journalist(session, email, ([], []))
        item_id = published_item(session)
        session.commit()
    pipeline.wait_for_item(item_id)
    with pipeline.session() as session:
        leaver = session.query(Journalist).filter_by(email="leaves@example.net").one().id
    token = pipeline.app.runtime.signer.sign(Purpose.UNSUBSCRIBE, leaver)
    with TestClient(create_app(pipeline.app)) as client:
        one_click = client.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
        scraped = client.get("/metrics")
    assert scraped.status_code == 200
    exposition = scraped.text

    queried: set[str] = set()
    for expr in expressions(_dashboard()):
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        queried |= names
    source = "\n".join(p.read_text() for p in (ROOT / "alerts").rglob("*.py"))
    coming = {n for n in COMING if n not in exposition and n not in source}
    assert unknown_metrics(queried, exposition) - coming == set()
    assert {
        "alerts_deliveries_total",
        "alerts_publish_to_send_seconds_bucket",
        "alerts_queue_depth",
        "alerts_oldest_pending_seconds",
        "alerts_suppressions_total",
        "alerts_unsubscribes_total",
        "alerts_duty_last_success_timestamp_seconds",
    } <= queried
    # The check itself: a misspelt name, or a suffix its family's type lacks, is unknown.
    assert unknown_metrics({"alerts_deliverys_total", "alerts_queue_depth_total"}, exposition) == {
        "alerts_deliverys_total",
        "alerts_queue_depth_total",
    }
