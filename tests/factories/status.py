"""Status figures as the database reports them, for the status tests: a location's token and
its request budget."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.status import BudgetState, TokenState

__all__ = ["budget_state", "token_state"]


def token_state(now: datetime, expires_in: timedelta, *, refresh_count: int) -> TokenState:
    """A location token that expires `expires_in` after `now` and was never refreshed by hand."""
    return TokenState(
        user_type="Location",
        expires_at=now + expires_in,
        expires_in_seconds=expires_in.total_seconds(),
        refresh_count=refresh_count,
        refreshed_at=None,
    )


def budget_state(
    *, window_left: int, daily_limit: int, daily_left: int, next_slot_in_seconds: float = 0.0
) -> BudgetState:
    """A location's budget under GHL's burst limit (100 requests per 10 s window)."""
    return BudgetState(
        window_requests=100,
        window_seconds=10.0,
        window_left=window_left,
        daily_limit=daily_limit,
        daily_left=daily_left,
        next_slot_in_seconds=next_slot_in_seconds,
    )
