"""`ghl-sync catalog` and `ghl-sync auth`; `register(app)` adds them to the main command line.

Settings are read here, at the entry point, and passed down.

`auth` takes either grant GHL gives: a Location grant (a sub-account user installed the app)
stores the location's tokens; a Company grant (an agency user installed it, usually on many
sub-accounts at once) stores the Company token, lists the locations the app is installed on
(`installedLocations`) and mints each one's token (`services.installs`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from services.platform.terminal import output_console

if TYPE_CHECKING:
    import httpx

    from services.db.settings import DatabaseSettings
    from services.ghl._oauth import TokenGrant
    from services.ghl.settings import GhlSettings
    from services.installs import InstallSettings

__all__ = ["Authorised", "authorise", "register", "store_grant"]

_out = output_console()  # never cuts ids when piped
_err = output_console(stderr=True)


def _mark(value: bool) -> str:
    return "yes" if value else "-"


def catalog(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every GHL action and trigger the sync touches, and who supports it."""
    from rich.table import Table

    from services.catalog import build_catalog

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
    paste: Annotated[
        bool,
        typer.Option(
            "--paste",
            help="Headless: do not listen; read the address the browser was redirected to "
            "(or the code) from stdin.",
        ),
    ] = False,
) -> None:
    """Authorise the app on a location or an agency: prints the consent URL, receives the
    redirect on the local port of GHL_SYNC_GHL_REDIRECT_URI (or, with --paste, reads the
    redirected address from stdin), exchanges the code, stores the tokens. An agency (Company)
    grant also onboards every location the app is installed on."""
    from schemas.ghl_errors import GhlError
    from services.db.settings import DatabaseSettings
    from services.ghl._crypto import generate_key
    from services.ghl.settings import GhlSettings

    if new_key:
        typer.echo(generate_key())
        return
    try:
        from services.installs import InstallSettings

        done = asyncio.run(
            authorise(
                GhlSettings(),
                DatabaseSettings(),
                wait_seconds=timeout,
                installs=InstallSettings(),
                paste=sys.stdin if paste else None,
            )
        )
    except (GhlError, ValueError) as exc:
        _err.print(f"auth failed: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    _out.print(done.summary(), highlight=False)


@dataclass(frozen=True)
class Authorised:
    """What `auth` stored."""

    user_type: str
    location_id: str | None = None
    company_id: str | None = None
    installed: int = 0
    onboarded: int = 0
    not_onboarded: int = 0

    def summary(self) -> str:
        """One line for the terminal."""
        if self.user_type == "Company":
            return (
                f"stored the encrypted Company token of agency {self.company_id}: "
                f"{self.installed} locations installed, {self.onboarded} onboarded now"
                + (
                    f", {self.not_onboarded} left for the reconciler (`ghl-sync installs`)"
                    if self.not_onboarded
                    else ""
                )
            )
        return f"stored encrypted tokens for location {self.location_id}"


async def authorise(
    settings: GhlSettings,
    database: DatabaseSettings,
    *,
    wait_seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
    installs: InstallSettings | None = None,
    paste: TextIO | None = None,
) -> Authorised:
    """The `auth` flow; returns what was stored. With `paste`, the redirected address (or the
    code) is read from that stream instead of the redirect's local port."""
    from services.ghl._consent import pasted_code, receive_code
    from services.ghl._crypto import TokenCipher
    from services.ghl._oauth import OAuthClient

    TokenCipher(settings.token_encryption_key)  # fail early on a bad key
    oauth = OAuthClient(settings, transport=transport)
    state = secrets.token_urlsafe(16)
    try:
        if paste is not None:
            _out.print("Open this URL in any browser, pick the location and approve:")
            _out.print(oauth.consent_url(state=state), highlight=False, soft_wrap=True)
            _out.print(
                f"The browser is then sent to {settings.redirect_uri}?code=... (the page may "
                "not load: nothing listens there). Paste that whole address, or only its code:",
                highlight=False,
            )
            line = await asyncio.to_thread(paste.readline)
            code = pasted_code(line, state=state)
        else:
            ready = asyncio.Event()
            waiting = asyncio.create_task(
                receive_code(
                    settings.redirect_uri, state=state, wait_seconds=wait_seconds, ready=ready
                )
            )
            await ready.wait()
            _out.print("Open this URL, pick the location and approve:", highlight=False)
            _out.print(oauth.consent_url(state=state), highlight=False, soft_wrap=True)
            _out.print(f"waiting for the redirect to {settings.redirect_uri} ...", highlight=False)
            code = await waiting
        grant = await oauth.exchange_code(code)
    finally:
        await oauth.aclose()
    return await store_grant(settings, database, grant, transport=transport, installs=installs)


async def store_grant(
    settings: GhlSettings,
    database: DatabaseSettings,
    grant: TokenGrant,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    installs: InstallSettings | None = None,
) -> Authorised:
    """Store a code exchange's grant; a Company grant discovers and onboards its locations."""
    from schemas.ghl_errors import GhlError
    from services.installs import InstallSettings, build_agency
    from services.platform.pools import open_pool

    if not grant.is_company and not grant.location_id:
        raise GhlError("token answer names neither a location nor a company")
    pool = await open_pool(database.url, schema=database.schema_name, min_size=1, max_size=8)
    try:
        agency = build_agency(
            settings, installs or InstallSettings(), pool=pool, transport=transport
        )
        try:
            found = await agency.authorise(grant)
        finally:
            await agency.aclose()
    finally:
        await pool.close()
    if found is None:
        return Authorised("Location", location_id=grant.location_id, company_id=grant.company_id)
    return Authorised(
        "Company",
        company_id=found.company_id,
        installed=found.listed,
        onboarded=found.onboarded,
        not_onboarded=found.failed,
    )


def register(app: typer.Typer) -> None:
    """Add `catalog` and `auth` to the `ghl-sync` command line."""
    app.command("catalog")(catalog)
    app.command("auth")(auth)
