"""The few Kubernetes API calls the operator makes, as coroutines over the official client.

Server-side apply goes through the client's low-level request path because the typed API
has no apply verb; the sync client runs in a bounded thread pool so one slow call never
blocks kopf's event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from typing import Any

from kubernetes import client

from gochat_operator.specs import meta
from gochat_operator.specs.model import base

Manifest = dict[str, Any]

PLURALS = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "Event"): "events",
    ("apps/v1", "Deployment"): "deployments",
    ("batch/v1", "Job"): "jobs",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("networking.k8s.io/v1", "Ingress"): "ingresses",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitors",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrules",
    (f"{base.GROUP}/{base.VERSION}", base.KIND): base.PLURAL,
}


class ApiError(Exception):
    """A non-2xx answer, with the status and the API server's message."""

    def __init__(self, status: int, message: str, *, action: str) -> None:
        super().__init__(f"{action}: HTTP {status}: {message}")
        self.status = status


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{PLURALS[(api_version, kind)]}"
    return f"{path}/{name}" if name else path


class Kube:
    """Async facade over the official client, configured from the default configuration
    (in-cluster or kubeconfig, loaded beforehand)."""

    def __init__(self, *, threads: int = 16, bulk_threads: int = 16) -> None:
        configuration = client.Configuration.get_default_copy()
        # One pooled connection per thread: beyond the pool, urllib3 opens and discards a
        # connection per request, a TLS handshake each time.
        configuration.connection_pool_maxsize = threads + bulk_threads
        self.api_client = client.ApiClient(configuration)
        # Two lanes: first-time applies of many clusters' children (bulk) must not queue
        # ahead of what moves a rollout on (reads, Jobs, Deployments, status).
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="kube")
        self.bulk_pool = concurrent.futures.ThreadPoolExecutor(
            bulk_threads, thread_name_prefix="kube-bulk"
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Manifest | None:
        serialized = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            # The client serialises dicts for JSON content types only; other types (apply's
            # YAML) take a string, and JSON is YAML.
            body=json.dumps(body) if body is not None and "json" not in content_type else body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*serialized)
        data = response.read()
        if response.status == 404 and method in ("GET", "DELETE"):
            return None
        if not 200 <= response.status < 300:
            try:
                message = json.loads(data).get("message", data.decode())
            except ValueError:
                message = data.decode(errors="replace")
            raise ApiError(response.status, message, action=action)
        return json.loads(data) if data else {}

    async def request(
        self, method: str, path: str, *, bulk: bool = False, **kwargs: Any
    ) -> Manifest | None:
        loop = asyncio.get_running_loop()
        pool = self.bulk_pool if bulk else self.pool
        return await loop.run_in_executor(pool, lambda: self._request(method, path, **kwargs))

    async def apply(
        self, manifest: Manifest, *, manager: str = meta.MANAGER, bulk: bool = False
    ) -> Manifest:
        """Server-side apply: we own exactly the fields in `manifest`; `force` takes back
        those someone edited by hand, and fields we never send stay with their managers."""
        metadata = manifest["metadata"]
        path = resource_path(
            manifest["apiVersion"], manifest["kind"], metadata["namespace"], metadata["name"]
        )
        result = await self.request(
            "PATCH",
            path,
            action=f"apply {manifest['kind']} {metadata['name']}",
            query=[("fieldManager", manager), ("force", "true")],
            body=manifest,
            content_type="application/apply-patch+yaml",
            bulk=bulk,
        )
        assert result is not None
        return result

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        path = resource_path(api_version, kind, namespace, name)
        return await self.request("GET", path, action=f"get {kind} {name}")

    async def list_labelled(
        self, api_version: str, kind: str, namespace: str, *, label_selector: str
    ) -> list[Manifest]:
        path = resource_path(api_version, kind, namespace)
        found = await self.request(
            "GET", path, action=f"list {kind}", query=[("labelSelector", label_selector)]
        )
        return list((found or {}).get("items", []))

    async def delete(
        self, api_version: str, kind: str, namespace: str, name: str, *, bulk: bool = False
    ) -> None:
        path = resource_path(api_version, kind, namespace, name)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        await self.request("DELETE", path, action=f"delete {kind} {name}", body=body, bulk=bulk)

    async def create(self, manifest: Manifest) -> Manifest | None:
        """Create, or None if it already exists (for objects we must never overwrite)."""
        metadata = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], metadata["namespace"])
        try:
            return await self.request(
                "POST", path, action=f"create {manifest['kind']}", body=manifest
            )
        except ApiError as error:
            if error.status == 409:
                return None
            raise

    async def patch_status(self, namespace: str, name: str, status: Manifest) -> None:
        path = resource_path(f"{base.GROUP}/{base.VERSION}", base.KIND, namespace, name)
        await self.request(
            "PATCH",
            f"{path}/status",
            action=f"patch status of {name}",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    async def has_api(self, group_version: str, kind: str) -> bool:
        """Whether the API server serves `kind` in `group_version` (e.g. a CRD is installed)."""
        try:
            found = await self.request("GET", f"/apis/{group_version}", action="discovery")
        except ApiError:
            return False
        return any(r.get("kind") == kind for r in (found or {}).get("resources", []))
