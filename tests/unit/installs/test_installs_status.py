"""`ghl-sync status`'s Installs table: companies, their locations and install states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from services.status.render import render_json, render_tables
from services.status.report import CompanyState, InstallState, StatusReport, WebhookReceipts

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _report() -> StatusReport:
    def install(loc: str, state: str, **kw: object) -> InstallState:
        fields: dict[str, object] = {
            "company_id": "cmp-1", "location_id": loc, "name": f"Name {loc}", "state": state,
            "since": NOW - timedelta(minutes=5), "source": "webhook",
            "onboarded_at": NOW, "has_token": state == "installed", "company_authorised": True,
        }  # fmt: skip
        fields.update(kw)
        return InstallState.model_validate(fields)

    return StatusReport(
        collected_at=NOW,
        topic_prefix="",
        locations=(),
        lag=(),
        dead_letters=(),
        tables=(),
        webhooks=WebhookReceipts(persisted=0, claimed=0, last_persisted_at=None),
        webhook_scan_per_partition=500,
        commands=None,
        companies=(
            CompanyState(
                company_id="cmp-1",
                install_to_future_locations=True,
                token_expires_in_seconds=3600,
                refresh_count=2,
                installed=2,
                pending=1,
                uninstalled=1,
            ),
        ),
        installs=(
            install("loc-a", "installed"),
            install("loc-b", "installed", onboarded_at=None),
            install("loc-c", "pending", company_id="cmp-2", company_authorised=False),
            install("loc-d", "uninstalled"),
            install("loc-e", "orphan", company_id=None, name=None),
        ),
    )


def test_the_installs_table_names_every_company_location_and_state() -> None:
    console = Console(record=True, width=200)
    render_tables(_report(), console)
    text = console.export_text()
    assert "Installs (companies and their locations)" in text
    assert "2 installed, 1 pending, 1 uninstalled" in text
    assert "future locations: yes; refreshed 2x" in text
    for loc in ("loc-a", "loc-b", "loc-c", "loc-d", "loc-e"):
        assert loc in text
    assert "onboarding (token not minted yet)" in text
    assert "company has not authorised ghl-sync" in text
    assert "INSTALL without companyId" in text


def test_json_carries_the_install_states() -> None:
    text = render_json(_report())
    assert '"installs"' in text
    assert '"state": "orphan"' in text
    assert "token" not in text.replace("token_expires_in_seconds", "").replace("has_token", "")
