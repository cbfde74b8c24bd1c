"""The JWT signing-key Secret, built around key material the caller generated."""

from __future__ import annotations

from gochat_operator.specs import inputs, meta

GENERATED_ANNOTATION = f"{meta.ANNOTATION_PREFIX}/generated-by"


def render_jwt_secret(cluster: inputs.ClusterInput, *, kid: str, pem: str) -> meta.Manifest:
    """A Secret holding one Ed25519 PKCS8 PEM private key under `<kid>.pem`.

    Created once and never re-applied: rotating keys is the platform team's decision.
    """
    metadata = meta.object_meta(cluster, name=cluster.jwt_secret_name, component="auth")
    metadata["annotations"] = {GENERATED_ANNOTATION: meta.MANAGER}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": {f"{kid}.pem": pem},
    }
