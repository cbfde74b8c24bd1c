"""ClusterIP Services, one per component, port named `http` (also scraped for /metrics)."""

from __future__ import annotations

from gochat_operator.specs import inputs, meta


def render_service(cluster: inputs.ClusterInput, component: str) -> meta.Manifest:
    port = meta.PORTS[component]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.object_meta(
            cluster, name=meta.child_name(cluster, component), component=component
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": meta.selector_labels(cluster, component),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
