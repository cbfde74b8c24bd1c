"""How the e2e scenarios reach a cluster: kubectl and helm, image loading, port-forwards.

Two kinds of cluster look the same to a scenario:

- the harness's own kind cluster, whose API server listens inside the private dockerd's network
  namespace: kubectl and helm run under ``nsenter --net``, and a port-forward (also in there) is
  relayed to a host loopback port by a thread that opened its sockets inside the namespace;
- a cluster the user points at (``GOCHAT_E2E_KUBECONFIG``): plain kubectl and helm.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from tests.images import docker_build

CLONE_NEWNET = 0x40000000
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


class ClusterCommandError(RuntimeError):
    """kubectl or helm failed; the message holds the command and its stderr."""


@dataclasses.dataclass
class ClusterAccess:
    kubeconfig: Path
    kubectl_path: Path
    helm_path: Path
    # Wraps a command so it runs where the API server is reachable (nsenter --net, or as is).
    wrap: Callable[[list[str]], list[str]] = lambda command: command
    netns_path: Path | None = None
    # Loads a `docker save` tarball into the cluster's nodes; None: the user's cluster already
    # has the images (or pulls them).
    load_archive: Callable[[Path], None] | None = None
    loaded: set[Path] = dataclasses.field(default_factory=set)
    # ``docker build`` on the Docker the cluster runs on; None: not known (a user's cluster).
    docker_builder: docker_build.DockerBuild | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def run(
        self,
        command: list[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: int = 600,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.wrap(command),
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            shown = " ".join(command[1:6])
            raise ClusterCommandError(f"{Path(command[0]).name} {shown} failed:\n{proc.stderr}")
        return proc

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return self.run([str(self.kubectl_path), *args], stdin=stdin, check=check).stdout

    def helm(self, *args: str, check: bool = True, timeout: int = 600) -> str:
        return self.run([str(self.helm_path), *args], check=check, timeout=timeout).stdout

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def load(self, *archives: Path) -> None:
        """Load image tarballs into the nodes, each once per session."""
        for archive in archives:
            if archive in self.loaded or self.load_archive is None:
                continue
            self.load_archive(archive)
            self.loaded.add(archive)

    @contextlib.contextmanager
    def port_forward(self, namespace: str, target: str, port: int) -> Iterator[str]:
        """``http://127.0.0.1:<port>`` on this host, forwarded to ``target`` (``svc/name``)."""
        command = [str(self.kubectl_path), "-n", namespace, "port-forward", target, f":{port}"]
        proc = subprocess.Popen(
            self.wrap(command),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        match = None
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = _FORWARDING.search(line)
            if not match:
                proc.kill()
                _, err = proc.communicate()
                raise ClusterCommandError(f"port-forward {target} failed: {line}{err}")
            local = int(match[1])
            errors = _drain(proc)
            if self.netns_path is None:
                yield f"http://127.0.0.1:{local}"
                return
            with NetnsRelay(self.netns_path, local) as relay:
                yield f"http://127.0.0.1:{relay.port}"
        finally:
            if proc.poll() is not None and match:
                # kubectl drops every forwarded connection at once when one of them errs
                # (docs/testing-kubernetes.md): say so, with its words, next to the test's failure.
                print(f"port-forward {target} ended early (exit {proc.returncode}):", *errors)
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _drain(proc: subprocess.Popen[str]) -> collections.deque[str]:
    """Read a port-forward's output for as long as it runs: kubectl writes a line per forwarded
    connection, and an unread pipe fills (64 KiB, some 2,400 connections) and stalls it. The
    last lines of stderr are kept to say why it ended."""
    errors: collections.deque[str] = collections.deque(maxlen=20)
    for stream, keep in ((proc.stdout, None), (proc.stderr, errors)):
        threading.Thread(target=_read_lines, args=(stream, keep), daemon=True).start()
    return errors


def _read_lines(stream: IO[str] | None, keep: collections.deque[str] | None) -> None:
    for line in stream or ():
        if keep is not None:
            keep.append(line)


class NetnsRelay:
    """A host loopback port relayed to ``127.0.0.1:<target_port>`` inside a network namespace.

    Linux keeps the network namespace per thread: one dialer thread enters the namespace
    (setns) and opens every outgoing socket there; the sockets keep that namespace whichever
    thread then reads and writes them."""

    def __init__(self, netns_path: Path, target_port: int) -> None:
        self.netns_path, self.target_port = netns_path, target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._dialer = ThreadPoolExecutor(1, initializer=_enter_netns, initargs=(netns_path,))
        self._closed = threading.Event()
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> NetnsRelay:
        self._accepter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._dialer.shutdown(wait=False)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                remote = self._dialer.submit(
                    socket.create_connection, ("127.0.0.1", self.target_port), 10
                ).result()
            except OSError:
                client.close()
                continue
            for source, sink in ((client, remote), (remote, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _enter_netns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path) as netns:
        if libc.setns(netns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)
