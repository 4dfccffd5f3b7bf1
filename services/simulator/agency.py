"""Agencies (companies), the app's installations, and the app webhooks they cause.

Sources: `../shared/ghl/REFERENCE.md` section 4 "Agency installs", `apps/oauth.json`, the
webhook pages `AppInstall`, `AppUninstall`, `LocationCreate` (copies in `specs/`).

- Every location belongs to one company. Seeded locations (and any location added to the state
  without one) belong to the default company `company_id` (name `company_name`); more
  companies and locations come from the admin routes.
- An installation is per (app, location). The consent page installs: for one location
  (sub-account user), or for a company (agency user) on selected locations, on all, or on none
  (an agency-target app), optionally with "install to future locations". Installing happens at
  consent, before the code is exchanged, so INSTALL webhooks may reach the app first (ISSUES
  #294).
- Webhooks go to the same URLs as the other events, signed the same way:
  - location-level INSTALL `{type: INSTALL, appId, versionId, installType: "Location",
    locationId, companyId, userId, companyName, planId?, trial, isWhitelabelCompany,
    whitelabelDetails}`;
  - agency-level INSTALL: the same without `locationId`, `installType: "Company"`;
  - a future-location install (a location created in a company installed with
    `installToFutureLocations`): `locationId` only, **no** `companyId`, `userId` or
    `companyName` (AppInstall.md says they may be missing; here they always are);
  - UNINSTALL `{type, appId, locationId}` for a location, `{type, appId, companyId}` for the
    agency;
  - `LocationCreate` `{type, id, companyId, name, email}` when a location is created in a
    company where the app is installed at agency level (any Company grant).

UNCONFIRMED choices (also in the README):

- A bulk consent sends one agency-level INSTALL, then one location-level INSTALL per newly
  installed location (GHL does not say whether it sends one per location or one with a list;
  the official SDK handles one `locationId` per INSTALL). Re-approving an installed location
  sends nothing for it.
- Uninstalling the agency uninstalls all its locations: one UNINSTALL per location, then the
  agency-level one. Uninstalling revokes the tokens of what was uninstalled.
- The app id is `app_id`, or the part of `client_id` before its first `-` (GHL client ids look
  like `<appId>-<suffix>`); `versionId` is `app_version_id`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.simulator.render import iso_ms
from services.simulator.seed import seed_location
from services.simulator.settings import SimulatorSettings
from services.simulator.state import LocationData, SimulatorState
from services.simulator.tokens import CompanyConsent, TokenStore
from services.simulator.webhooks import WebhookDispatcher

__all__ = ["AppInstalls", "CompanyData", "Installation"]


@dataclass
class CompanyData:
    """One agency and the ids of its locations (in creation order)."""

    id: str
    name: str
    email: str
    location_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Installation:
    """The app installed on one location."""

    installed_at: datetime
    via: Literal["location", "company", "future", "admin"]


@dataclass
class _CompanyInstall:
    installed_at: datetime
    install_to_future: bool
    approve_all: bool
    bulk: bool


class AppInstalls:
    """Companies, where the (one) app is installed, and the app webhooks."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        state: SimulatorState,
        tokens: TokenStore,
        webhooks: WebhookDispatcher,
    ) -> None:
        self.settings = settings
        self.state = state
        self.tokens = tokens
        self.webhooks = webhooks
        self.app_id = settings.app_id or settings.client_id.split("-", 1)[0]
        self.version_id = settings.app_version_id
        self.companies: dict[str, CompanyData] = {}
        self._company_of: dict[str, str] = {}
        self.installed: dict[str, Installation] = {}
        self.company_installs: dict[str, _CompanyInstall] = {}
        self.add_company(settings.company_id, settings.company_name)

    # -- companies ------------------------------------------------------------------------

    def add_company(self, company_id: str, name: str) -> CompanyData:
        """A new (empty) company; an existing id is answered as is."""
        company = self.companies.get(company_id)
        if company is None:
            email = f"agency.{company_id.lower()}@example.com"
            company = self.companies[company_id] = CompanyData(company_id, name, email)
        return company

    def company_of(self, location_id: str) -> str | None:
        """The company owning a location (the default company for unassigned ones)."""
        owner = self._company_of.get(location_id)
        if owner is None and location_id in self.state.locations:
            return self.settings.company_id
        return owner

    def locations_of(self, company_id: str) -> list[str]:
        """A company's live locations, in creation order."""
        return [loc for loc in self.state.locations if self.company_of(loc) == company_id]

    def create_location(
        self, company_id: str, *, name: str | None = None, contacts: int = 0
    ) -> tuple[LocationData, bool]:
        """A new sub-account in the company: `LocationCreate`, and a future-location install.

        Answers the location and whether the app was installed on it.
        """
        company = self.companies[company_id]
        index = len(self.locations_of(company_id))
        key = f"{self.settings.seed}:{company_id}:{index}:{len(self.state.locations)}"
        loc = seed_location(self.state, key=key, index=index, contacts=contacts)
        if name:
            loc.name = name
        self._company_of[loc.id] = company_id
        company.location_ids.append(loc.id)
        agency = self.company_installs.get(company_id)
        if agency is not None:
            self._send(
                "LocationCreate",
                loc.id,
                {
                    "type": "LocationCreate",
                    "id": loc.id,
                    "companyId": company_id,
                    "name": loc.name,
                    "email": f"{loc.id.lower()}@example.com",
                },
            )
        installed = False
        if agency is not None and agency.install_to_future:
            installed = self._install(loc.id, via="future")
        return loc, installed

    # -- installing -----------------------------------------------------------------------

    def is_installed(self, location_id: str) -> bool:
        """Whether the app is installed on the location."""
        return location_id in self.installed

    def installed_in(self, company_id: str) -> list[str]:
        """The company's locations with the app installed, in creation order."""
        return [loc for loc in self.locations_of(company_id) if loc in self.installed]

    def consent_location(self, location_id: str) -> None:
        """A sub-account user approved the app for their location."""
        self._install(location_id, via="location")

    def consent_company(self, consent: CompanyConsent) -> None:
        """An agency user approved the app for the company (and maybe some locations)."""
        company_id = consent.company_id
        previous = self.company_installs.get(company_id)
        self.company_installs[company_id] = _CompanyInstall(
            installed_at=previous.installed_at if previous else self.state.now(),
            install_to_future=consent.install_to_future,
            approve_all=consent.approve_all,
            bulk=consent.bulk,
        )
        if previous is None:
            self._send("INSTALL", company_id, self._install_body(None, company_id, "Company"))
        for location_id in consent.approved_locations:
            self._install(location_id, via="company")

    def install(self, location_id: str) -> bool:
        """Install on one location as the agency would later from the marketplace (admin)."""
        return self._install(location_id, via="admin")

    def _install(
        self, location_id: str, *, via: Literal["location", "company", "future", "admin"]
    ) -> bool:
        if location_id in self.installed:
            return False
        self.installed[location_id] = Installation(self.state.now(), via)
        company_id = self.company_of(location_id)
        body = self._install_body(location_id, company_id, "Location")
        if via == "future":
            for key in ("companyId", "userId", "companyName"):
                body.pop(key, None)
        self._send("INSTALL", location_id, body)
        return True

    def uninstall_location(self, location_id: str) -> bool:
        """Remove the app from one location: UNINSTALL, and its tokens stop working."""
        if self.installed.pop(location_id, None) is None:
            return False
        self.tokens.revoke_location(location_id)
        self._send_uninstall("locationId", location_id)
        return True

    def uninstall_company(self, company_id: str) -> list[str]:
        """Remove the app from the agency and all its locations; the locations uninstalled."""
        gone = [loc for loc in self.installed_in(company_id) if self.uninstall_location(loc)]
        if self.company_installs.pop(company_id, None) is not None:
            self.tokens.revoke_company(company_id)
            self._send_uninstall("companyId", company_id)
        return gone

    def install_to_future(self, company_id: str) -> bool:
        """Whether new locations of the company get the app."""
        agency = self.company_installs.get(company_id)
        return bool(agency and agency.install_to_future)

    def _install_body(
        self, location_id: str | None, company_id: str | None, install_type: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "INSTALL", "appId": self.app_id}
        if location_id is not None:
            body["locationId"] = location_id
        body.update(
            {
                "versionId": self.version_id,
                "installType": install_type,
                "companyId": company_id,
                "userId": self.settings.user_id,
                "companyName": self.companies[company_id].name
                if company_id in self.companies
                else None,
                "trial": {"onTrial": False},
                "isWhitelabelCompany": False,
                "whitelabelDetails": {},
            }
        )
        return {k: v for k, v in body.items() if v is not None}

    def _send(self, event: str, key: str, body: dict[str, Any]) -> None:
        if self.settings.app_webhooks:
            self.webhooks.publish_app_event(event, key, body)

    def _send_uninstall(self, field: Literal["locationId", "companyId"], target_id: str) -> None:
        self._send(
            "UNINSTALL", target_id, {"type": "UNINSTALL", "appId": self.app_id, field: target_id}
        )

    # -- views ----------------------------------------------------------------------------

    def rows(self, company_id: str) -> Iterator[dict[str, Any]]:
        """`InstalledLocationSchema` rows of every location of the company."""
        for location_id in self.locations_of(company_id):
            loc = self.state.locations[location_id]
            install = self.installed.get(location_id)
            row: dict[str, Any] = {
                "_id": location_id,
                "name": loc.name,
                "address": f"{len(loc.name)} Main St, Springfield, IL 62701, USA",
                "isInstalled": install is not None,
            }
            if install is not None:
                row["versionId"] = self.version_id
                row["installedAt"] = iso_ms(install.installed_at)
            yield row

    def dump(self) -> dict[str, Any]:
        """Companies, their locations and install states (`GET /_admin/installs`)."""
        out: dict[str, Any] = {}
        for company_id, company in self.companies.items():
            agency = self.company_installs.get(company_id)
            out[company_id] = {
                "id": company_id,
                "name": company.name,
                "agencyInstall": None
                if agency is None
                else {
                    "installedAt": iso_ms(agency.installed_at),
                    "installToFutureLocations": agency.install_to_future,
                    "approveAllLocations": agency.approve_all,
                    "isBulkInstallation": agency.bulk,
                },
                "locations": [
                    {
                        "id": row["_id"],
                        "name": row["name"],
                        "isInstalled": row["isInstalled"],
                        "via": self.installed[row["_id"]].via if row["isInstalled"] else None,
                    }
                    for row in self.rows(company_id)
                ],
            }
        return {"appId": self.app_id, "versionId": self.version_id, "companies": out}
