"""What the builders take: the cluster's identity and spec plus a few observed facts.

Everything a builder needs from the outside world is in `ClusterInput`, read by the handler
beforehand, so the builders stay pure (same input, same manifests) and golden-testable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gochat_operator.specs.model import cluster


@dataclasses.dataclass(frozen=True)
class Release:
    """A version and the image reference it runs from."""

    version: str
    image: str


@dataclasses.dataclass(frozen=True)
class ClusterInput:
    """One GoChatCluster as the builders see it."""

    name: str
    namespace: str
    uid: str
    spec: cluster.GoChatClusterSpec
    # The release the Deployments run: the desired one once its migration succeeded,
    # the previous one until then, None before the first migration ever succeeded.
    serving: Release | None
    # Digest of each referenced Secret's data, by Secret name: part of the pod hash.
    secret_digests: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Whether the monitoring.coreos.com CRDs (ServiceMonitor, PrometheusRule) exist.
    has_prometheus_operator: bool = False

    @property
    def desired(self) -> Release:
        """The release the spec asks for."""
        return Release(
            version=self.spec.version, image=self.spec.image.reference(self.spec.version)
        )

    @property
    def jwt_secret_name(self) -> str:
        ref = self.spec.auth.jwt_secret
        return ref.name if ref else f"{self.name}-jwt"
