"""The backends from deploy/backends/ in a namespace, and small helpers the scenarios share: a
namespace that enforces the restricted Pod Security Standard, and a one-off Python Job on the
GoChat image.

Two profiles: ``core`` (PostgreSQL and NATS, what every install needs) and ``production``
(those plus Cassandra as the message store, OpenSearch for search and MinIO for attachments).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import textwrap
import time
from collections.abc import Iterator
from typing import Literal

from gochat.embedded import cassandra, minio
from tests.e2e.kind import access, backend_images
from tests.fixtures import minio as minio_server

DSN_SECRET = "gochat-postgres"
CREDENTIALS_SECRET = "postgres-credentials"
S3_SECRET = "minio-credentials"  # MinIO's root user and GoChat's s3.credentialsSecret alike
BUCKET = "gochat"
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"
Profile = Literal["core", "production"]


@dataclasses.dataclass(frozen=True)
class DataPlane:
    """Where the production profile's Cassandra, OpenSearch and MinIO are."""

    cassandra_host: str
    local_dc: str
    replication: str  # one node: the keyspace keeps one replica
    opensearch_url: str
    s3_endpoint: str  # in-cluster: GoChat's own S3 calls (clients: s3.publicEndpoint)
    s3_bucket: str
    s3_region: str
    s3_secret: str  # a Secret with `accessKeyId` and `secretAccessKey`

    def chart_values(self) -> list[str]:
        """charts/gochat's `--set` values that put GoChat's data plane on these backends."""
        return [
            "cassandra.enabled=true",
            f"cassandra.hosts={{{self.cassandra_host}}}",
            f"cassandra.localDC={self.local_dc}",
            f"cassandra.replication={self.replication}",
            "opensearch.enabled=true",
            f"opensearch.url={self.opensearch_url}",
            "s3.enabled=true",
            f"s3.endpoint={self.s3_endpoint}",
            f"s3.bucket={self.s3_bucket}",
            f"s3.region={self.s3_region}",
            f"s3.credentialsSecret.name={self.s3_secret}",
        ]


@dataclasses.dataclass(frozen=True)
class Backends:
    namespace: str
    dsn_secret: str  # a Secret in `namespace` whose `dsn` key GoChat connects with
    dsn: str
    nats_url: str
    data_plane: DataPlane | None = None  # the production profile's


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


def deploy(
    kube: access.ClusterAccess,
    namespace: str,
    *,
    profile: Profile = "core",
    timeout: int = 180,
) -> Backends:
    """The profile's backends in `namespace`, all Ready; credentials in Secrets made here.

    ``core``: PostgreSQL and NATS. ``production``: those plus Cassandra, OpenSearch and MinIO,
    with MinIO's bucket created (through a port-forward: MinIO makes none by itself); the
    Cassandra keyspace and the OpenSearch index are left to GoChat's migration, as in
    production. Each rollout gets `timeout` seconds (the production profile's JVMs boot
    side by side on the node: give it more)."""
    images = backend_images.CORE + (backend_images.PRODUCTION if profile == "production" else ())
    kube.load(*backend_images.ensure_images(images).values())
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
    names = [image.folder for image in images]
    s3_key = secrets.token_hex(16)
    if profile == "production":
        kube.kubectl(
            "-n", namespace, "create", "secret", "generic", S3_SECRET,
            "--from-literal=accessKeyId=gochat", f"--from-literal=secretAccessKey={s3_key}",
        )  # fmt: skip
    files = [arg for name in names for arg in ("-f", str(backend_images.DEPLOY / f"{name}.yaml"))]
    kube.kubectl("-n", namespace, "apply", *files)
    for name in names:
        kube.kubectl(
            "-n", namespace, "rollout", "status", f"statefulset/{name}", f"--timeout={timeout}s"
        )
    deployed = Backends(
        namespace=namespace,
        dsn_secret=DSN_SECRET,
        dsn=dsn,
        nats_url=f"nats://nats.{namespace}.svc:4222",
    )
    if profile == "core":
        return deployed
    data_plane = DataPlane(
        cassandra_host=f"cassandra.{namespace}.svc",
        local_dc=cassandra.LOCAL_DC,
        replication=f"{cassandra.LOCAL_DC}:1",
        opensearch_url=f"http://opensearch.{namespace}.svc:9200",
        s3_endpoint=f"http://minio.{namespace}.svc:9000",
        s3_bucket=BUCKET,
        s3_region=minio.REGION,
        s3_secret=S3_SECRET,
    )
    with kube.port_forward(namespace, "svc/minio", 9000) as endpoint:
        root_user = minio_server.MinioServer(
            endpoint=endpoint, access_key="gochat", secret_key=s3_key, region=minio.REGION
        )
        root_user.client().create_bucket(Bucket=BUCKET)
    return dataclasses.replace(deployed, data_plane=data_plane)


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
