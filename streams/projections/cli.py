"""`ghl-sync replay`, `ghl-sync verify` and `ghl-sync lag`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from services.platform.cli import JsonOption

if TYPE_CHECKING:
    from streams.settings import StreamsSettings

# The Kafka, PostgreSQL and HTTP clients and the projection modules are imported where a
# command runs: `ghl-sync replay --help` must not pay for them.

__all__ = ["register", "verify_against_ground_truth", "verify_against_rebuild"]

_out = Console()


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2))


async def verify_against_rebuild(settings: StreamsSettings) -> list[str]:
    """Rebuild the projections into a scratch schema and diff them with the live tables."""
    import asyncpg

    from streams.projections.replay import rebuild
    from streams.projections.verify import diff_tables, dump_tables

    report = await rebuild(settings)
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await conn.execute(f'SET search_path TO "{settings.database_schema}"')
        live = await dump_tables(conn)
        await conn.execute(f'SET search_path TO "{report.schema}"')
        rebuilt = await dump_tables(conn)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{report.schema}" CASCADE')
        await conn.close()
    return diff_tables(live, rebuilt, left_name="live", right_name="rebuild")


async def verify_against_ground_truth(settings: StreamsSettings, simulator_url: str) -> list[str]:
    """Diff the live tables with the simulator's ground truth (`/_admin/state`)."""
    import asyncpg
    import httpx

    from streams.projections.verify import diff_against_ground_truth, dump_tables

    async with httpx.AsyncClient(base_url=simulator_url, timeout=60) as client:
        response = await client.get("/_admin/state")
        response.raise_for_status()
        state = response.json()
    conn = await asyncpg.connect(
        settings.database_url.get_secret_value(),
        server_settings={"search_path": settings.database_schema},
    )
    try:
        live = await dump_tables(conn)
    finally:
        await conn.close()
    return diff_against_ground_truth(live, state)


def register(app: typer.Typer) -> None:
    """Add the projection commands to `app`."""

    @app.command("replay")
    def replay_command(
        as_json: JsonOption = False,
        history: Annotated[
            bool,
            typer.Option(
                "--history/--no-history",
                help="Rebuild the contact history too (as `replay-history` does).",
            ),
        ] = True,
    ) -> None:
        """Rebuild every projection (the contact history included) from the start of ghl.events
        and swap it in atomically."""
        from streams.projections.replay import replay
        from streams.settings import StreamsSettings

        settings = StreamsSettings()
        report = asyncio.run(replay(settings))
        rebuilt = None
        if history:
            from streams.history.replay import rebuild_history

            rebuilt = asyncio.run(rebuild_history(settings, swap=True))
        if as_json:
            _print_json(
                {
                    "events": report.events,
                    "dead_letters": report.dead_letters,
                    "seconds": report.seconds,
                    "events_per_second": report.events_per_second,
                    "offsets": {str(p): o for p, o in sorted(report.offsets.items())},
                    "swapped": report.swapped,
                    **(
                        {"history": {"events": rebuilt.events, "seconds": rebuilt.seconds}}
                        if rebuilt is not None
                        else {}
                    ),
                }
            )
            return
        _out.print(
            f"replayed {report.events} events in {report.seconds:.1f}s "
            f"({report.events_per_second:,.0f}/s), {report.dead_letters} dead letters; "
            "the rebuilt tables are live"
        )
        if rebuilt is not None:
            _out.print(
                f"history rebuilt from {rebuilt.events} events in {rebuilt.seconds:.1f}s; live"
            )

    @app.command("verify")
    def verify_command(
        simulator: Annotated[
            str | None,
            typer.Option(help="Compare with this GHL simulator's ground truth instead."),
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Compare the projections with a rebuild from the log (or the simulator); exit 1 on any
        difference."""
        from streams.settings import StreamsSettings

        settings = StreamsSettings()
        if simulator:
            differences = asyncio.run(verify_against_ground_truth(settings, simulator))
        else:
            differences = asyncio.run(verify_against_rebuild(settings))
        if as_json:
            against = "ghl" if simulator else "rebuild"
            _print_json({"match": not differences, "against": against, "differences": differences})
            if differences:
                raise typer.Exit(1)
            return
        for line in differences:
            _out.print(line, highlight=False)
        if differences:
            raise typer.Exit(1)
        _out.print("the projections match" + (" GHL" if simulator else " a rebuild"))

    @app.command("lag")
    def lag_command(as_json: JsonOption = False) -> None:
        """Events in ghl.events not yet in the projection tables, per partition."""
        from streams.projections.lag import projection_lag
        from streams.settings import StreamsSettings

        lags = asyncio.run(projection_lag(StreamsSettings()))
        if as_json:
            rows = [
                {"partition": x.partition, "end_offset": x.end_offset,
                 "next_offset": x.next_offset, "lag": x.lag}
                for x in lags
            ]  # fmt: skip
            _print_json({"partitions": rows, "total_lag": sum(x.lag for x in lags)})
            return
        for lag in lags:
            _out.print(
                f"partition {lag.partition}: end {lag.end_offset}, next {lag.next_offset}, "
                f"lag {lag.lag}"
            )
        _out.print(f"total lag {sum(lag.lag for lag in lags)}")
