"""The images `make images` builds: their config, and every service started from them.

Built (or taken from the content-keyed cache) by tests/images/build.py with buildah; run
without a container engine by tests/images/rootfs.py: read-only root, tmpfs /tmp, the image's
user, no shell. Needs root on Linux (debootstrap, buildah, mount namespaces, chroot).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gochat.contract import services as contract
from gochat.embedded import process
from tests.fixtures.servers import NatsServer
from tests.images import build, rootfs
from tests.k8s import connection
from tests.operator import k8s_support

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="images are built on Linux"),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.geteuid() != 0,
        reason="building images needs root (debootstrap, buildah --isolation chroot, mounts)",
    ),
    pytest.mark.timeout(1800),  # a cold build: debootstrap (1-5 min) + two builds (~2 min each)
]

UID = "10001"
OPERATOR_PORTS = {8080, 9090}  # kopf liveness, Prometheus (gochat_operator.cli defaults)


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[images] {line}")


@pytest.fixture(scope="module")
def archives() -> dict[str, rootfs.Archive]:
    started = time.monotonic()
    paths = build.ensure_images()
    elapsed = time.monotonic() - started
    sys.stderr.write(f"\n[images] images ready in {elapsed:.0f}s\n")
    return {name: rootfs.read(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def services(archives: dict[str, rootfs.Archive]) -> rootfs.Archive:
    return archives[build.SERVICES.name]


@pytest.fixture(scope="module")
def operator(archives: dict[str, rootfs.Archive]) -> rootfs.Archive:
    return archives[build.OPERATOR.name]


def _root(image: rootfs.Archive) -> Path:
    return rootfs.unpack(image, image.path.parent / f"unpacked-{image.path.stem}")


def _size_mib(image: rootfs.Archive) -> int:
    return round(image.path.stat().st_size / 2**20)


def _assert_runs_without_a_shell(image: rootfs.Archive, root: Path) -> None:
    """Exec form, and the entry point's interpreter is Python, not /bin/sh."""
    entry = image.config["Entrypoint"]
    assert entry[0].startswith("/") and not entry[0].endswith("sh"), entry
    shebang = (root / entry[0].lstrip("/")).read_bytes().split(b"\n", 1)[0].decode()
    interpreter = shebang.removeprefix("#!").split()[0]
    assert interpreter == "/opt/gochat/bin/python", shebang
    health = image.config["Healthcheck"]["Test"]
    assert health[0] == "CMD", f"HEALTHCHECK goes through a shell: {health}"


