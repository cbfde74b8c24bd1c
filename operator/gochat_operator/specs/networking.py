"""NetworkPolicies and the Ingress."""

from __future__ import annotations

from gochat.contract import services as contract
from gochat_operator.specs import inputs, meta

# Paths the Ingress routes, first match wins in most controllers: longest prefixes first.
INGRESS_ROUTES = (
    (contract.WS_PATH, "ws"),
    ("/auth", "auth"),
    ("/.well-known", "auth"),
    ("/", "api"),
)


def render_network_policy(cluster: inputs.ClusterInput, component: str) -> meta.Manifest:
    """Each component accepts traffic on its own port only; egress is left open because
    backends are external references the operator cannot enumerate."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.object_meta(
            cluster, name=meta.child_name(cluster, component), component=component
        ),
        "spec": {
            "podSelector": {"matchLabels": meta.selector_labels(cluster, component)},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": meta.PORTS[component]}]}],
        },
    }


def render_migration_network_policy(cluster: inputs.ClusterInput) -> meta.Manifest:
    """The migration pods serve nothing: deny all ingress to them."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.object_meta(
            cluster, name=meta.child_name(cluster, "migrate"), component="migrate"
        ),
        "spec": {
            "podSelector": {"matchLabels": meta.selector_labels(cluster, "migrate")},
            "policyTypes": ["Ingress"],
        },
    }


def render_ingress(cluster: inputs.ClusterInput) -> meta.Manifest | None:
    ingress = cluster.spec.ingress
    if not ingress.enabled or not ingress.host:
        return None
    paths = [
        {
            "path": path,
            "pathType": "Prefix",
            "backend": {
                "service": {
                    "name": meta.child_name(cluster, component),
                    "port": {"name": "http"},
                }
            },
        }
        for path, component in INGRESS_ROUTES
    ]
    spec: meta.Manifest = {"rules": [{"host": ingress.host, "http": {"paths": paths}}]}
    if ingress.class_name:
        spec = {"ingressClassName": ingress.class_name, **spec}
    if ingress.tls_secret_name:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta.object_meta(cluster, name=cluster.name, component="ingress"),
        "spec": spec,
    }
