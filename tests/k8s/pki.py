"""Certificates and kubeconfigs for a throwaway control plane, made with the openssl CLI.

Everything is signed for loopback use only and lives in the run directory of one test session.
Certificates use P-256 keys: a whole PKI is generated in well under a second.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import yaml

# Names a pod may use to reach the API server; 10.0.0.1 is the first IP of the service range.
APISERVER_SANS = (
    "IP:127.0.0.1",
    "IP:10.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)
FRONT_PROXY_CLIENT_NAME = "front-proxy-client"


@dataclasses.dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    controller_manager: KeyPair
    scheduler: KeyPair
    front_proxy_ca: KeyPair
    front_proxy_client: KeyPair
    service_account_private_key: Path
    service_account_public_key: Path


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def make_ca(directory: Path, name: str, *, common_name: str) -> KeyPair:
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    openssl(
        "req",
        "-x509",
        *EC_KEY,
        "-days",
        "3650",
        "-subj",
        f"/CN={common_name}",
        "-keyout",
        str(pair.key),
        "-out",
        str(pair.cert),
        cwd=directory,
    )
    return pair


def make_leaf(
    directory: Path, name: str, *, ca: KeyPair, subject: str, extensions: list[str]
) -> KeyPair:
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    ext_file = directory / f"{name}.ext"
    ext_file.write_text("\n".join(["basicConstraints=critical,CA:FALSE", *extensions]) + "\n")
    openssl(
        "req",
        "-new",
        *EC_KEY,
        "-subj",
        subject,
        "-keyout",
        str(pair.key),
        "-out",
        str(csr),
        cwd=directory,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-CAcreateserial",
        "-days",
        "365",
        "-extfile",
        str(ext_file),
        "-out",
        str(pair.cert),
        cwd=directory,
    )
    return pair


def client_extensions() -> list[str]:
    return ["keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"]


def generate(directory: Path) -> Pki:
    """Write a complete PKI into ``directory`` (created if needed) and return its file paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory, "ca", common_name="gochat-test-ca")
    front_proxy_ca = make_ca(directory, "front-proxy-ca", common_name="gochat-front-proxy-ca")
    server_extensions = [
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=" + ",".join(APISERVER_SANS),
    ]
    sa_private = directory / "sa.key"
    sa_public = directory / "sa.pub"
    # Service-account tokens are signed with RSA, the key type every client library verifies.
    openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        str(sa_private),
        cwd=directory,
    )
    openssl("pkey", "-in", str(sa_private), "-pubout", "-out", str(sa_public), cwd=directory)
    return Pki(
        ca=ca,
        apiserver=make_leaf(
            directory,
            "apiserver",
            ca=ca,
            subject="/CN=kube-apiserver",
            extensions=server_extensions,
        ),
        admin=make_leaf(
            directory,
            "admin",
            ca=ca,
            subject="/O=system:masters/CN=gochat-test-admin",
            extensions=client_extensions(),
        ),
        controller_manager=make_leaf(
            directory,
            "controller-manager",
            ca=ca,
            subject="/CN=system:kube-controller-manager",
            extensions=client_extensions(),
        ),
        scheduler=make_leaf(
            directory,
            "scheduler",
            ca=ca,
            subject="/CN=system:kube-scheduler",
            extensions=client_extensions(),
        ),
        front_proxy_ca=front_proxy_ca,
        front_proxy_client=make_leaf(
            directory,
            "front-proxy-client",
            ca=front_proxy_ca,
            subject=f"/CN={FRONT_PROXY_CLIENT_NAME}",
            extensions=client_extensions(),
        ),
        service_account_private_key=sa_private,
        service_account_public_key=sa_public,
    )


def write_kubeconfig(path: Path, *, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    """A kubeconfig with one cluster, user and context, all named ``gochat-test``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "gochat-test", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(client.cert), "client-key": str(client.key)},
            }
        ],
        "contexts": [{"name": "gochat-test", "context": {"cluster": "gochat-test", "user": user}}],
        "current-context": "gochat-test",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
