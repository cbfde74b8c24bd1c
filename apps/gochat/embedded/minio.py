"""A real MinIO server (S3-compatible storage) on 127.0.0.1, for tests and `gochat dev`.

MinIO ships no semver release tags, so it is built from a pinned pseudo-version with
`go install` (the machine's Go, GOTOOLCHAIN=local): ~9 minutes on two cores the first time.
The binary is cached under ~/.cache/gochat/minio/<version>/minio and the 2 GB of Go caches the
build needs are removed afterwards; a lock file keeps two processes from building at once.
GOCHAT_MINIO_BINARY names another binary.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from gochat.embedded import process, server

VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MODULE = "github.com/minio/minio"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gochat" / "minio"
BINARY_ENV = "GOCHAT_MINIO_BINARY"
BUILD_TIMEOUT_SECONDS = 1740
REGION = "us-east-1"


def root_client(endpoint: str, *, access_key: str, secret_key: str, region: str = REGION) -> Any:
    """A boto3 S3 client of a MinIO's root user (path-style: MinIO serves no bucket
    subdomains), for what a platform team does by hand: making the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def binary() -> Path:
    """The cached MinIO binary, built first when missing."""
    if configured := os.environ.get(BINARY_ENV):
        return Path(configured)
    target = CACHE / VERSION / "minio"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        if not target.exists():
            _build(target)
    return target


def _build(target: Path) -> None:
    work = target.parent / "build"
    shutil.rmtree(work, ignore_errors=True)
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOPATH": str(work / "gopath"),
        "GOCACHE": str(work / "gocache"),
        "GOBIN": str(work / "bin"),
        "CGO_ENABLED": "0",
    }
    try:
        subprocess.run(
            ["go", "install", f"{MODULE}@{VERSION}"],
            env=env,
            check=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            capture_output=True,
        )
        built = work / "bin" / "minio"
        os.replace(built, target)  # same file system: the binary appears whole or not at all
    except subprocess.CalledProcessError as exc:
        raise process.ServerStartError(
            f"building MinIO failed:\n{exc.stderr.decode()[-3000:]}"
        ) from None
    finally:
        # Module cache files are read-only: make them writable so they can be removed.
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


class EmbeddedMinio(server.EmbeddedServer):
    """One MinIO server; objects under `data_dir/data`, its log in `data_dir/minio.log`."""

    display_name = "MinIO"
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        access_key: str,
        secret_key: str,
        console_port: int | None = None,
        executable: Path | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.log_path = self.data_dir / "minio.log"
        self.host, self.port = host, port
        self.console_port = console_port if console_port is not None else process.free_port(host)
        self.access_key, self.secret_key, self.region = access_key, secret_key, REGION
        self.executable = executable  # default: binary()
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start, or restart after `stop()` on the same ports and data; no-op when running.
        Builds the binary first when it is not cached (minutes). Waits until MinIO is live."""
        if self.running:
            return
        executable = self.executable or binary()
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        self._require_free_ports((self.port, self.console_port), hint="choose other ports")
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
            "MINIO_BROWSER": "off",
        }
        command = [
            str(executable), "server", str(self.data_dir / "data"),
            "--address", f"{self.host}:{self.port}",
            "--console-address", f"{self.host}:{self.console_port}",
        ]  # fmt: skip
        self._launch(command, ready=self._live, env=env)

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/minio/health/live", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False
