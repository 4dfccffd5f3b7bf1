"""Leases on locations in PostgreSQL, so any number of poller instances share them.

An instance polls a location only while it holds an unexpired lease. Leases (and instance
heartbeats) are written for `2/3 * period` and renewed every `period / 6`, so a dead
instance's leases are expired, and taken at the survivor's next tick, within `5/6 * period`
of its death, while a live holder whose event loop stalls has half a period of slack before
it must stop. Every `period / 6` it
runs one transaction (`tick`): heartbeat, renew what it holds, let go of what is no longer
a target, and take free or expired leases up to its fair share (`ceil(locations / live
instances)`); what it holds above that share it stops polling first, then `release`s.
Taking a lease is an `INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now()`: under
the row lock, so two instances never both win one.

Fencing: the holder counts its lease as valid only until `sent + ttl`, `sent` being its
own monotonic clock *before* the renewing statement was sent; PostgreSQL's expiry is at
least that late. An instance that cannot renew (partitioned, stalled) stops polling before
another can take over (`Poller` cancels a location's task the moment `valid` turns false),
so no location is ever polled by two instances at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import asyncpg

__all__ = ["LeaseStore"]


class LeaseStore:
    """This instance's leases."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        instance_id: str,
        period: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self.instance_id = instance_id
        self.period = period
        self.ttl = period * 2 / 3
        self.renew_every = period / 6
        self._monotonic = monotonic
        self.valid_until: dict[str, float] = {}

    def valid(self, location_id: str) -> bool:
        """Whether this instance may poll the location now."""
        return self._monotonic() < self.valid_until.get(location_id, 0.0)

    async def tick(self, candidates: Sequence[str]) -> tuple[set[str], list[str]]:
        """Renew, balance and take leases; returns the locations held now and the surplus to
        hand back (still held: stop polling them, then `release` them)."""
        sent = self._monotonic()
        me, period = self.instance_id, self.ttl
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO poller_instances (instance_id) VALUES ($1) ON CONFLICT "
                "(instance_id) DO UPDATE SET heartbeat_at = now()",
                me,
            )
            live = await conn.fetchval(
                "SELECT count(*) FROM poller_instances "
                "WHERE heartbeat_at > now() - make_interval(secs => $1)",
                period,
            )
            await conn.execute(
                "DELETE FROM poller_leases WHERE holder = $1 AND NOT location_id = ANY($2::text[])",
                me,
                list(candidates),
            )
            held = [
                r["location_id"]
                for r in await conn.fetch(
                    "UPDATE poller_leases SET expires_at = now() + make_interval(secs => $2) "
                    "WHERE holder = $1 RETURNING location_id",
                    me,
                    period,
                )
            ]
            fair = math.ceil(len(candidates) / max(int(live or 1), 1))
            surplus: list[str] = []
            if len(held) > fair:
                # A new instance joined: hand the surplus back once it is no longer polled.
                surplus = sorted(held)[fair:]
            elif len(held) < fair:
                taken = await conn.fetch(
                    "WITH free AS ("
                    " SELECT c AS location_id FROM unnest($2::text[]) AS c"
                    " LEFT JOIN poller_leases l ON l.location_id = c"
                    " WHERE l.location_id IS NULL OR l.expires_at < now()"
                    " ORDER BY random() LIMIT $4)"
                    " INSERT INTO poller_leases AS l (location_id, holder, expires_at)"
                    " SELECT location_id, $1, now() + make_interval(secs => $3) FROM free"
                    " ON CONFLICT (location_id) DO UPDATE SET holder = EXCLUDED.holder,"
                    " expires_at = EXCLUDED.expires_at, acquired_at = now(), epoch = l.epoch + 1"
                    " WHERE l.expires_at < now()"
                    " RETURNING location_id",
                    me,
                    list(candidates),
                    period,
                    fair - len(held),
                )
                held += [r["location_id"] for r in taken]
        until = sent + self.ttl
        self.valid_until = dict.fromkeys(held, until)
        return set(held) - set(surplus), surplus

    async def release(self, locations: Sequence[str]) -> None:
        """Give these leases back (their polling has stopped): others may take them now."""
        for location_id in locations:
            self.valid_until.pop(location_id, None)
        if locations:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "DELETE FROM poller_leases WHERE holder = $1 AND location_id = ANY($2::text[])",
                    self.instance_id,
                    list(locations),
                )

    async def release_all(self) -> None:
        """Give every lease back (a clean shutdown: others take over at once)."""
        self.valid_until = {}
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM poller_leases WHERE holder = $1", self.instance_id)
            await conn.execute(
                "DELETE FROM poller_instances WHERE instance_id = $1", self.instance_id
            )
