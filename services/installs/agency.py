"""`Agency`: what ghl-sync does about installs, for every company and location.

- `authorise(grant)`: the code exchange's answer. A Company grant stores the Company token,
  onboards the company's pending installations (INSTALLs that came first) and discovers its
  installed locations (`installedLocations`: GHL's answer does not say which ones were picked).
  A Location grant stores the location token and records the installation.
- `handle(body)`: one app webhook (INSTALL, UNINSTALL, LocationCreate) from ghl.raw.v1.
- `reconcile()`: every company's installedLocations again (webhooks can be missed): installs
  without a webhook are onboarded, locations gone from the list are uninstalled, and
  onboardings that failed (a mint refused, a crash) are retried.

Onboarding a location = mint its token from the company token (`POST /oauth/locationToken`),
store it, and register the location with the poller (`register_location` of
`services.db.poller_targets`, the poller's onboarding contract): the poller instance that
takes it backfills it first, within its quota plan, then polls it. Its webhooks reach the
app's one URL already. No manual step.

Stopping a location (UNINSTALL) = the installation is `uninstalled` (stored first), every
poller instance drops it (`remove_location`, its poller state forgotten so a reinstall starts
with a fresh backfill), and its token row is deleted: `is_installed` and the token provider
refuse it from then on (a mint needs an `installed` installation). With
`on_uninstall=tombstone` its live rows are also tombstoned through ghl.events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas import (
    AppointmentDeleted,
    ContactDeleted,
    Event,
    NoteDeleted,
    TaskDeleted,
    parse_ghl_time,
)
from services.db.poller_targets import register_location, remove_location
from services.ghl import GhlError, OAuthClient, TokenGrant
from services.ghl.tokens import OAuthTokenProvider, StoredToken
from services.installs.machine import (
    Action,
    CompanyAuthorised,
    Decision,
    Install,
    Listed,
    Outcome,
    State,
    Uninstall,
)
from services.installs.settings import InstallSettings
from services.installs.store import InstallStore

__all__ = ["APP_EVENT_TYPES", "Agency", "Discovery", "Emit"]

_log = logging.getLogger("services.installs")

APP_EVENT_TYPES = frozenset({"INSTALL", "UNINSTALL", "LocationCreate"})
"""The webhook `type`s the install handler reads (normalize skips them as unknown)."""

Emit = Callable[[Sequence[Event]], Awaitable[int]]


@dataclass
class Discovery:
    """What one installedLocations pass found and did."""

    company_id: str
    listed: int = 0
    pages: int = 0
    onboarded: int = 0
    uninstalled: int = 0
    failed: int = 0
    install_to_future_locations: bool | None = None
    locations: list[str] = field(default_factory=list)


def _time(value: Any, default: datetime) -> datetime:
    try:
        return parse_ghl_time(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


class Agency:
    """Install facts in, install state and onboarding out."""

    def __init__(
        self,
        *,
        store: InstallStore,
        tokens: OAuthTokenProvider,
        companies: OAuthTokenProvider,
        oauth: OAuthClient,
        settings: InstallSettings,
        app_id: str,
        emit: Emit | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._tokens = tokens
        self._companies = companies
        self._oauth = oauth
        self._s = settings
        self._app_id = app_id
        self._emit = emit
        self._clock = clock
        self._limit = asyncio.Semaphore(settings.onboard_concurrency)
        self.due: set[str] = set()
        """Companies whose installedLocations should be read soon (a LocationCreate, an
        agency-level INSTALL): the reconcile loop takes them before its next full pass."""

    def __repr__(self) -> str:
        return f"Agency(app_id={self._app_id!r})"

    async def aclose(self) -> None:
        """Close the OAuth client's connections."""
        await self._oauth.aclose()

    # -- the code exchange ---------------------------------------------------------------

    async def authorise(self, grant: TokenGrant) -> Discovery | None:
        """Store what the code exchange gave; a Company grant also discovers and onboards
        its installed locations (returned), a Location grant records the installation."""
        now = self._clock()
        token = StoredToken.from_grant(grant)
        if token.user_type == "Company":
            company = token.location_id
            await self._companies.save(token)
            await self.store.save_company_flags(
                company,
                user_id=grant.user_id,
                future=grant.install_to_future_locations,
                all_locations=grant.approve_all_locations,
            )
            await self.store.note(
                kind="CodeExchange",
                outcome="applied",
                reason=f"company token stored (bulk={grant.is_bulk_installation}, "
                f"future={grant.install_to_future_locations}, "
                f"approved={len(grant.approved_locations)})",
                company_id=company,
                event_at=now,
            )
            decisions = [
                await self.store.apply(CompanyAuthorised(company, i.location_id, now))
                for i in await self.store.installations(company, state=State.PENDING)
            ]
            # INSTALLs that came before the exchange first, then what the list says.
            onboarded = await self._act_all(
                [(d, d.next.location_id) for d in decisions if d.next is not None]
            )
            try:
                found = await self.discover(company)
            except GhlError as exc:
                # The token is stored: the reconciler reads the list again later.
                await self.store.note(
                    kind="CodeExchange",
                    outcome="failed",
                    reason=f"installedLocations failed: {exc}; `ghl-sync installs` retries",
                    company_id=company,
                    event_at=now,
                )
                found = Discovery(company)
            found.onboarded += onboarded
            return found
        await self._tokens.save(token)
        if token.company_id:
            decision = await self.store.apply(
                Install(token.company_id, token.location_id, now, source="code exchange")
            )
            await self.store.learn(
                token.location_id, token.company_id, name=None, source="code exchange"
            )
            if decision.action is Action.ONBOARD or decision.outcome is Outcome.DUPLICATE:
                await register_location(self.store.pool, token.location_id, reason="auth")
                await self.store.mark_onboarded(token.location_id)
        return None

    # -- webhooks ------------------------------------------------------------------------

    async def handle(self, body: Mapping[str, Any]) -> list[Decision]:
        """One app webhook. Bad or unknown input is logged with its reason; never raises for
        it."""
        kind = _text(body, "type")
        now = self._clock()
        at = _time(body.get("timestamp"), now)
        location = _text(body, "locationId")
        company = _text(body, "companyId")
        if kind == "INSTALL":
            return await self._install(company, location, at)
        if kind == "UNINSTALL":
            return await self._uninstall(company, location, at)
        if kind == "LocationCreate":
            return await self._location_created(company, _text(body, "id"), body, at)
        return await self._ignored(kind=str(kind), reason="not an app event", event_at=at)

    async def _install(
        self, company: str | None, location: str | None, at: datetime
    ) -> list[Decision]:
        if location is None:
            if company is None:
                return await self._ignored(
                    kind="INSTALL",
                    reason="names neither company nor location",
                    event_at=at,
                )
            # Agency-level install: which locations is for installedLocations to say.
            if await self.store.has_company(company):
                self.due.add(company)
                reason = "agency-level install: installedLocations will be read"
            else:
                reason = (
                    "agency-level install of a company holding no token: its locations are "
                    "discovered at its code exchange"
                )
            await self.store.note(
                kind="INSTALL", outcome="pending", reason=reason, company_id=company, event_at=at
            )
            return []
        if company is None:
            company = await self.store.company_of(location)
            if company is None:
                await self.store.orphan(location, at)
                await self.store.note(
                    kind="INSTALL",
                    outcome="pending",
                    reason="names no company and the location's company is not known yet: "
                    "held until a LocationCreate or installedLocations names it",
                    location_id=location,
                    event_at=at,
                )
                for known in await self.store.companies():
                    if known.install_to_future_locations:
                        self.due.add(known.company_id)
                return []
        return await self._applied(Install(company, location, at), location)

    async def _uninstall(
        self, company: str | None, location: str | None, at: datetime
    ) -> list[Decision]:
        if location is not None:
            owner = await self.store.company_of(location) or company
            if owner is None:
                return await self._ignored(
                    kind="UNINSTALL",
                    reason="for a location never installed",
                    location_id=location,
                    event_at=at,
                )
            return await self._applied(Uninstall(owner, location, at), location)
        if company is None:
            return await self._ignored(
                kind="UNINSTALL",
                reason="names neither company nor location",
                event_at=at,
            )
        # Agency-level uninstall: every location of the company, and the Company token.
        found = await self.store.installations(company)
        if not found and not await self.store.has_company(company):
            return await self._ignored(
                kind="UNINSTALL",
                reason="agency-level uninstall of a company never installed",
                company_id=company,
                event_at=at,
            )
        decisions = []
        for installation in found:
            decision = await self.store.apply(Uninstall(company, installation.location_id, at))
            await self._act(decision, installation.location_id)
            decisions.append(decision)
        if await self.store.forget_company(company):
            self._companies.forget(company)
            await self.store.note(
                kind="UNINSTALL",
                outcome="applied",
                reason="agency-level uninstall: company token dropped",
                company_id=company,
                event_at=at,
            )
        return decisions

    async def _location_created(
        self, company: str | None, location: str | None, body: Mapping[str, Any], at: datetime
    ) -> list[Decision]:
        if company is None or location is None:
            return await self._ignored(
                kind="LocationCreate",
                reason="lacks `id` or `companyId`",
                company_id=company,
                location_id=location,
                event_at=at,
            )
        orphan_at = await self.store.learn(
            location, company, name=_text(body, "name"), source="LocationCreate"
        )
        if await self.store.has_company(company):
            # With installToFutureLocations an INSTALL follows; if it is lost, the list has it.
            self.due.add(company)
        if orphan_at is None:
            await self.store.note(
                kind="LocationCreate",
                outcome="applied",
                reason="location -> company learned",
                company_id=company,
                location_id=location,
                event_at=at,
            )
            return []
        return await self._applied(Install(company, location, orphan_at), location)

    # -- discovery and reconciliation ----------------------------------------------------

    async def discover(self, company: str) -> Discovery:
        """Read the company's installedLocations; apply what it says; onboard and stop."""
        found = Discovery(company)
        read_at = self._clock()
        token = await self._companies.access_token(company)
        listed: dict[str, str | None] = {}
        skip = 0
        refreshed = False
        while True:
            try:
                page = await self._oauth.installed_locations(
                    token,
                    company_id=company,
                    app_id=self._app_id,
                    skip=skip,
                    limit=self._s.page_size,
                )
            except GhlError as exc:
                # One refresh for a rejected Company token; a second 401 is a real refusal
                # (a missing `oauth.readonly` scope, an uninstalled agency).
                if getattr(exc, "status_code", None) != 401 or refreshed:
                    raise
                refreshed = True
                token = await self._companies.refresh(company, rejected=token)
                continue
            found.pages += 1
            if page.install_to_future_locations is not None:
                found.install_to_future_locations = page.install_to_future_locations
            for row in page.locations:
                if row.is_installed:
                    listed[row.location_id] = row.name
            if len(page.locations) < self._s.page_size:
                break
            skip += len(page.locations)
        found.listed = len(listed)
        found.locations = sorted(listed)
        if found.install_to_future_locations is not None:
            await self.store.set_future_locations(company, found.install_to_future_locations)
        work: list[tuple[Decision, str]] = []
        for location, name in sorted(listed.items()):
            await self.store.learn(location, company, name=name, source="installedLocations")
            decision = await self.store.apply(Listed(company, location, True, read_at))
            if decision.action is Action.ONBOARD:
                work.append((decision, location))
        for installation in await self.store.installations(company):
            if installation.location_id in listed or installation.state is State.UNINSTALLED:
                continue
            decision = await self.store.apply(
                Listed(company, installation.location_id, False, read_at)
            )
            if decision.action is Action.STOP:
                work.append((decision, installation.location_id))
                found.uninstalled += 1
        found.onboarded += await self._act_all(work)
        found.failed = len([i for i in await self.store.not_onboarded() if i.company_id == company])
        _log.info(
            "installedLocations of company %s: %d installed over %d pages; %d onboarded, "
            "%d uninstalled, %d not onboarded yet",
            company, found.listed, found.pages, found.onboarded, found.uninstalled, found.failed,
        )  # fmt: skip
        return found

    async def reconcile(self) -> list[Discovery]:
        """Every company once, then retry onboardings that have not finished."""
        done = []
        for company in await self.store.companies():
            try:
                done.append(await self.discover(company.company_id))
            except GhlError as exc:
                _log.warning("installedLocations of company %s failed: %s", company.company_id, exc)
        await self.retry_onboarding()
        return done

    async def retry_onboarding(self) -> int:
        """Onboard installed locations whose onboarding did not finish."""
        pending = await self.store.not_onboarded()
        return await self._act_all(
            [
                (Decision(i, Action.ONBOARD, Outcome.APPLIED, "retry"), i.location_id)
                for i in pending
            ]
        )

    async def run_reconciler(self) -> None:
        """Reconcile every `reconcile_seconds`; companies marked `due` sooner."""
        last = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() - last >= self._s.reconcile_seconds:
                self.due.clear()
                await self.reconcile()
                last = loop.time()
            while self.due:
                company = self.due.pop()
                try:
                    await self.discover(company)
                except GhlError as exc:
                    _log.warning("installedLocations of company %s failed: %s", company, exc)
            await asyncio.sleep(1.0)

    # -- actions -------------------------------------------------------------------------

    async def _ignored(self, **fact: Any) -> list[Decision]:
        """Log an event that changes no installation (`store.note` fields); nothing decided."""
        await self.store.note(outcome="ignored", **fact)
        return []

    async def _applied(self, change: Install | Uninstall, location: str) -> list[Decision]:
        """Apply one change to the location's installation and act on the decision."""
        decision = await self.store.apply(change)
        await self._act(decision, location)
        return [decision]

    async def _act_all(self, work: Sequence[tuple[Decision, str]]) -> int:
        results = await asyncio.gather(*(self._act(d, loc) for d, loc in work))
        return sum(results)

    async def _act(self, decision: Decision, location: str) -> int:
        if decision.action is Action.ONBOARD:
            return int(await self.onboard(location))
        if decision.action is Action.STOP:
            await self.stop(location)
        return 0

    async def onboard(self, location: str) -> bool:
        """Mint the location's token (when its company holds one) and mark it onboarded;
        False (left for the next reconcile) when GHL refuses or fails."""
        async with self._limit:
            company = await self.store.mintable_company(location)
            if company is not None:
                try:
                    await self._tokens.mint(location)
                except GhlError as exc:
                    await self.store.note(
                        kind="Onboard",
                        outcome="failed",
                        reason=f"minting the location token failed: {exc}; retried at the "
                        "next reconcile",
                        company_id=company,
                        location_id=location,
                    )
                    return False
            elif not await self._tokens.holds(location):
                return False
            # The poller's onboarding contract: backfill first (no finished backfill), then poll.
            await register_location(self.store.pool, location, reason="INSTALL")
            await self.store.mark_onboarded(location)
            return True

    async def stop(self, location: str) -> None:
        """Stop everything for the location now; tombstone its data if so configured."""
        # Every poller instance stops the location now; its poller state and backfill
        # progress are forgotten, so a reinstall onboards it afresh with a new backfill.
        await remove_location(self.store.pool, location, reason="UNINSTALL", forget=True)
        await self._tokens.delete(location)
        if self._s.on_uninstall == "tombstone" and self._emit is not None:
            count = await self._emit(await self._tombstones(location))
            _log.info("uninstall of location %s: %d rows tombstoned", location, count)

    async def _tombstones(self, location: str) -> list[Event]:
        observed = self._clock()
        pool = self.store.pool
        events: list[Event] = []
        common: dict[str, Any] = {
            "location_id": location,
            "source": "reconcile",
            "observed_at": observed,
            "causation_id": f"uninstall:{location}",
        }
        queries = {
            "contacts": "SELECT id, id AS contact_id FROM contacts",
            "tasks": "SELECT id, contact_id FROM tasks",
            "notes": "SELECT id, contact_id FROM notes",
            "appointments": "SELECT id, contact_id FROM appointments",
        }
        for table, select in queries.items():
            if not await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                continue
            rows: list[asyncpg.Record] = await pool.fetch(
                f"{select} WHERE location_id = $1 AND deleted_at IS NULL", location
            )
            for r in rows:
                if table == "contacts":
                    events.append(ContactDeleted.build(contact_id=r["id"], **common))
                elif table == "tasks":
                    events.append(
                        TaskDeleted.build(task_id=r["id"], contact_id=r["contact_id"], **common)
                    )
                elif table == "notes":
                    events.append(
                        NoteDeleted.build(note_id=r["id"], contact_id=r["contact_id"], **common)
                    )
                else:
                    events.append(
                        AppointmentDeleted.build(
                            appointment_id=r["id"], contact_id=r["contact_id"], **common
                        )
                    )
        return events
