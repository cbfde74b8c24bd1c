"""PostgreSQL and NATS from deploy/backends/ in a namespace, and small helpers the scenarios
share: a namespace that enforces the restricted Pod Security Standard, and a one-off Python
Job on the GoChat image."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import textwrap
import time
from collections.abc import Iterator

from tests.e2e.kind import access, backend_images

DSN_SECRET = "gochat-postgres"
CREDENTIALS_SECRET = "postgres-credentials"
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


@dataclasses.dataclass(frozen=True)
class Backends:
    namespace: str
    dsn_secret: str  # a Secret in `namespace` whose `dsn` key GoChat connects with
    dsn: str
    nats_url: str


@contextlib.contextmanager
def namespace(kube: access.ClusterAccess, name: str) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard, deleted afterwards."""
    kube.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true")
    kube.kubectl("create", "namespace", name)
    kube.kubectl("label", "namespace", name, RESTRICTED)
    try:
        yield name
    finally:
        kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def deploy(kube: access.ClusterAccess, namespace: str, *, timeout: int = 180) -> Backends:
    """PostgreSQL and NATS in `namespace`, both Ready; credentials in Secrets made here."""
    kube.load(*backend_images.ensure_images().values())
    password = secrets.token_hex(16)
    kube.kubectl(
        "-n", namespace, "create", "secret", "generic", CREDENTIALS_SECRET,
        "--from-literal=username=gochat", f"--from-literal=password={password}",
        "--from-literal=database=gochat",
    )  # fmt: skip
    dsn = f"postgresql://gochat:{password}@postgres.{namespace}.svc:5432/gochat"
    kube.kubectl(
        "-n", namespace, "create", "secret", "generic", DSN_SECRET, f"--from-literal=dsn={dsn}"
    )
    manifests = backend_images.DEPLOY
    kube.kubectl(
        "-n", namespace, "apply", "-f", str(manifests / "postgres.yaml"),
        "-f", str(manifests / "nats.yaml"),
    )  # fmt: skip
    for workload in ("statefulset/postgres", "statefulset/nats"):
        kube.kubectl("-n", namespace, "rollout", "status", workload, f"--timeout={timeout}s")
    return Backends(
        namespace=namespace,
        dsn_secret=DSN_SECRET,
        dsn=dsn,
        nats_url=f"nats://nats.{namespace}.svc:4222",
    )


def run_python_job(
    kube: access.ClusterAccess,
    *,
    namespace: str,
    name: str,
    image: str,
    script: str,
    env: dict[str, str] | None = None,
    secret_env: dict[str, tuple[str, str]] | None = None,
    timeout: int = 120,
) -> str:
    """Run `script` with the image's `python` as a Job (restricted pod), return its output.

    Raises ClusterCommandError with the pod's log when the Job does not complete."""
    start_python_job(
        kube, namespace=namespace, name=name, image=image, script=script, env=env,
        secret_env=secret_env,
    )  # fmt: skip
    return finish_job(kube, namespace=namespace, name=name, timeout=timeout)


def start_python_job(
    kube: access.ClusterAccess,
    *,
    namespace: str,
    name: str,
    image: str,
    script: str,
    env: dict[str, str] | None = None,
    secret_env: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Create the Job running `script` with the image's `python` (a restricted pod)."""
    variables: list[dict[str, object]] = [{"name": k, "value": v} for k, v in (env or {}).items()]
    variables += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for k, (secret, key) in (secret_env or {}).items()
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "client",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-c", textwrap.dedent(script)],
                            "env": variables,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                }
            },
        },
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(job))


def job_logs(kube: access.ClusterAccess, *, namespace: str, name: str) -> str:
    return kube.kubectl("-n", namespace, "logs", "-l", f"job-name={name}", "--tail=-1", check=False)


def finish_job(kube: access.ClusterAccess, *, namespace: str, name: str, timeout: int) -> str:
    """The Job's output once it completed; ClusterCommandError with its log otherwise."""
    selector = f"job-name={name}"
    deadline = time.monotonic() + timeout
    status: dict[str, int] = {}
    while time.monotonic() < deadline:
        status = kube.get_json("-n", namespace, f"job/{name}").get("status", {})
        if status.get("succeeded") or status.get("failed"):
            break
        time.sleep(2)
    logs = job_logs(kube, namespace=namespace, name=name)
    if not status.get("succeeded"):
        pods = kube.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "wide")
        raise access.ClusterCommandError(f"job {name} did not complete:\n{pods}\n{logs}")
    return logs
