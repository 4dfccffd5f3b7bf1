"""ghl-sync's projection worker against Kafka Connect with the Debezium JDBC sink, interleaved.

Runs against the local stack (`ghl-sync stack up`): its Kafka, its PostgreSQL, and Maven (to
fetch the jars from Maven Central, like the stack fetches the broker's).

    .venv/bin/python bench/vs_connect.py [--events 200000] [--runs 3] [--sink tuned|defaults]

1. Resolves Kafka Connect (`connect-runtime`, `connect-json`, the broker's version) and the
   Debezium JDBC sink (a plugin directory) with the poms under bench/connect/, cached under
   ~/.cache/ghl-sync-bench (bench/connect/settings.xml reads every repository from Maven
   Central: Debezium's pom also names Confluent's).
2. Produces the `tests/factories.py` mix once, twice over: as events to a `ghl.events.v1`
   (6 partitions) for ghl-sync, and as the row each event writes (`row_for`, the models'
   mapping) to one topic per table (6 partitions each) for the sink, in JSON with schemas
   (the form `JsonConverter` gives the sink), keyed by the row's primary key.
3. Then A B A B...: `ghl-sync worker` (projections only, one process) into fresh tables, and
   Connect standalone with one JDBC sink connector for the four topics into other fresh
   tables of the same definition (`services/db/migrations`).

Each side is timed from the first row visible in its tables to its last row written
(ghl-sync: its offsets in PostgreSQL, committed with the rows; the sink: every row holds the
last record of its key, since its committed offsets trail its rows by the flush interval and
more when the group coordinator is slow), and counted over the events not yet committed when
its first row appeared (for the sink that is its group's committed offsets, which lag: this
favours the sink by up to a flush). CPU is read from /proc over the same window, for the
process and for the PostgreSQL backends serving it (found by their client ports, IPv4 or
IPv6); peak RSS is VmHWM. Both sides must end with one row per key of the mix. Load average
is printed beside every run.

The sink's table names are qualified with the run's schema (`collection.name.format`):
unqualified, Debezium's sink looks a table up in every schema of the database, not the
connection's `currentSchema`, and wrote into the first `notes` it found (another schema's),
which is why an earlier version of this script saw no rows.

What each side does that the other does not:
- ghl-sync orders row images by their stamp (a late or duplicated event never overwrites a
  newer row), hides a deleted contact's tasks, notes and appointments, keeps the offsets in
  the same transaction as the rows (exactly once), dead-letters bad events with a reason, and
  maps GHL JSON to rows itself (the sink is fed rows ghl-sync's code computed beforehand).
- The sink writes whatever arrives last per key (its upsert has no version guard), commits
  offsets to Kafka separately from the rows (at least once), and its input carries its
  schema in every message; it has a REST API, a plugin ecosystem and dialects for other
  databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from pydantic import SecretStr
from pydantic_core import to_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import drop_schema
from bench.outage import PrivateBroker
from bench.projections import _cpu_seconds, _loadavg, _peak_rss_mib, pg_backends_of
from services.db.migrate import apply_migrations
from streams.admin import ensure_topics
from streams.projections.rows import CHILD_TABLES, COLUMNS, RowImage, row_for
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.factories import encoded, event_stream, produce

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
GHL_SYNC = Path(sys.executable).with_name("ghl-sync")
KAFKA_VERSION = "4.4.0"
DEBEZIUM_VERSION = "3.6.0.Final"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ghl-sync-bench"
HERE = Path(__file__).resolve().parent
_TIMES = {"date_added", "date_updated", "due_date", "start_time", "end_time"}

SINKS: dict[str, dict[str, str]] = {
    "defaults": {"tasks.max": "1"},
    "tuned": {
        "tasks.max": "2",
        "batch.size": "2000",
        "use.reduction.buffer": "true",
    },
}
"""Connector settings beyond the common ones; `tuned` also gets reWriteBatchedInserts and
-Xmx512m."""


# -- jars ------------------------------------------------------------------------------------


def _maven(pom: Path, out: Path, *extra: str) -> None:
    marker = out / ".complete"
    if marker.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mvn", "-B", "-q", "-s", str(HERE / "connect" / "settings.xml"), "-f", str(pom),
         "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={out}", *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"Maven could not resolve {pom}:\n{(done.stdout + done.stderr)[-3000:]}")
    marker.touch()


def fetch_jars() -> tuple[Path, Path]:
    """(Connect's classpath directory, the plugin path), fetched once from Maven Central."""
    runtime = CACHE / f"connect-{KAFKA_VERSION}"
    plugins = CACHE / "plugins"
    _maven(HERE / "connect" / "runtime" / "pom.xml", runtime, f"-Dkafka.version={KAFKA_VERSION}")
    _maven(
        HERE / "connect" / "jdbc-sink" / "pom.xml",
        plugins / f"debezium-jdbc-{DEBEZIUM_VERSION}",
        f"-Ddebezium.version={DEBEZIUM_VERSION}",
        "-DexcludeGroupIds=org.apache.kafka",
        # Connect's own Jackson serves the plugin too: a second copy in the plugin's class
        # loader breaks Connect's Jackson modules (BlackbirdModule "not a subtype").
        "-DexcludeArtifactIds=jackson-core,jackson-databind,jackson-annotations",
    )
    return runtime, plugins


# -- the sink's input ------------------------------------------------------------------------


def _pg_array(values: tuple[str, ...]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _value_fields(table: str) -> list[tuple[str, str, bool]]:
    own = (
        [("contact_id", "string", False)] if table in CHILD_TABLES else [("tags", "string", False)]
    )
    typed = [(c, "boolean" if c == "completed" else "string", True) for c in COLUMNS[table]]
    return [
        ("location_id", "string", False),
        ("id", "string", False),
        *own,
        *typed,
        ("data", "string", False),
        ("version", "string", False),
        ("event_id", "string", False),
        ("deleted_at", "string", True),
    ]


def _schema(name: str, fields: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "type": "struct",
        "name": name,
        "optional": False,
        "fields": [{"field": f, "type": t, "optional": o} for f, t, o in fields],
    }


_KEY_SCHEMA = _schema("key", [("location_id", "string", False), ("id", "string", False)])
_KEY_SCHEMA_JSON = json.dumps(_KEY_SCHEMA).encode()
_VALUE_SCHEMA_JSON = {t: json.dumps(_schema(t, _value_fields(t))).encode() for t in COLUMNS}


def sink_record(row: RowImage) -> tuple[bytes, bytes]:
    """The row as JSON with schemas (key, value): what `JsonConverter` reads."""

    def text(value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else value

    payload: dict[str, Any] = {"location_id": row.location_id, "id": row.id}
    if row.table in CHILD_TABLES:
        payload["contact_id"] = row.contact_id
    else:
        payload["tags"] = _pg_array(row.tags)
    for column in COLUMNS[row.table]:
        payload[column] = text(row.columns.get(column))
    payload |= {
        "data": row.data,
        "version": row.stamp.version.isoformat(),
        "event_id": row.stamp.event_id,
        "deleted_at": text(row.deleted_at),
    }
    key = {"location_id": row.location_id, "id": row.id}
    # The schemas are the same in every record of a table: serialised once.
    return (
        b'{"schema":%s,"payload":%s}' % (_KEY_SCHEMA_JSON, to_json(key)),
        b'{"schema":%s,"payload":%s}' % (_VALUE_SCHEMA_JSON[row.table], to_json(payload)),
    )


# -- setup -----------------------------------------------------------------------------------


async def _schema_with_tables(name: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await apply_migrations(conn, schema=name)
    finally:
        await conn.close()


async def _settle() -> None:
    """Write out what the run before left in PostgreSQL's buffers (a CHECKPOINT), so that no
    side pays for the other's writes: the sink's 200,000 updates otherwise reached the next
    run as checkpoint writes. Needs a role allowed to CHECKPOINT (the local stack's is)."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        print("(no CHECKPOINT before this run: the role may not run one)")
    finally:
        await conn.close()
    await asyncio.sleep(1.0)


async def _wait_for_leaders(topics: list[str], patience: float = 180.0) -> None:
    """Wait until every partition of `topics` has a leader: a busy broker with thousands of
    topics took ~10 s here, and a producer gives up on a topic it cannot find sooner."""
    client = AIOKafkaClient(bootstrap_servers=BOOTSTRAP)
    await client.bootstrap()
    deadline = time.monotonic() + patience
    try:
        client.set_topics(topics)
        while time.monotonic() < deadline:
            await client.force_metadata_update()
            cluster = client.cluster
            if all(
                (parts := cluster.partitions_for_topic(t))
                and all(
                    cluster.leader_for_partition(TopicPartition(t, p)) not in (None, -1)
                    for p in parts
                )
                for t in topics
            ):
                return
            await asyncio.sleep(1.0)
        raise SystemExit(f"the broker gave {topics} no leaders within {patience:.0f}s")
    finally:
        await client.close()


async def load(
    prefix: str, total: int, *, sink: bool = True
) -> tuple[StreamsSettings, dict[tuple[str, str, str], str]]:
    """Produce the mix as events and as sink rows: the settings of ghl-sync's topic, and the
    event id of the last record per row key (what the sink ends with: the last write wins)."""
    settings = StreamsSettings(
        kafka_bootstrap_servers=BOOTSTRAP,
        topic_prefix=prefix,
        app_id=f"{prefix}app",
        database_url=SecretStr(DATABASE_URL),
        batch_size=5000,
    )
    sink_topics = [f"{prefix}sink.{t}" for t in COLUMNS]
    await ensure_topics(BOOTSTRAP, [*topic_names(settings).all(), *sink_topics], partitions=6)
    await _wait_for_leaders([topic_names(settings).events, *sink_topics])
    events = list(event_stream(total, seed=1))
    values, keys = encoded(events)
    for i in range(0, total, 100_000):
        await produce(BOOTSTRAP, topic_names(settings).events, values[i : i + 100_000],
                      keys[i : i + 100_000])  # fmt: skip
    by_topic: dict[str, tuple[list[bytes], list[bytes]]] = {t: ([], []) for t in sink_topics}
    last: dict[tuple[str, str, str], str] = {}
    for event in events:
        row = row_for(event)
        last[row.key] = row.stamp.event_id
        if not sink:
            continue
        key, value = sink_record(row)
        values_, keys_ = by_topic[f"{prefix}sink.{row.table}"]
        values_.append(value)
        keys_.append(key)
    for topic, (values_, keys_) in by_topic.items():
        for i in range(0, len(values_), 50_000):
            await produce(BOOTSTRAP, topic, values_[i : i + 50_000], keys_[i : i + 50_000])
    return settings, last


# -- measuring -------------------------------------------------------------------------------


class Window:
    """CPU, events and time from the first row visible to the last offset committed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.started = 0.0
        self.events_before = 0
        self.cpu_before = 0.0
        self.pg_before: dict[int, float] = {}

    async def backends(self) -> dict[int, float]:
        out = {}
        for pid in await pg_backends_of([self.pid]):
            with contextlib.suppress(OSError):  # a backend that just ended
                out[pid] = _cpu_seconds(pid)
        return out

    async def open(self, committed: int) -> None:
        self.started = time.perf_counter()
        self.events_before = committed
        self.cpu_before = _cpu_seconds(self.pid)
        self.pg_before = await self.backends()

    async def close(self, total: int) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        cpu = _cpu_seconds(self.pid) - self.cpu_before
        pg_now = await self.backends()
        pg = sum(v - self.pg_before.get(pid, 0.0) for pid, v in pg_now.items())
        events = total - self.events_before
        if events <= 0:
            raise SystemExit("everything was applied in the first batch: use more --events")
        return {
            "events_per_s": events / seconds,
            "cpu_per_100k": cpu / events * 100_000,
            "pg_cpu_per_100k": pg / events * 100_000,
            "peak_rss_mib": _peak_rss_mib(self.pid),
            "window_events": events,
        }


async def _any_row(schema: str) -> bool:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM contacts)"))
    finally:
        await conn.close()


async def _expect(schema: str, last: dict[tuple[str, str, str], str]) -> None:
    """The sink's final rows (key and event id) in a table of the run's schema."""
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "CREATE TABLE expected_final (tbl text, location_id text, id text, event_id text)"
        )
        await conn.copy_records_to_table(
            "expected_final", records=[(*k, v) for k, v in last.items()]
        )
    finally:
        await conn.close()


async def _sink_done(schema: str, keys: int) -> bool:
    """Whether every row holds the last record of its key: the sink's last row is written
    (its committed offsets lag its rows by up to the flush interval, more when the group
    coordinator is slow to answer)."""
    joins = " + ".join(
        f"(SELECT count(*) FROM {t} JOIN expected_final e ON e.tbl = '{t}'"
        f" AND e.location_id = {t}.location_id AND e.id = {t}.id"
        f" AND e.event_id = {t}.event_id)"
        for t in COLUMNS
    )
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return int(await conn.fetchval(f"SELECT {joins}")) >= keys
    finally:
        await conn.close()


async def _row_counts(schema: str) -> dict[str, int]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in COLUMNS}
    finally:
        await conn.close()


def _check_rows(side: str, counts: dict[str, int], last: dict[tuple[str, str, str], str]) -> None:
    """Both sides must end with one row per key of the mix, in the run's own tables."""
    expected = {t: sum(1 for k in last if k[0] == t) for t in COLUMNS}
    if counts != expected:
        raise SystemExit(f"{side} wrote {counts} rows, the mix has {expected} keys")


async def _ghl_committed(schema: str, consumer: str) -> int:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer = $1",
                consumer,
            )
        )
    finally:
        await conn.close()


