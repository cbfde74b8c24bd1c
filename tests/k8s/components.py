"""Command lines of the control-plane servers: pure functions, no I/O.

Flags worth a comment have one; the rest is the minimum each server needs on loopback.
"""

from __future__ import annotations

from pathlib import Path

from . import pki

# /16 rather than /24: tests that each create a few Services (and delete their namespaces
# without waiting) must not run out of ClusterIPs over a long session. 10.0.0.1 stays the
# apiserver's own Service IP, as in its certificate.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"


def loopback_url(port: int, *, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}"


def etcd(*, bin_dir: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = loopback_url(client_port), loopback_url(peer_port)
    return [
        str(bin_dir / "etcd"),
        "--name=gochat-test",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=gochat-test={peer}",
        # Test data is thrown away: fsync would only make every write wait for the disk.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def kube_apiserver(
    *, bin_dir: Path, credentials: pki.Pki, port: int, etcd_port: int, cert_dir: Path
) -> list[str]:
    c = credentials
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={loopback_url(etcd_port)}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={c.apiserver.cert}",
        f"--tls-private-key-file={c.apiserver.key}",
        f"--client-ca-file={c.ca.cert}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # A loopback address cannot be an Endpoints IP, so the kubernetes Service keeps none.
        "--endpoint-reconciler-type=none",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={c.service_account_public_key}",
        f"--service-account-signing-key-file={c.service_account_private_key}",
        # Without the front-proxy (aggregation) flags the controller-manager and scheduler
        # complain about a missing request-header CA bundle.
        f"--requestheader-client-ca-file={c.front_proxy_ca.cert}",
        f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT_NAME}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={c.front_proxy_client.cert}",
        f"--proxy-client-key-file={c.front_proxy_client.key}",
        "--profiling=false",
    ]


def kubeconfig_flags(kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]


def kube_controller_manager(
    *, bin_dir: Path, credentials: pki.Pki, kubeconfig: Path, port: int, cert_dir: Path
) -> list[str]:
    c = credentials
    return [
        str(bin_dir / "kube-controller-manager"),
        *kubeconfig_flags(kubeconfig),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--controllers=*",
        "--use-service-account-credentials",
        "--leader-elect=false",
        f"--service-account-private-key-file={c.service_account_private_key}",
        f"--root-ca-file={c.ca.cert}",
        f"--cluster-signing-cert-file={c.ca.cert}",
        f"--cluster-signing-key-file={c.ca.key}",
        # No metrics-server here: tests patch HPAs, and a short loop shows the result sooner.
        "--horizontal-pod-autoscaler-sync-period=5s",
        # The default client budget (20 QPS) makes the controllers, not the code under test,
        # the bottleneck once hundreds of Deployments roll out (the operator benchmark).
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=20",
        "--concurrent-replicaset-syncs=20",
        "--cluster-name=gochat-test",
        "--profiling=false",
    ]


def kube_scheduler(*, bin_dir: Path, kubeconfig: Path, port: int) -> list[str]:
    return [
        str(bin_dir / "kube-scheduler"),
        *kubeconfig_flags(kubeconfig),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--profiling=false",
    ]


def kwok(*, bin_dir: Path, kubeconfig: Path, config: Path) -> list[str]:
    return [str(bin_dir / "kwok"), f"--kubeconfig={kubeconfig}", f"--config={config}"]
