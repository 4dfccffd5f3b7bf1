"""`ghl-sync catalog` and `ghl-sync auth`; `register(app)` adds them to the main command line.

Settings are read here, at the entry point, and passed down.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.db.settings import DatabaseSettings
from services.ghl._exceptions import GhlError
from services.ghl.settings import GhlSettings

__all__ = ["authorise", "register"]

_out = Console()
_err = Console(stderr=True)


def _mark(value: bool) -> str:
    return "yes" if value else "-"


def catalog(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every GHL action and trigger the sync touches, and who supports it."""
    from services.ghl.catalog import build_catalog

    entries = build_catalog()
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    table = Table(title="GHL operations catalog")
    for column in ("kind", "name", "method", "path", "scope", "client", "simulator", "writer"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.kind,
            e.name,
            e.method or "",
            e.path or e.spec,
            e.scope or "",
            _mark(e.client),
            _mark(e.simulator),
            _mark(e.writer),
        )
    _out.print(table)
    actions = [e for e in entries if e.kind == "action"]
    _out.print(
        f"{len(actions)} actions ({sum(e.client for e in actions)} in the client, "
        f"{sum(e.simulator for e in actions)} in the simulator), "
        f"{len(entries) - len(actions)} triggers"
    )


def auth(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the redirect.")] = 300.0,
    new_key: Annotated[
        bool, typer.Option("--new-key", help="Print a new token encryption key and exit.")
    ] = False,
) -> None:
    """Authorise the app on a location: prints the consent URL, receives the redirect on the
    local port of GHL_SYNC_GHL_REDIRECT_URI, exchanges the code, stores the tokens."""
    from services.ghl._crypto import generate_key

    if new_key:
        typer.echo(generate_key())
        return
    try:
        location = asyncio.run(authorise(GhlSettings(), DatabaseSettings(), wait_seconds=timeout))
    except (GhlError, ValueError) as exc:
        _err.print(f"auth failed: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    _out.print(f"stored encrypted tokens for location {location}", highlight=False)


async def authorise(
    settings: GhlSettings,
    database: DatabaseSettings,
    *,
    wait_seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """The `auth` flow; returns the location whose tokens were stored."""
    import asyncpg

    from services.ghl._consent import receive_code
    from services.ghl._crypto import TokenCipher
    from services.ghl._oauth import OAuthClient
    from services.ghl._tokens_pg import PostgresTokenStore
    from services.ghl.tokens import StoredToken

    cipher = TokenCipher(settings.token_encryption_key)  # fail early on a bad key
    oauth = OAuthClient(settings, transport=transport)
    state = secrets.token_urlsafe(16)
    ready = asyncio.Event()
    waiting = asyncio.create_task(
        receive_code(settings.redirect_uri, state=state, wait_seconds=wait_seconds, ready=ready)
    )
    await ready.wait()
    _out.print("Open this URL, pick the location and approve:", highlight=False)
    _out.print(oauth.consent_url(state=state), highlight=False, soft_wrap=True)
    _out.print(f"waiting for the redirect to {settings.redirect_uri} ...", highlight=False)
    try:
        code = await waiting
        grant = await oauth.exchange_code(code)
    finally:
        await oauth.aclose()
    token = StoredToken.from_grant(grant)
    pool = await asyncpg.create_pool(
        database.url.get_secret_value(),
        min_size=1,
        max_size=1,
        server_settings={"search_path": database.schema_name},
    )
    try:
        await PostgresTokenStore(pool, cipher).save(token)
    finally:
        await pool.close()
    return token.location_id


def register(app: typer.Typer) -> None:
    """Add `catalog` and `auth` to the `ghl-sync` command line."""
    app.command("catalog")(catalog)
    app.command("auth")(auth)
