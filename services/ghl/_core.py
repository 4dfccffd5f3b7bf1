"""The request path every operation takes: budget, token, send, translate, retry.

Each attempt first books a slot of the location's budget, so retries, 401 replays and 429
replays are paid for like any other request.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from schemas import ghl_errors
from services.ghl import _metrics
from services.ghl._operations import OPERATIONS, Operation, Safety
from services.ghl._ratelimit import Priority, RateLimiter, RateLimitHeaders
from services.ghl.settings import GhlSettings
from services.ghl.tokens import TokenProvider

__all__ = ["operation"]

_log = logging.getLogger("services.ghl")

_F = TypeVar("_F", bound=Callable[..., Any])

# The request never left this process: repeating it cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Json = Any


def operation(operation_id: str) -> Callable[[_F], _F]:
    """Mark a client method as the implementation of a GHL operation (read by the catalog)."""
    if operation_id not in OPERATIONS:
        raise KeyError(f"unknown GHL operation {operation_id!r}")

    def mark(method: _F) -> _F:
        method.__ghl_operation__ = operation_id  # type: ignore[attr-defined]
        return method

    return mark


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after")
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(when.timestamp() - time.time(), 0.0)


def _error_details(response: httpx.Response) -> tuple[str, tuple[str, ...], str | None]:
    """GHL's message, its list of validation messages, and the trace id, from an error body."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error", (), None
    if not isinstance(body, dict):
        return response.reason_phrase or "error", (), None
    raw = body.get("message")
    error = body.get("error")
    if raw is None and isinstance(error, dict):
        raw = error.get("message")
    if isinstance(raw, list):
        messages = tuple(str(item) for item in raw)
        message = "; ".join(messages)
    else:
        message = str(raw) if raw is not None else (response.reason_phrase or "error")
        messages = (message,)
    trace = body.get("traceId")
    return message, messages, str(trace) if trace is not None else None


class ClientCore:
    """Sends one operation for one location; typed methods live in the subclasses."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        settings: GhlSettings,
        token_provider: TokenProvider,
        rate_limiter: RateLimiter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self._settings = settings
        self._tokens = token_provider
        self._limiter = rate_limiter
        self._sleep = sleep
        self._jitter = jitter

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._settings.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _backoff(self, attempt: int) -> float:
        cap = min(
            self._settings.retry_backoff * float(2**attempt), self._settings.retry_backoff_max
        )
        # Equal jitter: at least half the cap, so retries do spread out but never hammer.
        return cap / 2 + self._jitter() * cap / 2

    async def _call(
        self,
        operation_id: str,
        location_id: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Json = None,
        priority: Priority,
        safety: Safety | None = None,
    ) -> Json:
        op = OPERATIONS[operation_id]
        url = op.path.format_map({k: quote(v, safe="") for k, v in (path or {}).items()})
        query = {k: v for k, v in (params or {}).items() if v is not None}
        safe = (safety or op.safety) is Safety.IDEMPOTENT
        server_retries = 0
        rate_retries = 0
        refreshed = False
        token = await self._tokens.access_token(location_id)
        while True:
            permit = await self._limiter.acquire(location_id, priority)
            sent = time.perf_counter()
            try:
                response = await self._http.request(
                    op.method,
                    url,
                    params=query,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", "Version": op.version},
                )
            except httpx.HTTPError as exc:
                _metrics.record_no_answer(op.label)
                if safe or isinstance(exc, _NOT_SENT):
                    if server_retries < self._settings.max_retries:
                        await self._pause(op, location_id, server_retries, type(exc).__name__)
                        server_retries += 1
                        continue
                    raise ghl_errors.TransportError(
                        f"no answer after {server_retries + 1} attempts: {type(exc).__name__}",
                        operation=op.label,
                    ) from exc
                raise ghl_errors.OutcomeUnknown(
                    f"sent, but no answer ({type(exc).__name__}); look the record up before "
                    "retrying",
                    operation=op.label,
                ) from exc
            headers = RateLimitHeaders.parse(response.headers)
            _metrics.record_answer(
                op.label, location_id, response.status_code, time.perf_counter() - sent, headers
            )
            if headers is not None:
                await self._limiter.observe(permit, headers)
            status = response.status_code
            if status < 300:
                return self._decode(op, response)
            if status == 401 and not refreshed:
                refreshed = True
                _log.info(
                    "401 from %s for location %s; asking for a newer token", op.label, location_id
                )
                token = await self._tokens.refresh(location_id, rejected=token)
                continue
            if status == 429:
                wait = _retry_after(response, self._settings.default_retry_after)
                await self._limiter.penalize(location_id, wait)
                if rate_retries < self._settings.max_rate_limit_retries:
                    rate_retries += 1
                    _log.warning(
                        "429 from %s for location %s; waiting %.1fs (attempt %d)",
                        op.label,
                        location_id,
                        wait,
                        rate_retries,
                    )
                    continue
            if status >= 500 and safe and server_retries < self._settings.max_retries:
                await self._pause(op, location_id, server_retries, f"HTTP {status}")
                server_retries += 1
                continue
            raise self._translate(op, response, safe=safe)

    async def _pause(self, op: Operation, location_id: str, attempt: int, why: str) -> None:
        delay = self._backoff(attempt)
        _log.warning(
            "%s for location %s failed (%s); retry %d in %.2fs",
            op.label,
            location_id,
            why,
            attempt + 1,
            delay,
        )
        await self._sleep(delay)

    @staticmethod
    def _decode(op: Operation, response: httpx.Response) -> Json:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ghl_errors.GhlError(
                "answer is not JSON", operation=op.label, status_code=response.status_code
            ) from exc

    def _translate(
        self, op: Operation, response: httpx.Response, *, safe: bool
    ) -> ghl_errors.GhlError:
        status = response.status_code
        message, messages, trace = _error_details(response)
        common: dict[str, Any] = {
            "operation": op.label,
            "status_code": status,
            "trace_id": trace,
        }
        if status in (401, 403):
            return ghl_errors.AuthError(message, **common)
        if status == 404 or (status == 400 and "not found" in message.lower()):
            return ghl_errors.NotFound(message, **common)
        if status in (400, 422):
            return ghl_errors.ValidationFailed(message, messages=messages, **common)
        if status == 429:
            return ghl_errors.RateLimited(
                message,
                retry_after=_retry_after(response, self._settings.default_retry_after),
                **common,
            )
        if status >= 500:
            if not safe:
                return ghl_errors.OutcomeUnknown(
                    f"{message}; the write may have happened, look it up before retrying",
                    **common,
                )
            return ghl_errors.ServerError(message, **common)
        return ghl_errors.GhlError(message, **common)
