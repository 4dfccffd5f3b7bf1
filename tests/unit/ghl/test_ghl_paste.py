"""`ghl-sync auth --paste`: the code read from what a user pastes, its `state` checked."""

from __future__ import annotations

import pytest

from services.ghl import AuthError
from services.ghl._consent import pasted_code

STATE = "s-3f9a"


@pytest.mark.parametrize(
    "pasted",
    [
        f"http://127.0.0.1:8765/oauth/callback?code=abc123&state={STATE}",
        f"  http://127.0.0.1:8765/oauth/callback?state={STATE}&code=abc123\n",
        f"https://app.example.com/ghl/callback?code=abc123&state={STATE}#",
        f"/oauth/callback?code=abc123&state={STATE}",
        f"code=abc123&state={STATE}",
        "abc123",
        "abc123\n",
    ],
)
def test_the_code_is_read_from_the_address_its_query_or_alone(pasted: str) -> None:
    assert pasted_code(pasted, state=STATE) == "abc123"


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ("", "nothing was pasted"),
        ("   \n", "nothing was pasted"),
        ("http://127.0.0.1:8765/oauth/callback?code=abc123&state=other", "another consent"),
        ("http://127.0.0.1:8765/oauth/callback?code=abc123", "no state"),
        (f"http://127.0.0.1:8765/oauth/callback?state={STATE}", "no code"),
        (f"http://127.0.0.1:8765/oauth/callback?error=access_denied&state={STATE}", "refused"),
        ("two words", "neither"),
        ("http://127.0.0.1:8765/oauth/callback", "neither"),
    ],
)
def test_bad_pastes_are_refused_without_repeating_them(pasted: str, says: str) -> None:
    with pytest.raises(AuthError, match=says) as refused:
        pasted_code(pasted, state=STATE)
    assert "abc123" not in str(refused.value)
