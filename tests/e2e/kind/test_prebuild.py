"""The background prebuild: a failing step is logged and the others still run; the step list
covers every Go-built tool the tier caches."""

from __future__ import annotations

from tests.e2e.kind import cache, prebuild


def test_a_failing_step_is_reported_and_the_next_steps_still_run() -> None:
    ran: list[str] = []
    lines: list[str] = []

    def fail() -> None:
        raise RuntimeError("proxy refused")

    failed = prebuild.run(
        [
            ("first", lambda: ran.append("first")),
            ("broken", fail),
            ("last", lambda: ran.append("last")),
        ],
        lines.append,
    )
    assert failed == ["broken"]
    assert ran == ["first", "last"]
    assert any("proxy refused" in line for line in lines)


def test_every_cached_tool_but_the_metrics_binaries_has_its_own_step() -> None:
    names = {name for name, _ in prebuild.steps(cache.PINNED, print)}
    # The metrics images' step builds Prometheus and the adapter; crictl comes with the base.
    tools = set(cache.PINNED.bin_entries) - {"prometheus", "prometheus-adapter", "crictl"}
    covered = {
        "kind": "kind", "kubernetes": "Kubernetes node binaries", "etcd": "etcd",
        "coredns": "coredns", "local-path-provisioner": "local-path-provisioner",
        "pause": "pause", "skaffold": "skaffold", "helm": "helm 3 for skaffold",
    }  # fmt: skip
    assert tools == set(covered)
    assert set(covered.values()) <= names
    assert {"node base", "GoChat images", "backend images", "metrics images"} <= names
