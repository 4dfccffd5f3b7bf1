"""The objects one simulator app runs with, reachable from every route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from services.simulator.activity import ActivityGenerator
from services.simulator.faults import FaultInjector
from services.simulator.ratelimit import RateLimiter
from services.simulator.settings import SimulatorSettings
from services.simulator.state import SimulatorState
from services.simulator.tokens import TokenStore
from services.simulator.webhooks import WebhookDispatcher, WebhookSigner

if TYPE_CHECKING:
    from services.simulator.agency import AppInstalls

__all__ = ["Runtime", "runtime"]


@dataclass
class Runtime:
    """Settings, ground truth and the machinery around it, for one app."""

    settings: SimulatorSettings
    state: SimulatorState
    tokens: TokenStore
    limiter: RateLimiter
    faults: FaultInjector
    signer: WebhookSigner
    webhooks: WebhookDispatcher
    activity: ActivityGenerator
    installs: AppInstalls | None = None
    """Companies and app installations (always set by `create_app`)."""

    @property
    def agency(self) -> AppInstalls:
        """`installs`, which `create_app` always sets."""
        assert self.installs is not None
        return self.installs


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    rt = request.app.state.simulator
    assert isinstance(rt, Runtime)
    return rt
