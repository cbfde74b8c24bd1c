"""A real single-node Apache Cassandra 5.0 on 127.0.0.1, for tests and `make dev` variants.

The jars come from Maven Central (`mvn dependency:copy-dependencies` on `cassandra-all`) into
`~/.cache/gochat/cassandra-<version>/lib` once; every start after that uses the cache. The node
gets its own data directory and ports and the fast-start flags (no gossip settling, no ring
delay, no fsync: throw-away data), so a cold start is a few seconds. Its data centre is
`datacenter1` (SimpleSnitch), which is what a client's `local_dc` must name.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from gochat.embedded import maven, process, server

VERSION = "5.0.9"
LOCAL_DC = "datacenter1"  # SimpleSnitch's data centre
CACHE_ENV = "GOCHAT_CASSANDRA_HOME"  # overrides ~/.cache/gochat/cassandra-<version>

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gochat</groupId><artifactId>cassandra-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies><dependency>
    <groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId>
    <version>{version}</version>
  </dependency></dependencies>
</project>
"""
# Cassandra's own conf/jvm17-server.options: the JDK internals it reaches into.
_JDK17_ACCESS = [
    *("--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED"),
    *("--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED"),
    *("--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED"),
    *("--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED"),
    *("--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED"),
    *("--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED"),
    *("--add-exports", "java.sql/java.sql=ALL-UNNAMED"),
    *("--add-exports", "java.base/java.lang.ref=ALL-UNNAMED"),
    *("--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.lang.module=ALL-UNNAMED"),
    *("--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED"),
    *("--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED"),
    *("--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED"),
    *("--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED"),
    *("--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED"),
    *("--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED"),
    *("--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED"),
    *("--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.io=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.nio=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.util.concurrent=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.util=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.util.concurrent.atomic=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.lang=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.math=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED"),
    *("--add-opens", "java.base/java.net=ALL-UNNAMED"),
]
# ENVIRONMENT.md "Fast start": 3-4 s to the CQL port on an idle machine.
_FAST_START = [
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=0",
    "-Dcassandra.load_ring_state=false",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.memtable.row_overhead_size=180",
    "-Dcassandra.unsafesystem=true",
    "-Dcassandra.skip_sync=true",
    "-XX:TieredStopAtLevel=1",
    "-Xms256M",
    "-Xmx1G",
]
_LOGBACK = """<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder><pattern>%d %-5level [%thread] %logger{{20}} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""


def cache_dir(version: str = VERSION) -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path.home() / ".cache/gochat" / f"cassandra-{version}"


def ensure_jars(version: str = VERSION) -> Path:
    """The folder of Cassandra's runtime jars, downloaded with Maven on first use (~30 s)."""
    lib = cache_dir(version) / "lib"
    if (lib / f"cassandra-all-{version}.jar").exists():
        return lib
    maven.fetch_runtime_jars(lib, pom=_POM.format(version=version), what=f"Cassandra {version}")
    return lib


class EmbeddedCassandra(server.EmbeddedServer):
    """One Cassandra node; every directory under `data_dir`, its log in `data_dir/cassandra.log`."""

    display_name = "Cassandra"
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        storage_port: int | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 120.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.log_path = self.data_dir / "cassandra.log"
        self.host, self.port = host, port
        self.storage_port = storage_port if storage_port is not None else process.free_port(host)
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.local_dc = LOCAL_DC

    @property
    def contact_point(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Start, or restart after `stop()` on the same ports and data; no-op when running.
        Waits until the CQL port answers (Cassandra opens it last)."""
        if self.running:
            return
        lib = ensure_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._require_free_ports((self.port, self.storage_port), hint="choose other ports")
        config = self.data_dir / "cassandra.yaml"
        config.write_text(self._yaml())
        logback = self.data_dir / "logback.xml"
        logback.write_text(_LOGBACK.format(log=self.data_dir / "system.log"))
        command = [
            _java(),
            *_JDK17_ACCESS,
            *_FAST_START,
            "-Djdk.attach.allowAttachSelf=true",
            f"-javaagent:{lib / 'jamm-0.4.0.jar'}",
            f"-Dcassandra.config=file://{config}",
            f"-Dlogback.configurationFile=file://{logback}",
            f"-Dcassandra.logdir={self.data_dir}",
            f"-Dcassandra.storagedir={self.data_dir}",
            "-Dcassandra-foreground=yes",
            "-cp", f"{lib}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]  # fmt: skip
        self._launch(
            command, ready=lambda: process.port_in_use(self.host, self.port), cwd=self.data_dir
        )

    def _yaml(self) -> str:
        directory = self.data_dir
        return f"""cluster_name: gochat-embedded
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{self.host}:{self.storage_port}"
listen_address: {self.host}
rpc_address: {self.host}
storage_port: {self.storage_port}
native_transport_port: {self.port}
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
data_file_directories: ["{directory}/data"]
commitlog_directory: {directory}/commitlog
saved_caches_directory: {directory}/saved_caches
hints_directory: {directory}/hints
cdc_raw_directory: {directory}/cdc_raw
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
key_cache_size: 8MiB
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
auto_snapshot: false
snapshot_on_duplicate_row_detection: false
"""


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin/java") if home else shutil.which("java")
    if not java:
        raise process.ServerStartError("java not found (Cassandra 5.0 needs JDK 11 or 17)")
    return java
