"""A `StatusReport` as rich tables (for people) or JSON (for machines)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from services.status.report import LocationStatus, PartitionLag, StatusReport

__all__ = ["render_json", "render_tables", "since", "span"]


def span(seconds: float) -> str:
    """A duration, short: `45s`, `12m`, `3h05m`, `2d04h`."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    return f"{s // 86400}d{s // 3600 % 24:02d}h"


def since(when: datetime | None, now: datetime) -> str:
    """`5m ago`, `in 3m` (a time ahead of the database clock), or `-`."""
    if when is None:
        return "-"
    seconds = (now - when).total_seconds()
    return f"{span(seconds)} ago" if seconds >= 0 else f"in {span(seconds)}"


def _backfill(loc: LocationStatus) -> str:
    b = loc.backfill
    if b is None:
        return "-"
    state = "done" if b.finished_at is not None else b.phase
    return f"{state}: {b.contacts_done:,} contacts, {b.tasks_done:,} tasks"


def _token(loc: LocationStatus) -> Text:
    t = loc.token
    if t is None:
        return Text("none", style="yellow")
    if t.expires_in_seconds <= 0:
        return Text(f"expired {span(t.expires_in_seconds)} ago", style="red")
    return Text(f"in {span(t.expires_in_seconds)}")


def _budget(loc: LocationStatus) -> Text:
    b = loc.budget
    if b is None:
        return Text("-")
    style = "red" if b.daily_left == 0 or b.window_left == 0 else ""
    queued = f", queued {b.next_slot_in_seconds:.1f}s" if b.next_slot_in_seconds >= 0.05 else ""
    return Text(
        f"{b.window_left}/{b.window_requests} per {b.window_seconds:g}s, "
        f"{b.daily_left:,}/{b.daily_limit:,} today{queued}",
        style=style,
    )


def _locations(report: StatusReport) -> Table:
    now = report.collected_at
    table = Table(title="Locations", title_justify="left")
    for column in ("location", "contacts", "cursor", "last poll", "last webhook", "backfill"):
        table.add_column(column)
    table.add_column("token expires")
    table.add_column("budget left")
    for loc in report.locations:
        contacts = f"{loc.contacts_live:,}"
        if loc.contacts_deleted:
            contacts += f" (+{loc.contacts_deleted:,} deleted)"
        p = loc.poller
        table.add_row(
            loc.location_id,
            contacts,
            since(p.contacts_cursor if p else None, now),
            since(p.last_poll_at if p else None, now),
            since(loc.last_webhook_at, now),
            _backfill(loc),
            _token(loc),
            _budget(loc),
        )
    if not report.locations:
        table.add_row("(none yet)", *[""] * 7)
    return table


_CLASS_SHORT = {
    "write": "write",
    "webhook_enrichment": "webhook",
    "incremental_poll": "poll",
    "task_sweep": "tasks",
    "children_sweep": "children",
    "reconciliation": "reconcile",
    "backfill": "backfill",
}


def _plans(report: StatusReport) -> Table | None:
    rows = [loc for loc in report.locations if loc.plan is not None]
    if not rows:
        return None
    now = report.collected_at
    table = Table(title="Poller: leases and quota plans", title_justify="left")
    table.add_column("location")
    table.add_column("held by")
    table.add_column("requests today by class")
    table.add_column("projected/day", justify="right")
    table.add_column("staleness bound", justify="right")
    table.add_column("oldest unswept", justify="right")
    for loc in rows:
        plan = loc.plan
        assert plan is not None
        spent = ", ".join(
            f"{_CLASS_SHORT.get(k, k)} {v:,}" for k, v in sorted(plan.requests_today.items())
        )
        projected = "-"
        if plan.projected_daily is not None:
            share = plan.projected_daily / plan.daily_quota
            projected = f"{plan.projected_daily:,.0f} ({share:.0%})"
        bound = plan.staleness_bound_seconds
        table.add_row(
            loc.location_id,
            Text(plan.holder or "nobody", style="" if plan.holder else "yellow"),
            spent or "0",
            projected,
            "-" if bound is None else f"{bound / 3600:.1f} h",
            since(plan.oldest_swept_at, now) if plan.oldest_swept_at else "-",
        )
    return table


def _lag(rows: Iterable[PartitionLag]) -> Table:
    table = Table(title="Consumer lag", title_justify="left")
    table.add_column("consumer")
    table.add_column("topic")
    for column in ("partition", "end", "position", "lag"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.consumer,
            r.topic,
            str(r.partition),
            f"{r.end_offset:,}",
            "-" if r.committed_offset is None else f"{r.committed_offset:,}",
            Text(f"{r.lag:,}", style="yellow" if r.lag else "green"),
        )
    return table


def _counts(report: StatusReport) -> Table:
    table = Table(title="Tables, dead letters, commands", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("note")
    for t in report.tables:
        table.add_row(t.table, f"{t.live:,}", f"+{t.deleted:,} deleted" if t.deleted else "")
    for d in report.dead_letters:
        table.add_row(
            d.topic,
            Text(f"{d.count:,}", style="red" if d.count else "green"),
            "dead letters" if d.exists else "topic missing",
        )
    w = report.webhooks
    table.add_row(
        "webhook receipts",
        f"{w.persisted:,}",
        f"{w.claimed} in flight, last {since(w.last_persisted_at, report.collected_at)}",
    )
    if report.commands is None:
        table.add_row("commands", "-", "writer table absent")
    elif not report.commands:
        table.add_row("commands", "0", "")
    else:
        for state, n in sorted(report.commands.items()):
            table.add_row(f"commands {state}", f"{n:,}", "")
    return table


def render_tables(report: StatusReport, console: Console) -> None:
    """Print the report as tables."""
    parts: list[RenderableType] = [
        Text(
            f"ghl-sync status at {report.collected_at:%Y-%m-%d %H:%M:%S %Z}"
            + (f" (topic prefix {report.topic_prefix!r})" if report.topic_prefix else "")
            + f"; total lag {report.total_lag:,}",
            style="bold",
        ),
        _locations(report),
        _lag(report.lag),
        _counts(report),
    ]
    plans = _plans(report)
    if plans is not None:
        parts.insert(2, plans)
    if report.parked:
        parts.append(_parked(report))
    if report.companies or report.installs:
        parts.append(_installs(report))
    console.print(Group(*parts))


def _installs(report: StatusReport) -> Table:
    """Agency installs: each company, then its locations and their install state."""
    table = Table(title="Installs (companies and their locations)")
    for column in ("company", "location", "name", "state", "since", "token", "detail"):
        table.add_column(column)
    styles = {"installed": "", "pending": "yellow", "uninstalled": "dim", "orphan": "yellow"}
    for c in report.companies:
        table.add_row(
            Text(c.company_id, style="bold"),
            f"{c.installed} installed, {c.pending} pending, {c.uninstalled} uninstalled",
            "",
            "authorised",
            "",
            f"company, in {span(c.token_expires_in_seconds)}"
            if c.token_expires_in_seconds > 0
            else Text("company token expired", style="red"),
            "future locations: " + ("yes" if c.install_to_future_locations else "no")
            + f"; refreshed {c.refresh_count}x",
        )  # fmt: skip
    for i in report.installs:
        if i.state == "pending":
            detail = "company has not authorised ghl-sync (run `ghl-sync auth` as the agency)"
        elif i.state == "orphan":
            detail = "INSTALL without companyId; waits for LocationCreate/installedLocations"
        elif i.state == "installed" and i.onboarded_at is None:
            detail = "onboarding (token not minted yet)"
        else:
            detail = f"via {i.source}"
        table.add_row(
            i.company_id or "?",
            i.location_id,
            i.name or "",
            Text(i.state, style=styles.get(i.state, "")),
            since(i.since, report.collected_at),
            "yes" if i.has_token else "-",
            detail,
        )
    return table


def _parked(report: StatusReport) -> Table:
    table = Table(title="Parked locations (no usable token; records wait, none dropped)")
    for column in ("location", "records waiting", "parked for", "reason"):
        table.add_column(column)
    for p in report.parked:
        table.add_row(p.location_id, f"{p.records:,}", since(p.parked_since, report.collected_at),
                      p.reason)  # fmt: skip
    return table


def render_json(report: StatusReport) -> str:
    """The report as JSON (times in ISO-8601)."""
    return report.model_dump_json(indent=2)
