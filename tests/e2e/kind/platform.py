"""A GoChat installed in a cluster (by the operator or by charts/gochat), seen from the tests:
its Services through port-forwards and the mail its auth pods wrote to their outbox.

Mail: both install paths default to the `outbox` mailer, which writes each message as an .eml
file under the auth pod's working directory (/tmp, an emptyDir). A real SMTP relay is a Secret
away (`mail.provider: smtp`) but has no sink image here; the outbox is what a fresh install
does, so the scenarios read it, from every auth pod, with the image's own Python.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from gochat.contract import images as image_names
from gochat.contract import services as contract
from tests.e2e import user_flow
from tests.e2e.kind import access, backends

OPERATOR_CHART = backends.backend_images.DEPLOY.parents[1] / "charts" / "gochat-operator"
CRD_NAME = "gochatclusters.gochat.dev"


def install_operator(kube: access.ClusterAccess, system: str, *, tag: str) -> None:
    """`helm install` of the operator chart into `system`, waiting for it. The chart keeps its
    CRD on uninstall (`crd.keep`), so a scenario after the first finds the CRD owned by an
    earlier release, which Helm refuses to adopt: it installs without it (`crd.install=false`),
    as a second operator release in a cluster would."""
    kept = kube.kubectl("get", "crd", CRD_NAME, "--ignore-not-found", "-o", "name").strip()
    kube.helm(
        "install", "gochat-operator", str(OPERATOR_CHART), "-n", system,
        "--set", f"image.tag={tag}",
        "--set", f"crd.install={'false' if kept else 'true'}",
        "--wait", "--timeout", "180s",
    )  # fmt: skip


_LIST_MAIL = (
    "import base64, json, pathlib; "
    "print(json.dumps([base64.b64encode(p.read_bytes()).decode() "
    "for p in sorted(pathlib.Path('/tmp').rglob('*.eml'))]))"
)


def mail_reader(kube: access.ClusterAccess, namespace: str) -> Callable[[], list[bytes]]:
    """Reads every .eml in every running auth pod of `namespace`."""

    def read() -> list[bytes]:
        pods = kube.get_json(
            "pods", "-n", namespace, "-l", "app.kubernetes.io/component=auth",
            "--field-selector=status.phase=Running",
        )["items"]  # fmt: skip
        messages: list[bytes] = []
        for pod in pods:
            out = kube.kubectl(
                "-n", namespace, "exec", pod["metadata"]["name"], "--",
                "python", "-c", _LIST_MAIL,
            )  # fmt: skip
            messages += [base64.b64decode(item) for item in json.loads(out)]
        return messages

    return read


@contextlib.contextmanager
def endpoints(
    kube: access.ClusterAccess, namespace: str, prefix: str
) -> Iterator[user_flow.Endpoints]:
    """Port-forwards to `<prefix>-auth`, `-api` and `-ws` (the Services both installs make)."""
    with contextlib.ExitStack() as stack:
        urls = {
            service: stack.enter_context(
                kube.port_forward(namespace, f"svc/{prefix}-{service}", contract.PORTS[service])
            )
            for service in ("auth", "api", "ws")
        }
        yield user_flow.Endpoints(auth=urls["auth"], api=urls["api"], ws=urls["ws"])


def component_pods(kube: access.ClusterAccess, namespace: str) -> dict[str, str]:
    """Pod name -> component of the GoChat pods in `namespace` (the migration's included),
    leaving out pods already being deleted (a replaced pod drains for a while)."""
    pods = kube.get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/name=gochat")["items"]
    return {
        pod["metadata"]["name"]: pod["metadata"]["labels"].get("app.kubernetes.io/component", "")
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
    }


def gochat_cluster(*, version: str, deployed: backends.Backends) -> dict[str, Any]:
    """A GoChatCluster `chat` on `deployed`, one replica per component."""
    one = {"replicas": 1}
    return {
        "apiVersion": "gochat.dev/v1alpha1",
        "kind": "GoChatCluster",
        "metadata": {"name": "chat", "namespace": deployed.namespace},
        "spec": {
            "version": version,
            "image": {"repository": image_names.SERVICES, "tag": version},
            "components": {name: one for name in ("api", "auth", "ws", "indexer")},
            "postgres": {"dsnSecret": {"name": deployed.dsn_secret}},
            "nats": {"url": deployed.nats_url},
        },
    }
