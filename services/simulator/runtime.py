"""The objects one simulator app runs with, reachable from every route."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.simulator.activity import ActivityGenerator
from services.simulator.faults import FaultInjector
from services.simulator.ratelimit import RateLimiter
from services.simulator.settings import SimulatorSettings
from services.simulator.state import SimulatorState
from services.simulator.tokens import TokenStore
from services.simulator.webhooks import WebhookDispatcher, WebhookSigner

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


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    rt = request.app.state.simulator
    assert isinstance(rt, Runtime)
    return rt
