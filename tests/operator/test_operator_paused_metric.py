"""gochat_operator_cluster_paused{namespace, name} follows the pause annotation of each
GoChatCluster on a real API server, and its series goes with the cluster."""

from __future__ import annotations

import pytest

from gochat_operator.specs import meta
from tests.operator import k8s_support

pytestmark = pytest.mark.k8s


def paused_series(operator: k8s_support.OperatorProcess, namespace: str) -> str | None:
    """The exported line of cluster `chat` in `namespace`, or None without one."""
    prefix = f'gochat_operator_cluster_paused{{name="chat",namespace="{namespace}"}} '
    lines = [line for line in operator.metrics().splitlines() if line.startswith(prefix)]
    return lines[0].removeprefix(prefix) if lines else None


def test_paused_gauge_is_1_while_paused_0_after_and_gone_with_the_cluster(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    gochat.create_dsn_secret()
    gochat.apply(k8s_support.sample())
    gochat.wait_ready("chat")
    assert paused_series(operator, gochat.namespace) == "0.0"

    gochat.kubectl("annotate", "gochatcluster", "chat", f"{meta.PAUSED_ANNOTATION}=true")
    k8s_support.wait_until(
        "paused gauge set", lambda: paused_series(operator, gochat.namespace) == "1.0"
    )
    gochat.kubectl("annotate", "gochatcluster", "chat", f"{meta.PAUSED_ANNOTATION}-")
    k8s_support.wait_until(
        "paused gauge cleared", lambda: paused_series(operator, gochat.namespace) == "0.0"
    )

    gochat.kubectl("annotate", "gochatcluster", "chat", f"{meta.PAUSED_ANNOTATION}=true")
    k8s_support.wait_until(
        "paused again", lambda: paused_series(operator, gochat.namespace) == "1.0"
    )
    gochat.kubectl("delete", "gochatcluster", "chat", "--wait=true", "--timeout=30s")
    k8s_support.wait_until(
        "series removed with the cluster",
        lambda: paused_series(operator, gochat.namespace) is None,
    )
