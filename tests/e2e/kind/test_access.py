"""The port-forward wrapper against a stand-in kubectl (no cluster): its output is read for as
long as it runs, and an early end is reported with kubectl's own words."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.e2e.kind import access

# Prints what kubectl port-forward prints, then one "Handling connection" line per connection:
# 5,000 of them (~150 KiB) are more than a pipe holds, so an unread stdout stalls it.
FAKE_KUBECTL = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    print("Forwarding from 127.0.0.1:40123 -> 8080", flush=True)
    for _ in range(5000):
        sys.stdout.write("Handling connection for 40123\\n")
    sys.stdout.flush()
    Path(sys.argv[-1]).write_text("wrote all")
    if "{end}" == "early":
        print("E1207 lost connection to pod", file=sys.stderr, flush=True)
        sys.exit(1)
    time.sleep(60)
""")


def fake_access(tmp_path: Path, *, end: str) -> tuple[access.ClusterAccess, Path]:
    script = tmp_path / "kubectl.py"
    script.write_text(FAKE_KUBECTL.replace("{end}", end))
    marker = tmp_path / "marker"
    kube = access.ClusterAccess(
        kubeconfig=tmp_path / "kubeconfig",
        kubectl_path=script,
        helm_path=tmp_path / "helm",
        wrap=lambda command: [sys.executable, *command, str(marker)],
    )
    return kube, marker


def wait_for(path: Path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def test_a_port_forward_printing_a_line_per_connection_is_never_stalled(tmp_path: Path) -> None:
    kube, marker = fake_access(tmp_path, end="never")
    with kube.port_forward("ns", "svc/api", 8080) as url:
        assert url == "http://127.0.0.1:40123"
        assert wait_for(marker), "kubectl blocked writing to a pipe nobody reads"


def test_a_port_forward_that_ends_early_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube, marker = fake_access(tmp_path, end="early")
    with kube.port_forward("ns", "svc/ws", 8082):
        assert wait_for(marker)
        time.sleep(0.5)
    out = capsys.readouterr().out
    assert "port-forward svc/ws ended early (exit 1)" in out
    assert "lost connection to pod" in out