def test_services_image_is_non_root_exec_form_and_exposes_every_service_port(
    services: rootfs.Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    version = build.project_version()
    assert services.repo_tags == [f"docker.io/gochat/gochat:{version}"]
    assert services.config["User"].split(":")[0] == UID
    assert services.config["Entrypoint"] == ["/opt/gochat/bin/gochat"]
    assert services.config["Cmd"] == ["api"]
    exposed = set(services.config["ExposedPorts"])
    assert exposed == {f"{port}/tcp" for port in contract.PORTS.values()}
    assert services.env["PYTHONDONTWRITEBYTECODE"] == "1"
    root = _root(services)
    _assert_runs_without_a_shell(services, root)
    # Bytecode compiled at build time: a read-only root could not cache it at run time.
    assert list((root / "opt/gochat/lib").glob("python3.*/site-packages/gochat/__pycache__/*.pyc"))
    _report(capsys, f"{services.repo_tags[0]}: {_size_mib(services)} MiB ({services.path})")


def test_operator_image_is_non_root_exec_form_and_runs_kopf(
    operator: rootfs.Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    version = build.project_version()
    assert operator.repo_tags == [f"docker.io/gochat/gochat-operator:{version}"]
    assert operator.config["User"].split(":")[0] == UID
    assert operator.config["Entrypoint"] == ["/opt/gochat/bin/gochat-operator"]
    assert operator.config["Cmd"] == ["run", "--all-namespaces"]
    assert set(operator.config["ExposedPorts"]) == {f"{port}/tcp" for port in OPERATOR_PORTS}
    root = _root(operator)
    _assert_runs_without_a_shell(operator, root)
    # The operator's own CLI and its kopf handlers import on the read-only root (no service
    # code or FastAPI in this image: the operator imports gochat.contract only).
    crd = _run(operator, root, rootfs.entrypoint(operator, "crd"))
    assert "kind: CustomResourceDefinition" in crd
    _run(operator, root, ["/opt/gochat/bin/python", "-c", "import kopf, gochat_operator.handlers"])
    _report(capsys, f"{operator.repo_tags[0]}: {_size_mib(operator)} MiB ({operator.path})")


def test_image_root_filesystem_is_read_only_and_has_no_shell(services: rootfs.Archive) -> None:
    """The harness's view is what the services run on: writes outside /tmp fail, sh is gone."""
    root = _root(services)
    probe = (
        "import pathlib, subprocess\n"
        "pathlib.Path('/tmp/ok').write_text('x')\n"
        "try:\n    pathlib.Path('/opt/gochat/probe').write_text('x')\n"
        "except OSError as exc:\n    print('ro', exc.errno)\n"
        "try:\n    subprocess.run(['/bin/sh', '-c', 'true'], check=True)\n"
        "except (OSError, subprocess.CalledProcessError):\n    print('no shell')\n"
    )
    out = _run(services, root, ["/opt/gochat/bin/python", "-c", probe])
    assert "ro 30" in out  # EROFS
    assert "no shell" in out


def _run(
    image: rootfs.Archive, root: Path, argv: list[str], env: dict[str, str] | None = None
) -> str:
    result = subprocess.run(
        rootfs.command(image, root, argv),
        env={**image.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture
def migrated_database(services: rootfs.Archive, pg_database: str) -> str:
    """A database migrated by the image's own `gochat migrate` (the chart's hook Job)."""
    argv = rootfs.entrypoint(services, "migrate")
    _run(services, _root(services), argv, env={"GOCHAT_PG_DSN": pg_database})
    return pg_database


@pytest.fixture
def started(
    services: rootfs.Archive, migrated_database: str, nats_server: NatsServer, tmp_path: Path
) -> Iterator[dict[str, int]]:
    """Every service started from the image at once; yields its port per service."""
    root = _root(services)
    ports = {service: process.free_port() for service in contract.COMPONENTS}
    running = []
    for service, port in ports.items():
        env = {
            **services.env,
            "GOCHAT_HOST": "127.0.0.1",
            "GOCHAT_PORT": str(port),
            "GOCHAT_PG_DSN": migrated_database,
            "GOCHAT_NATS_URL": nats_server.url,
            "GOCHAT_JWKS_URL": f"http://127.0.0.1:{ports['auth']}/.well-known/jwks.json",
        }
        log = (tmp_path / f"{service}.log").open("w")
        running.append(
            (
                service,
                log,
                subprocess.Popen(
                    rootfs.command(services, root, rootfs.entrypoint(services, service)),
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
    try:
        yield ports
    finally:
        for _, log, proc in running:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def _wait_healthy(port: int, *, log: Path, deadline: float) -> None:
    url = f"http://127.0.0.1:{port}{contract.LIVENESS_PATH}"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer; log:\n{log.read_text()[-4000:]}")
        time.sleep(0.3)


def test_every_service_answers_healthz_from_the_image_on_a_read_only_root(
    started: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    deadline = began + 90
    for service, port in started.items():
        _wait_healthy(port, log=tmp_path / f"{service}.log", deadline=deadline)
    _report(capsys, f"{', '.join(started)} answered /healthz in {time.monotonic() - began:.1f}s")


def test_image_healthcheck_passes_on_a_serving_port_and_fails_on_a_dead_one(
    services: rootfs.Archive, started: dict[str, int], tmp_path: Path
) -> None:
    """The HEALTHCHECK command itself, run from the image (`docker run` would run it)."""
    root = _root(services)
    check = services.config["Healthcheck"]["Test"][1:]
    _wait_healthy(started["auth"], log=tmp_path / "auth.log", deadline=time.monotonic() + 90)
    _run(services, root, check, env={"GOCHAT_PORT": str(started["auth"])})
    dead = subprocess.run(
        rootfs.command(services, root, check),
        env={**services.env, "GOCHAT_PORT": str(process.free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dead.returncode == 1, dead.stderr
    assert "healthcheck:" in dead.stderr


def _portable_kubeconfig(cluster: connection.KubernetesCluster, target: Path) -> Path:
    """The cluster's kubeconfig with its certificate files inlined (the image sees no host path)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    inline = {
        "certificate-authority": "certificate-authority-data",
        "client-certificate": "client-certificate-data",
        "client-key": "client-key-data",
    }
    for entry in [*config["clusters"], *config["users"]]:
        body = entry.get("cluster") or entry.get("user")
        for key, data_key in inline.items():
            if key in body:
                body[data_key] = base64.b64encode(Path(body.pop(key)).read_bytes()).decode()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config))
    return target


def test_operator_from_the_image_answers_healthz_and_metrics_against_the_control_plane(
    operator: rootfs.Archive,
    k8s_control_plane: connection.KubernetesCluster,
    k8s_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    k8s_support.install_crd(k8s_control_plane)
    seed = tmp_path / "seed"
    _portable_kubeconfig(k8s_control_plane, seed / "kube" / "config")
    health, metrics = process.free_port(), process.free_port()
    argv = rootfs.entrypoint(
        operator,
        *("run", "-n", k8s_namespace, "--metrics-port", str(metrics)),
        *("--liveness", f"http://127.0.0.1:{health}/healthz"),
    )
    log = tmp_path / "operator.log"
    began = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            rootfs.command(operator, _root(operator), argv, seed=seed),
            env={**operator.env, "KUBECONFIG": "/tmp/kube/config"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(health, log=log, deadline=began + 60)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as page:
            assert b"# TYPE" in page.read()
        assert proc.poll() is None, log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _report(capsys, f"operator answered /healthz in {time.monotonic() - began:.1f}s")
