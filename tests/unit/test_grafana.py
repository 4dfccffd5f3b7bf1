"""docs/grafana-dashboard.json is valid JSON and queries only metrics the code defines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.registry import Collector

import services.ghl._metrics
import streams.projections.metrics
from services.webhooks._metrics import ReceiverMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
}
# Every ghl-sync metric name starts with one of these; anything else in a query is PromQL.
_METRIC = re.compile(r"\bghl_[a-z0-9_]+")


def _exported(registry: Collector) -> set[str]:
    names = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def _defined() -> set[str]:
    # Importing the modules above defines their metrics in the default registry.
    assert services.ghl._metrics.REQUESTS is not None
    assert streams.projections.metrics.APPLIED is not None
    return _exported(REGISTRY) | _exported(ReceiverMetrics(CollectorRegistry()).registry)


def _panels(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in node.get("panels", []):
        yield panel
        yield from _panels(panel)


def test_the_dashboard_is_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "ghl-sync"
    assert dashboard["uid"]
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_every_queried_metric_is_defined_by_the_code() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    defined = _defined()
    queried: set[str] = set()
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        exprs = [t["expr"] for t in panel["targets"]]
        assert exprs, panel["title"]
        for expr in exprs:
            names = set(_METRIC.findall(expr))
            assert names, expr
            queried |= names
    assert queried - defined == set()
    # The dashboard covers ingestion, projections and the GHL client.
    assert {
        "ghl_webhooks_accepted_total",
        "ghl_sync_projection_lag",
        "ghl_sync_ghl_requests_total",
        "ghl_sync_ghl_rate_limited_total",
        "ghl_sync_ghl_budget_remaining",
    } <= queried