async def _group_committed(admin: AIOKafkaAdminClient, group: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(max(meta.offset, 0) for meta in offsets.values())


POLL_SECONDS = 0.2
"""How often a run's progress is read (rows, committed offsets, the sink's final rows).

A window's end is seen up to one poll late: up to 8% of a 2.5 s window (ghl-sync's, 200,000
events) against 2.5% of an 8 s one (the sink's), so short runs understate the faster side;
`--events 1000000` makes that 1.6% and 0.5%. Polling more often is no cure: the sink's
check joins its four tables with the expected rows, and every 20 ms that slowed the sink
by a fifth."""


async def _watch(
    pid: int,
    schema: str,
    total: int,
    committed: Any,
    process: asyncio.subprocess.Process,
    done: Any = None,
) -> dict[str, float]:
    window = Window(pid)
    opened = False
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise SystemExit(f"process {pid} exited with {process.returncode}")
        if not opened and await _any_row(schema):
            await window.open(await committed())
            opened = True
        if opened and (await done() if done is not None else await committed() >= total):
            return await window.close(total)
        await asyncio.sleep(POLL_SECONDS)
    raise SystemExit("timed out")


async def run_ghl_sync(
    settings: StreamsSettings, total: int, tag: str, last: dict[tuple[str, str, str], str]
) -> dict[str, float]:
    """One `ghl-sync worker` process (projections only) into fresh tables."""
    schema = f"vs_ghl_{settings.topic_prefix[3:-1]}_{tag}"
    await _schema_with_tables(schema)
    app_id = f"{settings.app_id}-{tag}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": settings.topic_prefix,
        "GHL_SYNC_STREAMS_APP_ID": app_id,
        "GHL_SYNC_STREAMS_DATABASE_URL": DATABASE_URL,
        "GHL_SYNC_STREAMS_DATABASE_SCHEMA": schema,
        "GHL_SYNC_STREAMS_BATCH_SIZE": str(settings.batch_size),
        "GHL_SYNC_STREAMS_PROCESSORS": '["projections"]',
        "GHL_SYNC_STREAMS_METRICS_PORT": "0",
    }
    consumer = settings.model_copy(update={"app_id": app_id}).projection_consumer
    process = await asyncio.create_subprocess_exec(
        str(GHL_SYNC), "worker", "--loglevel", "warning", env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        result = await _watch(
            process.pid, schema, total, lambda: _ghl_committed(schema, consumer), process
        )
        _check_rows("ghl-sync", await _row_counts(schema), last)
        return result
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=60)
        await drop_schema(DATABASE_URL, schema)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_sink(
    prefix: str,
    total: int,
    tag: str,
    sink: str,
    runtime: Path,
    plugins: Path,
    last: dict[tuple[str, str, str], str],
) -> dict[str, float]:
    """Connect standalone with one Debezium JDBC sink for the four tables' topics."""
    schema = f"vs_sink_{prefix[3:-1]}_{tag}"
    await _schema_with_tables(schema)
    await _expect(schema, last)
    name = f"{prefix}sink-{tag}".replace(".", "-")
    work = Path(tempfile.mkdtemp(prefix="vs-connect-"))
    (work / "worker.properties").write_text(
        "\n".join(
            [
                f"bootstrap.servers={BOOTSTRAP}",
                "key.converter=org.apache.kafka.connect.json.JsonConverter",
                "value.converter=org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable=true",
                "value.converter.schemas.enable=true",
                f"offset.storage.file.filename={work / 'offsets'}",
                "offset.flush.interval.ms=1000",
                f"plugin.path={plugins}",
                f"listeners=http://127.0.0.1:{_free_port()}",
                "consumer.max.poll.records=2000",
            ]
        )
    )
    url = DATABASE_URL.removeprefix("postgresql://").split("@", 1)
    user, hostpath = url[0], url[1]
    options = "stringtype=unspecified" + ("&reWriteBatchedInserts=true" if sink == "tuned" else "")
    connector = {
        "name": name,
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "topics": ",".join(f"{prefix}sink.{t}" for t in COLUMNS),
        "connection.url": f"jdbc:postgresql://{hostpath}?currentSchema={schema}&{options}",
        "connection.username": user,
        "connection.password": "",
        "insert.mode": "upsert",
        "delete.enabled": "false",
        "primary.key.mode": "record_key",
        "primary.key.fields": "location_id,id",
        "schema.evolution": "none",
        # Qualified: unqualified, the sink looks the table up in every schema of the database
        # (not the connection's currentSchema) and writes to the first `contacts` it finds.
        "collection.name.format": f"{schema}.${{topic}}",
        "transforms": "table",
        "transforms.table.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.table.regex": ".*\\.sink\\.(.*)",
        "transforms.table.replacement": "$1",
        **SINKS[sink],
    }
    (work / "sink.json").write_text(json.dumps(connector))
    log4j = work / "log4j2.properties"
    log4j.write_text(
        f"rootLogger.level={os.environ.get('VS_CONNECT_LOG_LEVEL', 'WARN')}\n"
        "rootLogger.appenderRef.out.ref=out\n"
        "appender.out.type=Console\nappender.out.name=out\n"
        "appender.out.layout.type=PatternLayout\nappender.out.layout.pattern=%d %p %c %m%n\n"
    )
    heap = ["-Xmx512m"] if sink == "tuned" else []
    command = [
        "java", *heap, f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{runtime}/*",
        "org.apache.kafka.connect.cli.ConnectStandalone",
        str(work / "worker.properties"), str(work / "sink.json"),
    ]  # fmt: skip
    log = (work / "connect.log").open("w")
    process = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        result = await _watch(
            process.pid,
            schema,
            total,
            lambda: _group_committed(admin, f"connect-{name}"),
            process,
            done=lambda: _sink_done(schema, len(last)),
        )
        _check_rows("the sink", await _row_counts(schema), last)
        return result
    except SystemExit:
        print((work / "connect.log").read_text()[-4000:])
        raise
    finally:
        await admin.close()
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=60)
        log.close()
        await drop_schema(DATABASE_URL, schema)


def _line(side: str, r: dict[str, float]) -> str:
    return (
        f"{side:24} {r['events_per_s']:>9,.0f} events/s  CPU {r['cpu_per_100k']:5.2f} s/100k  "
        f"PostgreSQL {r['pg_cpu_per_100k']:5.2f} s/100k  peak RSS {r['peak_rss_mib']:4.0f} MiB  "
        f"(window {r['window_events']:,.0f} events; loadavg {_loadavg()})"
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--sink", choices=[*sorted(SINKS), "none"], default="tuned", help="none: ghl-sync only"
    )
    parser.add_argument(
        "--batch-sizes",
        default="5000",
        help="ghl-sync's GHL_SYNC_STREAMS_BATCH_SIZE, comma-separated: each run tries each",
    )
    parser.add_argument(
        "--private-broker",
        action="store_true",
        help="a broker of its own on free ports (the shared one holds thousands of topics)",
    )
    args = parser.parse_args()
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    if not args.private_broker:
        await _compare(args, sizes)
        return
    global BOOTSTRAP
    with tempfile.TemporaryDirectory(prefix="vs-connect-broker-") as folder:
        broker = PrivateBroker(Path(folder))
        await broker.start()
        BOOTSTRAP = broker.bootstrap
        print(f"private broker at {BOOTSTRAP}")
        try:
            await _compare(args, sizes)
        finally:
            await broker.stop()


async def _compare(args: argparse.Namespace, sizes: list[int]) -> None:

    runtime, plugins = fetch_jars()
    prefix = f"vs-{uuid.uuid4().hex[:8]}."
    started = time.perf_counter()
    settings, last = await load(prefix, args.events, sink=args.sink != "none")
    print(
        f"produced {args.events:,} events (and sink rows) in {time.perf_counter() - started:.0f}s"
    )
    ours: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
    theirs: list[dict[str, float]] = []
    for run in range(args.runs):
        for size in sizes:
            sized = settings.model_copy(update={"batch_size": size})
            await _settle()
            ours[size].append(await run_ghl_sync(sized, args.events, f"{run}_{size}", last))
            print(_line(f"run {run + 1} ghl-sync b{size}", ours[size][-1]), flush=True)
        if args.sink == "none":
            continue
        await _settle()
        theirs.append(
            await run_sink(prefix, args.events, f"{run}", args.sink, runtime, plugins, last)
        )
        print(_line(f"run {run + 1} sink ({args.sink})", theirs[-1]), flush=True)
        for size in sizes:
            rate = ours[size][-1]["events_per_s"] / theirs[-1]["events_per_s"]
            print(f"  ratio this pair (b{size}): {rate:.2f}x")
    for key in ("events_per_s", "cpu_per_100k", "pg_cpu_per_100k", "peak_rss_mib"):
        for size in sizes:
            a = _median([r[key] for r in ours[size]])
            if not theirs:
                print(f"median {key}: ghl-sync b{size} {a:,.2f}")
                continue
            b = _median([r[key] for r in theirs])
            ratio = f"{a / b:.2f}" if b else "n/a"
            print(f"median {key}: ghl-sync b{size} {a:,.2f}  sink {b:,.2f}  ratio {ratio}")


if __name__ == "__main__":
    asyncio.run(main())
