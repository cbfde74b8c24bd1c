"""Behaviours of the pure builders that golden files show but do not explain."""

from __future__ import annotations

import dataclasses

import pydantic
import pytest

from gochat.contract import metrics as catalogue
from gochat_operator.specs import auth_backends, bundle, configmaps, inputs, meta, migration
from gochat_operator.specs.model import cluster
from tests.operator import cluster_inputs


def deployment(children: bundle.Children, component: str) -> dict:
    (result,) = [
        m
        for m in children.workloads
        if m["kind"] == "Deployment"
        and m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return result


def test_autoscaled_components_leave_replicas_to_the_hpa() -> None:
    children = bundle.render_children(cluster_inputs.cluster_input("full"))
    assert "replicas" not in deployment(children, "api")["spec"]
    assert "replicas" not in deployment(children, "ws")["spec"]
    assert deployment(children, "auth")["spec"]["replicas"] == 3


def test_ws_hpa_scales_on_connections_per_pod() -> None:
    children = bundle.render_children(cluster_inputs.cluster_input("full"))
    (ws_hpa,) = [
        m
        for m in children.workloads
        if m["metadata"]["name"] == "prod-ws" and m["kind"] == "HorizontalPodAutoscaler"
    ]
    (pods_metric,) = [m["pods"] for m in ws_hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods_metric["metric"]["name"] == catalogue.WS_CONNECTIONS.name
    assert pods_metric["target"]["averageValue"] == "5000"


def hpa_spec(children: bundle.Children, name: str) -> dict:
    (hpa,) = [
        m
        for m in children.workloads
        if m["metadata"]["name"] == name and m["kind"] == "HorizontalPodAutoscaler"
    ]
    return dict(hpa["spec"])


def test_a_cpu_target_of_zero_leaves_the_hpa_without_a_resource_metric() -> None:
    """The `full` case's ws scales on connections alone: readable without metrics-server."""
    children = bundle.render_children(cluster_inputs.cluster_input("full"))
    assert [m["type"] for m in hpa_spec(children, "prod-ws")["metrics"]] == ["Pods"]
    api_metrics = hpa_spec(children, "prod-api")["metrics"]
    assert [m["resource"]["target"]["averageUtilization"] for m in api_metrics] == [60]


def test_hpa_behavior_is_passed_as_written_unset_fields_left_to_kubernetes() -> None:
    case = cluster_inputs.load_case("full")
    children = bundle.render_children(cluster_inputs.cluster_input("full"))
    for component in ("api", "ws"):
        written = case["spec"]["components"][component]["autoscaling"]["behavior"]
        assert hpa_spec(children, f"prod-{component}")["behavior"] == written
    plain = cluster_inputs.cluster_input(
        "minimal", components={"api": {"autoscaling": {"enabled": True}}}
    )
    assert "behavior" not in hpa_spec(bundle.render_children(plain), "chat-api")


def test_no_deployments_before_the_first_migration_succeeded() -> None:
    children = bundle.render_children(cluster_inputs.cluster_input("minimal", serving=None))
    assert children.workloads == []
    assert {m["kind"] for m in children.base} >= {"ConfigMap", "Service", "NetworkPolicy"}


def test_upgrade_keeps_deployments_on_the_serving_release() -> None:
    old = inputs.Release("0.0.9", "docker.io/gochat/gochat:0.0.9")
    children = bundle.render_children(cluster_inputs.cluster_input("minimal", serving=old))
    container = deployment(children, "api")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/gochat/gochat:0.0.9"
    job = bundle.render_migration_job(cluster_inputs.cluster_input("minimal", serving=old))
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/gochat/gochat:0.1.0"
    )


def test_secret_change_changes_only_the_hash_of_components_using_it() -> None:
    before = cluster_inputs.cluster_input("full")
    after = dataclasses.replace(
        before, secret_digests={**before.secret_digests, "prod-nats": "new"}
    )
    changed = {
        c
        for c in meta.COMPONENTS
        if configmaps.config_hash(before, c) != configmaps.config_hash(after, c)
    }
    assert changed == {"api", "ws", "indexer"}  # auth does not use NATS


def test_dsn_goes_through_a_secret_ref_never_a_configmap() -> None:
    cluster_input = cluster_inputs.cluster_input("full")
    for component in meta.COMPONENTS:
        assert "pg_dsn" not in configmaps.render_config(cluster_input, component)
    children = bundle.render_children(cluster_input)
    env = deployment(children, "indexer")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "GOCHAT_PG_DSN",
        "valueFrom": {"secretKeyRef": {"name": "prod-postgres", "key": "url"}},
    } in env


def test_migration_job_names_are_stable_short_and_distinct() -> None:
    cluster_input = cluster_inputs.cluster_input("minimal")
    long_name = dataclasses.replace(cluster_input, name="x" * 30)
    names = {migration.job_name(long_name, v) for v in ("1.4.0", "1-4-0", "1.4.0+build.123456789")}
    assert len(names) == 3
    assert all(len(n) <= 63 for n in names)
    assert migration.job_name(cluster_input, "1.4.0") == migration.job_name(cluster_input, "1.4.0")


def test_every_child_is_owned_and_labelled() -> None:
    cluster_input = cluster_inputs.cluster_input("full", prometheus=True)
    for manifest in [
        *bundle.render_children(cluster_input).all(),
        bundle.render_migration_job(cluster_input),
    ]:
        metadata = manifest["metadata"]
        assert metadata["ownerReferences"][0]["uid"] == cluster_input.uid
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "gochat-operator"
        assert metadata["labels"]["app.kubernetes.io/instance"] == "prod"


def test_secret_needs_name_every_referenced_secret() -> None:
    needs = {n.name for n in auth_backends.secret_needs(cluster_inputs.cluster_input("full"))}
    assert needs == {
        "prod-postgres", "prod-nats", "prod-scylla", "prod-opensearch", "prod-s3",
        "prod-smtp", "prod-signing-keys",
    }  # fmt: skip


def test_spec_model_rejects_out_of_bounds_values() -> None:
    body = cluster_inputs.load_case("minimal")["spec"]
    body["components"] = {"api": {"replicas": -1}}
    with pytest.raises(pydantic.ValidationError):
        cluster.GoChatClusterSpec.model_validate(body)


def test_the_s3_public_endpoint_is_rendered_for_the_api_only_when_set() -> None:
    s3 = dict(cluster_inputs.load_case("full")["spec"]["s3"])
    assert (
        configmaps.render_config(cluster_inputs.cluster_input("full"), "api")["s3_public_endpoint"]
        == s3["publicEndpoint"]
    )
    del s3["publicEndpoint"]
    unset = configmaps.render_config(cluster_inputs.cluster_input("full", s3=s3), "api")
    assert "s3_public_endpoint" not in unset and unset["s3_endpoint"] == s3["endpoint"]
    for bad in ("files.example.com", "https://example.com/files"):
        with pytest.raises(pydantic.ValidationError, match="publicEndpoint"):
            cluster_inputs.cluster_input("full", s3={**s3, "publicEndpoint": bad})
