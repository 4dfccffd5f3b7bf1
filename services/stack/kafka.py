"""A single-node Apache Kafka broker (KRaft, combined broker and controller) run from jars.

The jars come from Maven Central through Maven and are cached per version under the state
folder; the broker's data survives `down` and `up`, because the event log is kept forever.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass
from importlib import resources

from aiokafka.admin import AIOKafkaAdminClient

from services.stack import _process
from services.stack.exceptions import MissingDependency, PortBusy, StartFailed
from services.stack.settings import StackSettings

__all__ = ["KafkaServer", "KafkaStatus"]

_READY_LINES = ("Transitioning from RECOVERY to RUNNING", "Kafka Server started")
_JVM_OPTS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
# Console logging at WARN keeps the log readable; the two lifecycle loggers stay at INFO
# because their lines are how readiness is detected.
_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.lifecycle.name = kafka.server.BrokerLifecycleManager
logger.lifecycle.level = INFO
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
logger.kafka.name = kafka.Kafka
logger.kafka.level = INFO
"""


@dataclass(frozen=True)
class KafkaStatus:
    """What `status` shows of the broker."""

    version: str
    bootstrap: str
    pid: int | None
    running: bool
    healthy: bool
    rss_bytes: int | None
    heap: str
    detail: str


class KafkaServer(_process.Server[KafkaStatus]):
    """Fetches, configures, starts, checks and stops the stack's Kafka broker."""

    name = "Kafka"

    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self.home = settings.root / "kafka"
        self.libs = self.home / f"libs-{settings.kafka_version}"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.pid_file = self.home / "broker.pid"
        self.log_file = self.logs / "broker.out"
        self.properties = self.home / "server.properties"

    # -- jars --------------------------------------------------------------------------

    def fetch_jars(self) -> bool:
        """Resolve the broker's jars with Maven unless cached; True when it downloaded."""
        marker = self.libs / ".complete"
        if marker.exists():
            return False
        version = self._s.kafka_version
        if version == "4.0.0" or not version.startswith(("4.", "3.9.")):
            raise MissingDependency(
                f"Kafka {version} is not supported: use 4.0.1 or later (4.0.0 lacks JoinGroup "
                "v0/v1), or 3.9.x"
            )
        self.libs.mkdir(parents=True, exist_ok=True)
        with resources.as_file(resources.files("services.stack") / "pom.xml") as pom:
            command = [
                self._s.maven,
                "-B",
                "-q",
                "-f",
                str(pom),
                f"-Dkafka.version={version}",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={self.libs}",
            ]
            try:
                done = subprocess.run(command, capture_output=True, text=True, check=False)
            except FileNotFoundError as exc:
                raise MissingDependency(
                    f"Maven ({self._s.maven}) is needed to fetch the Kafka jars"
                ) from exc
        if done.returncode != 0:
            raise MissingDependency(
                f"Maven could not resolve Kafka {version} (is Maven Central reachable?):\n"
                + (done.stdout + done.stderr)[-3000:]
            )
        marker.touch()
        return True

    # -- lifecycle ---------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The pid of the broker this stack started, if it still runs."""
        pid = _process.read_pid(self.pid_file)
        if pid is None or not _process.alive(pid):
            return None
        # A recycled pid must not be mistaken for our broker.
        if "kafka.Kafka" not in _process.cmdline(pid) or str(self.properties) not in (
            _process.cmdline(pid)
        ):
            return None
        return pid

    def start(self) -> bool:
        """Start the broker and wait until it serves; False when it already ran."""
        if self.running_pid() is not None:
            self._wait_ready(time.monotonic() + self._s.kafka_start_timeout)
            return False
        for variable, port, suggestion in (
            ("GHL_SYNC_STACK_KAFKA_PORT", self._s.kafka_port, 9092),
            ("GHL_SYNC_STACK_KAFKA_CONTROLLER_PORT", self._s.kafka_controller_port, 9093),
        ):
            _process.refuse_ephemeral("Kafka", variable, port, suggestion)
        for port in (self._s.kafka_port, self._s.kafka_controller_port):
            if _process.port_open(self._s.host, port):
                raise PortBusy(
                    f"port {self._s.host}:{port} is in use by a process this stack did not "
                    "start; stop it or set GHL_SYNC_STACK_KAFKA_PORT / _KAFKA_CONTROLLER_PORT"
                )
        self.fetch_jars()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not (self.data / "meta.properties").exists():
            self._format()
        log = self.log_file.open("wb")
        # A session of its own: the broker outlives the CLI and ignores its terminal's signals.
        proc = subprocess.Popen(
            [
                self._s.java,
                *self._s.kafka_heap.split(),
                *_JVM_OPTS,
                f"-Dkafka.logs.dir={self.logs}",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                "-cp",
                f"{self.libs}/*",
                "kafka.Kafka",
                str(self.properties),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.pid_file.write_text(f"{proc.pid}\n")
        self._wait_ready(time.monotonic() + self._s.kafka_start_timeout, proc=proc)
        return True

    def stop(self) -> bool:
        """Stop the broker this stack started; False when none ran."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _process.stop_pid(pid, timeout=60.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _ask(self) -> str:
        # Cluster metadata: what every client asks first.
        return asyncio.run(_describe(self._s.kafka_bootstrap))

    def _status(self, pid: int | None, healthy: bool, detail: str) -> KafkaStatus:
        return KafkaStatus(
            version=self._s.kafka_version,
            bootstrap=self._s.kafka_bootstrap,
            pid=pid,
            running=pid is not None,
            healthy=healthy,
            rss_bytes=_process.rss_bytes(pid) if pid else None,
            heap=self._s.kafka_heap,
            detail=detail,
        )

    # -- internals ---------------------------------------------------------------------

    def _write_config(self) -> None:
        s = self._s
        self.properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{s.host}:{s.kafka_controller_port}",
                    "controller.listener.names=CONTROLLER",
                    f"listeners=PLAINTEXT://{s.host}:{s.kafka_port},"
                    f"CONTROLLER://{s.host}:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://{s.host}:{s.kafka_port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data}",
                    "num.partitions=1",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    "num.recovery.threads.per.data.dir=1",
                    # The cleaner's dedupe buffer is 128 MiB of heap by default; 8 MiB fits
                    # the small heap of a single-node stack.
                    "log.cleaner.dedupe.buffer.size=8388608",
                    "log.cleaner.threads=1",
                    # Topics are created explicitly by ghl-sync; faust creates its own.
                    "auto.create.topics.enable=true",
                    "",
                ]
            )
        )
        (self.home / "log4j2.properties").write_text(_LOG4J2)

    def _format(self) -> None:
        done = subprocess.run(
            [
                self._s.java,
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                "-cp",
                f"{self.libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self._s.kafka_cluster_id,
                "-c",
                str(self.properties),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StartFailed("Kafka", "formatting KRaft storage failed", done.stdout + done.stderr)

    def _wait_ready(self, deadline: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        def log_ready() -> bool:
            text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            return any(line in text for line in _READY_LINES)

        while True:
            if proc is not None and proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StartFailed(
                    "Kafka",
                    f"the broker exited with status {proc.returncode}",
                    _process.tail(self.log_file),
                )
            if (proc is None or log_ready()) and self.probe()[0]:
                return
            self._fail_after(deadline, self._s.kafka_start_timeout)
            time.sleep(0.5)


async def _describe(bootstrap: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return f"cluster {cluster['cluster_id']}, {len(cluster['brokers'])} broker(s)"
