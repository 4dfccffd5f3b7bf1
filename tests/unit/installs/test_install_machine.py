"""The install state machine: every fact in every state, duplicates and out-of-order facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.installs.machine import (
    Action,
    CompanyAuthorised,
    Install,
    Installation,
    Listed,
    Outcome,
    State,
    Uninstall,
    decide,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CO, LOC = "cmp-1", "loc-1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(state: State, seconds: float = 0) -> Installation:
    return Installation(CO, LOC, state, at(seconds), "webhook")


def test_install_of_an_authorised_company_onboards() -> None:
    d = decide(None, Install(CO, LOC, at(1)), authorised=True)
    assert (d.action, d.outcome) == (Action.ONBOARD, Outcome.APPLIED)
    assert d.next == Installation(CO, LOC, State.INSTALLED, at(1), "webhook")


def test_install_before_the_code_exchange_is_pending_then_onboarded_on_authorisation() -> None:
    first = decide(None, Install(CO, LOC, at(1)), authorised=False)
    assert (first.action, first.outcome) == (Action.NONE, Outcome.PENDING)
    assert first.next is not None
    assert first.next.state is State.PENDING
    assert "holds no token" in first.reason
    later = decide(first.next, CompanyAuthorised(CO, LOC, at(5)), authorised=True)
    assert later.action is Action.ONBOARD
    assert later.next is not None
    assert later.next.state is State.INSTALLED
    # Authorisation is not a newer fact about the installation: an UNINSTALL sent between the
    # INSTALL and the exchange still counts.
    assert later.next.state_at == at(1)


def test_authorisation_without_a_pending_install_changes_nothing() -> None:
    for current in (None, row(State.INSTALLED), row(State.UNINSTALLED)):
        d = decide(current, CompanyAuthorised(CO, LOC, at(9)), authorised=True)
        assert (d.next, d.action, d.outcome) == (None, Action.NONE, Outcome.IGNORED)


def test_the_listing_installs_a_pending_location() -> None:
    d = decide(row(State.PENDING, 1), Listed(CO, LOC, True, at(2)), authorised=False)
    assert d.action is Action.ONBOARD
    assert d.next is not None
    assert d.next.state is State.INSTALLED


def test_duplicate_install_does_nothing() -> None:
    d = decide(row(State.INSTALLED, 1), Install(CO, LOC, at(1)), authorised=True)
    assert (d.action, d.outcome) == (Action.NONE, Outcome.DUPLICATE)
    pending = decide(row(State.PENDING, 1), Install(CO, LOC, at(1)), authorised=False)
    assert (pending.action, pending.outcome) == (Action.NONE, Outcome.DUPLICATE)


def test_install_for_an_installed_location_of_an_unauthorised_company_keeps_it() -> None:
    d = decide(row(State.INSTALLED, 1), Install(CO, LOC, at(3)), authorised=False)
    assert (d.next, d.action, d.outcome) == (None, Action.NONE, Outcome.DUPLICATE)


def test_uninstall_stops_and_a_later_install_reinstalls() -> None:
    gone = decide(row(State.INSTALLED, 1), Uninstall(CO, LOC, at(2)), authorised=True)
    assert (gone.action, gone.outcome) == (Action.STOP, Outcome.APPLIED)
    assert gone.next is not None
    assert gone.next.state is State.UNINSTALLED
    back = decide(gone.next, Install(CO, LOC, at(3)), authorised=True)
    assert back.action is Action.ONBOARD
    assert back.reason == "reinstalled"


def test_uninstall_of_a_pending_location_needs_no_stop_of_a_token_but_is_applied() -> None:
    d = decide(row(State.PENDING, 1), Uninstall(CO, LOC, at(2)), authorised=False)
    assert d.next is not None
    assert d.next.state is State.UNINSTALLED
    assert d.action is Action.STOP


def test_uninstall_for_a_location_never_installed_is_ignored_with_its_reason() -> None:
    d = decide(None, Uninstall(CO, LOC, at(2)), authorised=True)
    assert (d.action, d.outcome) == (Action.NONE, Outcome.IGNORED)
    assert "never installed" in d.reason
    # remembered, so that an older INSTALL delivered later cannot install the location
    assert d.next == Installation(CO, LOC, State.UNINSTALLED, at(2), "webhook")
    assert decide(None, Listed(CO, LOC, False, at(2)), authorised=True).next is None


def test_duplicate_uninstall_does_nothing() -> None:
    d = decide(row(State.UNINSTALLED, 2), Uninstall(CO, LOC, at(2)), authorised=True)
    assert (d.next, d.action, d.outcome) == (None, Action.NONE, Outcome.DUPLICATE)


@pytest.mark.parametrize(
    ("state", "fact"),
    [
        (State.UNINSTALLED, Install(CO, LOC, at(1))),  # INSTALL overtaken by its UNINSTALL
        (State.INSTALLED, Uninstall(CO, LOC, at(1))),  # old UNINSTALL after a reinstall
        (State.INSTALLED, Listed(CO, LOC, False, at(1))),  # a listing read before the install
        (State.UNINSTALLED, Listed(CO, LOC, True, at(1))),  # a listing read before the uninstall
    ],
)
def test_a_fact_older_than_the_state_is_stale(state: State, fact: object) -> None:
    d = decide(row(state, 5), fact, authorised=True)  # type: ignore[arg-type]
    assert (d.next, d.action, d.outcome) == (None, Action.NONE, Outcome.STALE)
    assert "older than" in d.reason


def test_out_of_order_pair_ends_in_the_state_of_the_later_fact() -> None:
    # UNINSTALL(t2) delivered before INSTALL(t1): uninstalled, whatever the arrival order.
    first = decide(None, Uninstall(CO, LOC, at(2)), authorised=True)
    late = decide(first.next, Install(CO, LOC, at(1)), authorised=True)
    assert (late.next, late.action, late.outcome) == (None, Action.NONE, Outcome.STALE)
    # In order: INSTALL(t1), UNINSTALL(t2), then INSTALL(t1) redelivered: stale too.
    installed = decide(None, Install(CO, LOC, at(1)), authorised=True)
    again = decide(installed.next, Uninstall(CO, LOC, at(2)), authorised=True)
    assert again.next is not None
    assert again.next.state is State.UNINSTALLED
    assert decide(again.next, Install(CO, LOC, at(1)), authorised=True).outcome is Outcome.STALE


def test_missing_from_the_listing_uninstalls() -> None:
    d = decide(row(State.INSTALLED, 1), Listed(CO, LOC, False, at(9)), authorised=True)
    assert d.action is Action.STOP
    assert "UNINSTALL missed" in d.reason


def test_an_equal_timestamp_is_not_stale() -> None:
    d = decide(row(State.INSTALLED, 3), Uninstall(CO, LOC, at(3)), authorised=True)
    assert d.action is Action.STOP
