"""`ghl-sync webhooks`: serve the receiver with uvicorn; `register(app)` adds the command."""

from __future__ import annotations

from typing import Annotated

import typer

from services.platform.cli import HostOption, PortOption, serve, settings_with

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `webhooks` to the main command line."""

    @app.command("webhooks")
    def webhooks(
        host: HostOption = None,
        port: PortOption = None,
        simulator_url: Annotated[
            str | None,
            typer.Option(help="Trust this GHL simulator's signing keys instead of GHL's."),
        ] = None,
    ) -> None:
        """Receive GHL webhooks: verify, drop replays, persist to ghl.raw, then answer 2xx."""
        import httpx

        from services.webhooks.app import create_app
        from services.webhooks.settings import WebhookSettings

        settings = settings_with(WebhookSettings, host=host, port=port)
        if simulator_url:
            keys = httpx.get(f"{simulator_url.rstrip('/')}/_admin/webhook-public-key").json()
            settings = settings.model_copy(
                update={
                    "ed25519_public_keys": (keys["ed25519"],),
                    "rsa_public_keys": (keys["rsa"],),
                }
            )
        from services.platform.outage import quiet_kafka_logs

        quiet_kafka_logs()
        # One log line per delivery would cost more than verifying it; the receiver logs
        # every rejection and failure itself, and counts the rest in /metrics.
        serve(create_app(settings), settings, access_log=False)
