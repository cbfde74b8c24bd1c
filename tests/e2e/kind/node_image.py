"""The kind node image for the pinned Kubernetes, built from local artifacts only.

What ``kind build node-image`` does, without a registry: a container of the base image gets
kubeadm, kubelet and kubectl in /usr/bin, ``/kind/version``, and every component image kubeadm
will ask for imported into its containerd under the exact name kubeadm expects; then
``docker commit``. The result is cached as ``node-<key>.tar.zst`` (``docker save`` | zstd), so a
warm run only ``docker load``s it.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from . import base_image, binaries, cache, dockerd

NODE_BINARIES = ("kubeadm", "kubelet", "kubectl")
# What kind's own node-image builder runs for each image tarball.
CTR_IMPORT = (
    *("ctr", "--namespace=k8s.io", "images", "import"),
    *("--all-platforms", "--no-unpack", "--digests", "-"),
)
# kind's default StorageClass (local-path-provisioner), with images built here.
STORAGE_MANIFEST_PATH = "/kind/manifests/default-storage.yaml"
PROVISIONER_IMAGE = "gochat.local/local-path-provisioner"
HELPER_IMAGE = "gochat.local/local-path-helper"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def ensure_loaded(daemon: dockerd.Dockerd, versions: cache.Versions, *, log: cache.Log) -> str:
    """Make the node image present in ``daemon``, building it on a cold cache; return its name."""
    if _has_image(daemon, versions.node_image):
        return versions.node_image
    tarball = cache.cache_root() / "node" / versions.node_tarball
    if not tarball.exists():
        build(daemon, versions, log=log)

        def save(staging: Path) -> None:
            _pipe(
                [dockerd.docker_cli(), "save", versions.node_image],
                ["zstd", "-T0", "-3", "-q", "-o", str(staging)],
                env=daemon.env,
                step="save the node image",
            )

        cache.cached(tarball, step="save the node image", build=save, log=log)
        return versions.node_image
    log(f"kind: loading {tarball.name}")
    _pipe(
        ["zstd", "-dc", str(tarball)],
        [dockerd.docker_cli(), "load", "-q"],
        env=daemon.env,
        step="load the node image",
    )
    return versions.node_image


def build(daemon: dockerd.Dockerd, versions: cache.Versions, *, log: cache.Log) -> None:
    kube = binaries.kubernetes(versions, log=log)
    _ensure_base(daemon, versions, log=log)
    with tempfile.TemporaryDirectory(dir=cache.cache_root()) as scratch:
        tars = component_images(daemon, versions, kube=kube, scratch=Path(scratch), log=log)
        container = "gochat-kind-node-build"
        daemon.docker(["rm", "-f", container], check=False)
        daemon.docker(
            [
                "run",
                "-d",
                "--name",
                container,
                "--entrypoint=sleep",
                "--security-opt",
                "seccomp=unconfined",
                versions.base_image,
                "infinity",
            ]
        )
        try:
            for name in NODE_BINARIES:
                daemon.docker(["cp", str(kube / name), f"{container}:/usr/bin/{name}"])
            script = (
                f"chown root:root /usr/bin/kube*; chmod 0755 /usr/bin/kube*;"
                f" echo -n {versions.kubernetes} > /kind/version;"
                " (containerd > /tmp/containerd.log 2>&1 &);"
                " for i in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break;"
                " sleep 0.2; done; ctr version > /dev/null"
            )
            daemon.docker(["exec", container, "bash", "-c", script])
            manifest = storage_manifest(versions, log=log)
            write_manifest = f"mkdir -p /kind/manifests; cat > {STORAGE_MANIFEST_PATH}"
            subprocess.run(
                [dockerd.docker_cli(), "exec", "-i", container, "bash", "-c", write_manifest],
                input=manifest.encode(),
                env=daemon.env,
                capture_output=True,
                check=True,
            )
            for tar in tars:
                with open(tar, "rb") as stream:
                    subprocess.run(
                        [dockerd.docker_cli(), "exec", "-i", container, *CTR_IMPORT],
                        stdin=stream,
                        env=daemon.env,
                        capture_output=True,
                        check=True,
                    )
            daemon.docker(["exec", container, "bash", "-c", "pkill containerd; sleep 1"])
            daemon.docker(
                [
                    "commit",
                    "--change",
                    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                    container,
                    versions.node_image,
                ]
            )
        finally:
            daemon.docker(["rm", "-f", "-v", container], check=False)
    log(f"kind: built {versions.node_image}")


def component_images(
    daemon: dockerd.Dockerd,
    versions: cache.Versions,
    *,
    kube: Path,
    scratch: Path,
    log: cache.Log,
) -> list[Path]:
    """Build every image kubeadm pulls, named as kubeadm names them; return their tarballs."""
    registry = "registry.k8s.io"
    images: dict[str, tuple[Path, str]] = {}
    for name in CONTROL_PLANE:
        images[f"{registry}/{name}:{versions.kubernetes}"] = (kube / name, "/usr/local/bin/")
    etcd_dir = binaries.etcd(versions, log=log)
    images[f"{registry}/etcd:{versions.etcd_image}"] = (etcd_dir / "etcd", "/usr/local/bin/")
    coredns_dir = binaries.coredns(versions, log=log)
    images[f"{registry}/coredns/coredns:{versions.coredns}"] = (coredns_dir / "coredns", "/")
    pause_dir = binaries.pause(versions, log=log)
    images[f"{registry}/pause:{versions.pause}"] = (pause_dir / "pause", "/")
    tars = []
    for tag, (binary, directory) in images.items():
        tars.append(
            _scratch_image(daemon, tag, binary=binary, directory=directory, scratch=scratch)
        )
    # kube-proxy runs iptables and conntrack: it lives on the Debian base.
    proxy_tag = f"{registry}/kube-proxy:{versions.kubernetes}"
    tars.append(
        _image(
            daemon,
            proxy_tag,
            files=[kube / "kube-proxy"],
            dockerfile=(
                f"FROM {versions.base_image}\nCOPY kube-proxy /usr/local/bin/kube-proxy\n"
                'ENTRYPOINT ["/usr/local/bin/kube-proxy"]\nSTOPSIGNAL SIGTERM\n'
            ),
            scratch=scratch,
        )
    )
    lpp = binaries.local_path_provisioner(versions, log=log)
    tars.append(
        _scratch_image(
            daemon,
            f"{PROVISIONER_IMAGE}:{versions.local_path_provisioner}",
            binary=lpp / "local-path-provisioner",
            directory="/usr/local/bin/",
            scratch=scratch,
        )
    )
    # The helper pod runs `sh -c` scripts (mkdir, rm -rf): the Debian base has a shell.
    tars.append(
        _image(
            daemon,
            f"{HELPER_IMAGE}:{versions.debian}",
            files=[],
            dockerfile=f"FROM {versions.base_image}\nENTRYPOINT []\nSTOPSIGNAL SIGTERM\n",
            scratch=scratch,
        )
    )
    log(f"kind: {len(tars)} component images built")
    return tars


def storage_manifest(versions: cache.Versions, *, log: cache.Log) -> str:
    """kind's own default-storage manifest (``pkg/build/nodeimage/const_storage.go``), pointing
    at the images built here instead of docker.io/kindest."""
    source = base_image.kind_module(versions, log=log) / "pkg/build/nodeimage/const_storage.go"
    text = source.read_text()
    start = text.index("const defaultStorageManifest = `") + len("const defaultStorageManifest = `")
    manifest = text[start : text.index("\n`\n", start) + 1]  # up to the closing backquote
    substitutions = {
        "` + storageProvisionerImage + `": f"{PROVISIONER_IMAGE}:{versions.local_path_provisioner}",
        "` + storageHelperImage + `": f"{HELPER_IMAGE}:{versions.debian}",
    }
    for placeholder, image in substitutions.items():
        if placeholder not in manifest:
            raise cache.BuildError(f"kind's storage manifest has no {placeholder.strip('`+ ')}")
        manifest = manifest.replace(placeholder, image)
    return manifest


def _scratch_image(
    daemon: dockerd.Dockerd, tag: str, *, binary: Path, directory: str, scratch: Path
) -> Path:
    target = f"{directory}{binary.name}"
    extra = (
        "USER 65535:65535\n"
        if binary.name == "pause"
        else "EXPOSE 53 53/udp\n" * (binary.name == "coredns")
    )
    dockerfile = (
        f"FROM scratch\nCOPY {binary.name} {target}\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
        f'{extra}ENTRYPOINT ["{target}"]\n'
    )
    return _image(daemon, tag, files=[binary], dockerfile=dockerfile, scratch=scratch)


def _image(
    daemon: dockerd.Dockerd, tag: str, *, files: list[Path], dockerfile: str, scratch: Path
) -> Path:
    slug = tag.replace("/", "_").replace(":", "_")
    context = scratch / slug
    context.mkdir()
    for path in files:
        (context / path.name).write_bytes(path.read_bytes())
        (context / path.name).chmod(0o755)
    (context / "Dockerfile").write_text(dockerfile)
    daemon.docker(["build", "-q", "-t", tag, str(context)])
    tar = scratch / f"{slug}.tar"
    daemon.docker(["save", "-o", str(tar), tag])
    return tar


def _ensure_base(daemon: dockerd.Dockerd, versions: cache.Versions, *, log: cache.Log) -> None:
    if _has_image(daemon, versions.base_image):
        return
    crictl = binaries.crictl(versions, log=log)
    tarball = base_image.base_tarball(versions, crictl=crictl, log=log)
    raw = f"{versions.base_image}-raw"
    _pipe(
        ["zstd", "-dc", str(tarball)],
        [dockerd.docker_cli(), "import", "-", raw],
        env=daemon.env,
        step="import the base rootfs",
    )
    # `docker import --change` cannot set STOPSIGNAL: one more (instant) build step does.
    dockerfile = (
        f"FROM {raw}\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\n"
        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n'
    )
    proc = subprocess.run(
        [dockerd.docker_cli(), "build", "-q", "-t", versions.base_image, "-"],
        input=dockerfile,
        env=daemon.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise cache.BuildError(f"base image build failed: {proc.stderr.strip()}")
    daemon.docker(["rmi", raw], check=False)


def _has_image(daemon: dockerd.Dockerd, name: str) -> bool:
    return daemon.docker(["image", "inspect", name], check=False).returncode == 0


def _pipe(first: list[str], second: list[str], *, env: dict[str, str], step: str) -> None:
    producer = subprocess.Popen(first, stdout=subprocess.PIPE, env=env)
    consumer = subprocess.run(second, stdin=producer.stdout, env=env, capture_output=True)
    if producer.stdout is not None:
        producer.stdout.close()
    if producer.wait() != 0 or consumer.returncode != 0:
        raise cache.BuildError(f"{step} failed: {consumer.stderr.decode(errors='replace')}")
