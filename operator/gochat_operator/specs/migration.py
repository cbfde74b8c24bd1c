"""The migration Job: `gochat migrate` for one version, named after that version.

The name is deterministic (`<cluster>-migrate-<slug>-<hash>`), so re-applying it after an
operator restart finds the same Job instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import re

from gochat.contract import services as contract
from gochat_operator.specs import auth_backends, backends, deployments, inputs, meta

MAX_SLUG = 16
VERSION_ANNOTATION = f"{meta.ANNOTATION_PREFIX}/version"


def version_slug(version: str) -> str:
    """A DNS-label-safe, collision-resistant form of a version string."""
    slug = re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")[:MAX_SLUG].strip("-")
    digest = hashlib.sha256(version.encode()).hexdigest()[:5]
    return f"{slug}-{digest}" if slug else digest


def job_name(cluster: inputs.ClusterInput, version: str) -> str:
    return meta.child_name(cluster, f"migrate-{version_slug(version)}")


def config_env(cluster: inputs.ClusterInput) -> list[meta.Manifest]:
    """The migration's config keys as `GOCHAT_*` variables (the Job mounts no config file),
    validated with `gochat migrate`'s own model first; lists comma separated."""
    keys: dict[str, object] = {}
    for backend in auth_backends.active_backends(cluster):
        if backends.MIGRATE in backend.components:
            keys.update(backend.config(backends.MIGRATE))
    validated = contract.validate_config(contract.MIGRATE, keys)
    rendered = validated.model_dump(mode="json", include=set(keys))
    return [
        {
            "name": contract.env_name(key),
            "value": ",".join(value) if isinstance(value, list) else str(value),
        }
        for key, value in sorted(rendered.items())
    ]


def render_job(cluster: inputs.ClusterInput, release: inputs.Release) -> meta.Manifest:
    spec = cluster.spec.migrations
    env = config_env(cluster)
    for backend in auth_backends.active_backends(cluster):
        if backends.MIGRATE in backend.components:
            env.extend(backend.env(backends.MIGRATE))
    container = {
        "name": "migrate",
        "image": release.image,
        "imagePullPolicy": cluster.spec.image.pull_policy,
        "args": ["migrate"],
        "env": env,
        # The root filesystem is read-only: /tmp is an emptyDir, as in every GoChat pod.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": deployments.CONTAINER_SECURITY,
    }
    pod_spec: meta.Manifest = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "securityContext": deployments.POD_SECURITY,
        "automountServiceAccountToken": False,
    }
    if cluster.spec.image.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in cluster.spec.image.pull_secrets]
    labels = meta.labels(cluster, "migrate", version=release.version)
    metadata = meta.object_meta(
        cluster,
        name=job_name(cluster, release.version),
        component="migrate",
        version=release.version,
    )
    metadata["annotations"] = {VERSION_ANNOTATION: release.version}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "template": {
                "metadata": {
                    "labels": {**spec.pod_labels, **labels},
                    "annotations": dict(spec.pod_annotations),
                },
                "spec": pod_spec,
            },
        },
    }
