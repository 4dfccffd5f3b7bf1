"""The onboarding contract (`register_location`, `remove_location`); it lives in
`services.db.poller_targets`, where every process may use it."""

from __future__ import annotations

from services.db.poller_targets import CHANNEL, register_location, remove_location

__all__ = ["CHANNEL", "register_location", "remove_location"]
