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
import services.poller._metrics
import services.writer._metrics
import streams.normalize.metrics
import streams.projections.metrics
from services.api._state import ApiState
from services.api.settings import ApiSettings
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
    assert streams.normalize.metrics.EVENTS is not None
    assert services.poller._metrics.CYCLES is not None
    assert services.writer._metrics.COMMANDS is not None
    return (
        _exported(REGISTRY)
        | _exported(ReceiverMetrics(CollectorRegistry()).registry)
        | _exported(ApiState(ApiSettings()).registry)
    )


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
    # The dashboard covers ingestion, projections, the GHL client, normalize, the poller, the
    # writer and the command API.
    assert {
        "ghl_sync_webhooks_accepted_total",
        "ghl_sync_projection_lag",
        "ghl_sync_ghl_requests_total",
        "ghl_sync_ghl_rate_limited_total",
        "ghl_sync_ghl_budget_remaining",
        "ghl_sync_normalize_events_total",
        "ghl_sync_normalize_parked_records",
        "ghl_sync_poller_cycles_total",
        "ghl_sync_poller_cycle_errors_total",
        "ghl_sync_poller_oldest_unswept_seconds",
        "ghl_sync_writer_commands_total",
        "ghl_sync_api_commands_accepted_total",
        "ghl_sync_api_commands_refused_total",
    } <= queried


_ROOT = DASHBOARD.parents[1]


def _metric_definitions() -> list[tuple[str, str, str]]:
    """(file, kind, name) of every prometheus_client metric the code defines, read from source."""
    import ast

    found = []
    for package in ("schemas", "services", "streams"):
        for path in sorted((_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                first = node.args[0]
                if kind in {"Counter", "Gauge", "Histogram", "Summary"} and isinstance(
                    first, ast.Constant
                ):
                    found.append((str(path.relative_to(_ROOT)), kind, str(first.value)))
    return found


def test_metric_names_follow_one_prefix_and_prometheus_naming() -> None:
    definitions = _metric_definitions()
    assert len(definitions) > 20
    unprefixed = {name for _, _, name in definitions if not name.startswith("ghl_sync_")}
    assert unprefixed == set()
    for path, kind, name in definitions:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), (path, name)
        # prometheus_client appends `_total` to counters itself.
        assert not name.endswith("_total"), (path, name)
        if kind == "Histogram":
            assert name.endswith(("_seconds", "_bytes")), (path, name)
