"""`ghl-sync webhooks`: serve the receiver with uvicorn; `register(app)` adds the command."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `webhooks` to the main command line."""

    @app.command("webhooks")
    def webhooks(
        host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: settings).")] = None,
        simulator_url: Annotated[
            str | None,
            typer.Option(help="Trust this GHL simulator's signing keys instead of GHL's."),
        ] = None,
    ) -> None:
        """Receive GHL webhooks: verify, drop replays, persist to ghl.raw, then answer 2xx."""
        import logging

        import httpx
        import uvicorn

        from services.webhooks.app import create_app
        from services.webhooks.settings import WebhookSettings

        settings = WebhookSettings()
        if simulator_url:
            keys = httpx.get(f"{simulator_url.rstrip('/')}/_admin/webhook-public-key").json()
            settings = settings.model_copy(
                update={
                    "ed25519_public_keys": (keys["ed25519"],),
                    "rsa_public_keys": (keys["rsa"],),
                }
            )
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        from services.platform.outage import quiet_kafka_logs

        quiet_kafka_logs()
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
            log_config=None,  # uvicorn logs through the one setup the command line made
            # One log line per delivery would cost more than verifying it; the receiver logs
            # every rejection and failure itself, and counts the rest in /metrics.
            access_log=False,
        )
