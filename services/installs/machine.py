"""The install state machine of one `(companyId, locationId)`: pure, no I/O.

Facts come from three places: GHL's app webhooks (INSTALL, UNINSTALL, LocationCreate), the
agency's `installedLocations` list (read at consent and periodically, because webhooks can be
missed), and our own code exchange (a company that authorises the app). `decide` takes the
current installation (or None), one fact about that location, and whether a token can be had
for it; it returns the next installation, what to do (onboard, stop, nothing) and why.

Ordering. Every fact carries its time: the webhook's `timestamp`, or when the list was read.
An installation remembers the time of the fact that set its state (`state_at`); a fact older
than that is *stale* and changes nothing. So a redelivered INSTALL is a duplicate, an INSTALL
that overtakes the UNINSTALL that followed it is stale, and a reinstall (a later INSTALL) wins.

States:

    pending      INSTALL seen but no token can be had yet: the company has not finished the code
                 exchange (GHL may send INSTALL before it, ISSUES #294) or never authorised the
                 app at all. Becomes `installed` when the company authorises.
    installed    onboard (mint the token, backfill, poll) and keep in sync.
    uninstalled  polling, writes and enrichment stop; a later INSTALL reinstalls.

UNCONFIRMED choices (GHL does not document them): equal timestamps do not make a fact stale
(so an UNINSTALL and an INSTALL of the same millisecond apply in arrival order); a location
missing from `installedLocations` is taken as uninstalled (the UNINSTALL was missed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Action",
    "CompanyAuthorised",
    "Decision",
    "Fact",
    "Install",
    "Installation",
    "Listed",
    "Outcome",
    "State",
    "Uninstall",
    "decide",
]


class State(StrEnum):
    """Where an installation stands."""

    PENDING = "pending"
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"


class Action(StrEnum):
    """What the caller must do once the decision is stored."""

    NONE = "none"
    ONBOARD = "onboard"  # mint the location token, start backfill and polling
    STOP = "stop"  # stop polling, writes and enrichment; drop the token


class Outcome(StrEnum):
    """How the fact was taken (logged with the reason)."""

    APPLIED = "applied"
    PENDING = "pending"
    DUPLICATE = "duplicate"
    STALE = "stale"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Installation:
    """One installation as stored."""

    company_id: str
    location_id: str
    state: State
    state_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class _OnLocation:
    company_id: str
    location_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Install(_OnLocation):
    """The app is installed on the location (an INSTALL webhook)."""

    source: str = "webhook"


@dataclass(frozen=True, slots=True)
class Uninstall(_OnLocation):
    """The app was removed from the location (an UNINSTALL webhook, or the agency's)."""

    source: str = "webhook"


@dataclass(frozen=True, slots=True)
class Listed:
    """`installedLocations`, read at `at`, lists the location (or no longer does)."""

    company_id: str
    location_id: str
    installed: bool
    at: datetime
    source: str = "installedLocations"


@dataclass(frozen=True, slots=True)
class CompanyAuthorised(_OnLocation):
    """The company finished the code exchange: its pending installations can be onboarded."""

    source: str = "code exchange"


Fact = Install | Uninstall | Listed | CompanyAuthorised


@dataclass(frozen=True, slots=True)
class Decision:
    """The next installation (None: nothing to store), the action, and why."""

    next: Installation | None
    action: Action
    outcome: Outcome
    reason: str


def _set(
    current: Installation | None, fact: Fact, state: State, *, at: datetime | None = None
) -> Installation:
    when = fact.at if at is None else at
    if current is None:
        return Installation(fact.company_id, fact.location_id, state, when, fact.source)
    return replace(
        current, company_id=fact.company_id, state=state, state_at=when, source=fact.source
    )


def _stale(current: Installation | None, fact: Fact) -> bool:
    return current is not None and fact.at < current.state_at


def decide(current: Installation | None, fact: Fact, *, authorised: bool) -> Decision:
    """The transition for `fact`. `authorised`: a token can be had for the location now (its
    company holds a Company token, or the location has a token of its own)."""
    if isinstance(fact, CompanyAuthorised):
        if current is not None and current.state is State.PENDING:
            # Not a newer fact about the installation, so state_at is kept.
            nxt = _set(current, fact, State.INSTALLED, at=current.state_at)
            return Decision(nxt, Action.ONBOARD, Outcome.APPLIED, "company authorised the app")
        return Decision(None, Action.NONE, Outcome.IGNORED, "nothing pending for the company")

    if _stale(current, fact):
        assert current is not None
        return Decision(
            None,
            Action.NONE,
            Outcome.STALE,
            f"{_label(fact)} of {fact.at.isoformat()} is older than the {current.state} "
            f"state of {current.state_at.isoformat()}",
        )

    wants_installed = isinstance(fact, Install) or (isinstance(fact, Listed) and fact.installed)
    if wants_installed:
        # installedLocations is read with the company's own token: the company is authorised.
        can = authorised or isinstance(fact, Listed)
        target = State.INSTALLED if can else State.PENDING
        if current is not None and current.state is target:
            return Decision(
                _set(current, fact, target), Action.NONE, Outcome.DUPLICATE, f"already {target}"
            )
        if current is not None and current.state is State.INSTALLED:
            # An INSTALL for a location that is installed (by a grant of its own): keep it.
            return Decision(None, Action.NONE, Outcome.DUPLICATE, "already installed")
        if target is State.PENDING:
            return Decision(
                _set(current, fact, State.PENDING),
                Action.NONE,
                Outcome.PENDING,
                f"company {fact.company_id} holds no token (code exchange not done, or never "
                "authorised): held until it authorises",
            )
        verb = "reinstalled" if current and current.state is State.UNINSTALLED else "installed"
        return Decision(_set(current, fact, State.INSTALLED), Action.ONBOARD, Outcome.APPLIED, verb)

    # Uninstall, or Listed(installed=False)
    if current is None:
        if isinstance(fact, Listed):
            return Decision(None, Action.NONE, Outcome.IGNORED, "not listed, never installed")
        # Remembered as uninstalled, so an INSTALL sent before it but delivered after it is
        # stale rather than installing a location that is gone.
        return Decision(
            _set(None, fact, State.UNINSTALLED),
            Action.NONE,
            Outcome.IGNORED,
            "UNINSTALL for a location never installed (remembered: an older INSTALL "
            "delivered later is stale)",
        )
    if current.state is State.UNINSTALLED:
        return Decision(None, Action.NONE, Outcome.DUPLICATE, "already uninstalled")
    reason = (
        "uninstalled"
        if isinstance(fact, Uninstall)
        else "no longer in installedLocations (UNINSTALL missed)"
    )
    return Decision(_set(current, fact, State.UNINSTALLED), Action.STOP, Outcome.APPLIED, reason)


def _label(fact: Fact) -> str:
    if isinstance(fact, Install):
        return "INSTALL"
    if isinstance(fact, Uninstall):
        return "UNINSTALL"
    if isinstance(fact, Listed):
        return "installedLocations " + ("listing" if fact.installed else "absence")
    return "authorisation"
