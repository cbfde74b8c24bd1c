"""Every config the operator renders is accepted by the services' own loader and models.

No allowlist here: the rendered ConfigMap and the Deployment's env are fed to
`gochat.core.config.load_config` with the model the service itself starts with, for every
case in `cases/` and every component, as a pod would read them.
"""

from __future__ import annotations

import pathlib

import pytest

from gochat.contract import services as contract
from gochat.core import config
from gochat_operator.specs import bundle, configmaps, inputs
from tests.operator import cluster_inputs

CASES = sorted(path.stem for path in cluster_inputs.CASES.glob("*.yaml"))


def workload(children: bundle.Children, kind: str, component: str) -> dict:
    (result,) = [
        m
        for m in children.workloads
        if m["kind"] == kind and m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return result


def configmap_data(children: bundle.Children, component: str) -> dict[str, str]:
    (result,) = [
        m
        for m in children.base
        if m["kind"] == "ConfigMap"
        and m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    data: dict[str, str] = result["data"]
    return data


def plain_env(container: dict) -> dict[str, str]:
    """The env a pod sees, except values from Secrets (their names are checked separately)."""
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def loaded_config(
    cluster_input: inputs.ClusterInput, component: str, tmp_path: pathlib.Path
) -> object:
    """What `gochat <component>` would load in the pod the operator renders."""
    children = bundle.render_children(cluster_input)
    container = workload(children, "Deployment", component)["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = plain_env(container)
    mounted = pathlib.PurePosixPath(env[contract.CONFIG_ENV])
    assert mounted.name == contract.config_file(component)
    file = tmp_path / mounted.name
    file.write_text(configmap_data(children, component)[mounted.name])
    return config.load_config(
        contract.CONFIG_MODELS[component],
        service=component,
        env={**env, contract.CONFIG_ENV: str(file)},
    )


def test_every_service_model_refuses_unknown_keys() -> None:
    for component, model in contract.CONFIG_MODELS.items():
        assert model.model_config.get("extra") == "forbid", component
        with pytest.raises(config.ConfigError, match="no_such_key"):
            contract.validate_config(component, {"no_such_key": 1})


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("component", contract.COMPONENTS)
def test_rendered_config_loads_with_the_services_own_model(
    case: str, component: str, tmp_path: pathlib.Path
) -> None:
    loaded_config(cluster_inputs.cluster_input(case), component, tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_every_env_variable_rendered_is_one_the_service_reads(case: str) -> None:
    """`load_config` ignores unknown GOCHAT_* variables, so a misnamed one would be lost."""
    cluster_input = cluster_inputs.cluster_input(case)
    children = bundle.render_children(cluster_input)
    containers = {
        component: workload(children, "Deployment", component)["spec"]["template"]["spec"][
            "containers"
        ][0]
        for component in contract.COMPONENTS
    }
    job = bundle.render_migration_job(cluster_input)
    containers[contract.MIGRATE] = job["spec"]["template"]["spec"]["containers"][0]
    for component, container in containers.items():
        names = {e["name"] for e in container["env"] if e["name"].startswith("GOCHAT_")}
        unknown = names - contract.env_names(component)
        assert not unknown, f"{case}/{component}: the service reads no {sorted(unknown)}"


def test_the_indexer_gets_the_search_backend_it_writes(tmp_path: pathlib.Path) -> None:
    cluster_input = cluster_inputs.cluster_input("full")
    assert cluster_input.spec.opensearch is not None
    for component in ("api", "indexer"):
        loaded = loaded_config(cluster_input, component, tmp_path)
        assert loaded.search_backend == "opensearch", component
        assert loaded.opensearch_url == cluster_input.spec.opensearch.url, component


def test_cassandra_hosts_reach_the_api_as_its_model_wants(tmp_path: pathlib.Path) -> None:
    cluster_input = cluster_inputs.cluster_input("full")
    assert cluster_input.spec.cassandra is not None
    loaded = loaded_config(cluster_input, "api", tmp_path)
    (tmp_path / "empty.yaml").write_text("{}\n")
    # Whatever form the model keeps the hosts in, the rendered value must arrive as the model
    # reads the same hosts from its environment variable (comma separated).
    from_env = config.load_config(
        contract.CONFIG_MODELS["api"],
        service="api",
        env={"GOCHAT_CASSANDRA_HOSTS": ",".join(cluster_input.spec.cassandra.hosts)},
        path=tmp_path / "empty.yaml",
    )
    assert loaded.cassandra_hosts == from_env.cassandra_hosts


def test_rendered_files_hold_only_what_the_operator_sets() -> None:
    """The rendered file is the model's view of the operator's choices: no defaults copied in
    (a default changed in the service must take effect without a new operator)."""
    cluster_input = cluster_inputs.cluster_input("minimal")
    rendered = configmaps.render_config(cluster_input, "auth")
    assert "access_token_ttl_seconds" not in rendered
    assert rendered["port"] == contract.PORTS["auth"]


def test_the_migration_job_of_a_cassandra_cluster_migrates_its_keyspace(
    tmp_path: pathlib.Path,
) -> None:
    """`gochat migrate` runs the CQL migrations only when its config says message_store:
    cassandra, and creates the keyspace in the cluster's datacenter."""
    cluster_input = cluster_inputs.cluster_input("full")
    cassandra = cluster_input.spec.cassandra
    assert cassandra is not None
    job = bundle.render_migration_job(cluster_input)
    env = plain_env(job["spec"]["template"]["spec"]["containers"][0])
    (tmp_path / "empty.yaml").write_text("{}\n")
    loaded = config.load_config(
        contract.CONFIG_MODELS[contract.MIGRATE],
        service=contract.MIGRATE,
        env=env,
        path=tmp_path / "empty.yaml",
    )
    assert loaded.message_store == "cassandra"
    assert list(loaded.cassandra_hosts) == cassandra.hosts
    assert loaded.cassandra_keyspace == cassandra.keyspace
    assert loaded.cassandra_local_dc == cassandra.local_dc
    assert loaded.cassandra_replication.startswith(f"{cassandra.local_dc}:")


def test_the_gateway_serves_websockets_on_the_contract_path() -> None:
    from gochat.ws import server  # the test may import the service; the operator may not

    assert server.WS_PATH == contract.WS_PATH


def test_the_migration_job_of_an_opensearch_cluster_creates_its_index(
    tmp_path: pathlib.Path,
) -> None:
    """`gochat migrate` creates the index template, first index and aliases only when its
    config says search_backend: opensearch."""
    cluster_input = cluster_inputs.cluster_input("full")
    assert cluster_input.spec.opensearch is not None
    container = bundle.render_migration_job(cluster_input)["spec"]["template"]["spec"]
    env = plain_env(container["containers"][0])
    (tmp_path / "empty.yaml").write_text("{}\n")
    loaded = config.load_config(
        contract.CONFIG_MODELS[contract.MIGRATE],
        service=contract.MIGRATE,
        env=env,
        path=tmp_path / "empty.yaml",
    )
    assert loaded.search_backend == "opensearch"
    assert loaded.opensearch_url == cluster_input.spec.opensearch.url
