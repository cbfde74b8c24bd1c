"""charts/gochat: its generated files, the configs it renders (loaded with the services' own
models), what its schema and checks refuse, and its manifests on a real API server in a
namespace that enforces the `restricted` Pod Security Standard."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gochat.contract import services as contract
from gochat.core import config
from tests.charts import gochat_chart_files
from tests.charts.helm_support import CHARTS, Helm, by_kind
from tests.k8s import connection

CHART = CHARTS / "gochat"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
REQUIRED = {"postgres": {"dsnSecret": {"name": "chat-postgres"}}, "nats": {"url": "nats://n:4222"}}


def render(helm: Helm, tmp: pathlib.Path, *args: str, **values: Any) -> list[dict[str, Any]]:
    return helm.template(CHART, *args, values={**REQUIRED, **values}, tmp=tmp)


def refusal(helm: Helm, tmp: pathlib.Path, values: dict[str, Any]) -> str:
    file = tmp / "bad-values.yaml"
    file.write_text(yaml.safe_dump(values))
    result = helm.run("template", "release", str(CHART), "-f", str(file), check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_generated_files_are_up_to_date() -> None:
    """`python -m tests.charts.gochat_chart_files` rewrites them (schema, alerts, dashboards)."""
    for path, content in gochat_chart_files.generated_files().items():
        assert path.is_file() and path.read_text() == content, f"{path} is stale"


def test_the_lint_test_covers_this_chart() -> None:
    assert CI_VALUES, "charts/gochat/ci/*.yaml: nothing for test_chart_lint to lint"


@pytest.mark.parametrize("values_file", CI_VALUES, ids=[v.name for v in CI_VALUES])
def test_every_rendered_config_loads_with_the_services_own_model(
    helm: Helm, values_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    documents = helm.template(CHART, "-f", str(values_file))
    configmaps = {c["metadata"]["name"]: c for c in by_kind(documents, "ConfigMap")}
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        component = container["args"][0]
        assert container["ports"][0]["containerPort"] == contract.PORTS[component]
        env = {e["name"]: e for e in container["env"]}
        assert set(env) <= contract.env_names(component), component
        for variable in env.values():
            if variable["name"] != contract.CONFIG_ENV:
                assert "secretKeyRef" in variable["valueFrom"], variable  # no inlined credential
        (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
        file_name = contract.config_file(component)
        text = configmaps[volume["configMap"]["name"]]["data"][file_name]
        (tmp_path / file_name).write_text(text)
        loaded = config.load_config(
            contract.CONFIG_MODELS[component],
            service=component,
            env={contract.CONFIG_ENV: str(tmp_path / file_name)},
        )
        assert loaded.port == contract.PORTS[component]  # type: ignore[attr-defined]
        assert not {"password", "dsn", "secret"} & {k.split("_")[-1] for k in yaml.safe_load(text)}


def test_a_misspelled_or_mistyped_value_is_refused_by_name(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    assert "dsnSecrett" in refusal(helm, tmp_path, {**REQUIRED, "postgres": {"dsnSecrett": {}}})
    mistyped = {**REQUIRED, "components": {"ws": {"replicas": "three"}}}
    assert "replicas" in refusal(helm, tmp_path, mistyped)


def test_invalid_combinations_fail_in_one_message_listing_each(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    message = refusal(
        helm,
        tmp_path,
        {
            "mail": {"provider": "smtp"},
            "s3": {"enabled": True},
            "ingress": {"enabled": True},
            "components": {"api": {"autoscaling": {"minReplicas": 9, "maxReplicas": 3}}},
        },
    )
    for problem in (
        "postgres.dsnSecret.name",
        "nats.url",
        "mail.secret.name",
        "s3.bucket",
        "s3.credentialsSecret.name",
        "ingress.host",
        "components.api.autoscaling.minReplicas",
    ):
        assert problem in message, problem
    assert message.count("invalid values for gochat") == 1


def test_the_s3_public_endpoint_reaches_the_api_config_only_when_set(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    s3 = {
        "enabled": True,
        "endpoint": "http://minio.storage.svc:9000",
        "bucket": "chat-files",
        "credentialsSecret": {"name": "chat-s3"},
    }

    def api_config(**extra: str) -> dict[str, Any]:
        documents = render(helm, tmp_path, s3={**s3, **extra})
        configmaps = by_kind(documents, "ConfigMap")
        (api,) = [c for c in configmaps if c["metadata"]["name"].endswith("-api-config")]
        loaded: dict[str, Any] = yaml.safe_load(api["data"][contract.config_file("api")])
        return loaded

    assert "s3_public_endpoint" not in api_config()
    given = api_config(publicEndpoint="https://files.example.com")
    assert given["s3_public_endpoint"] == "https://files.example.com"
    assert given["s3_endpoint"] == s3["endpoint"]
    for bad in ("files.example.com", "https://example.com/files"):
        message = refusal(helm, tmp_path, {**REQUIRED, "s3": {**s3, "publicEndpoint": bad}})
        assert "publicEndpoint" in message, message


def test_migrations_hook_runs_first_and_can_be_turned_off(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    (job,) = by_kind(render(helm, tmp_path), "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    mounted = [v for v in pod["volumes"] if "emptyDir" not in v]
    assert mounted == [], "a mounted chart object would not exist yet at pre-install"
    env = {e["name"] for e in pod["containers"][0]["env"]}
    assert env <= contract.env_names(contract.MIGRATE)
    assert not by_kind(render(helm, tmp_path, migrations={"enabled": False}), "Job")


def test_monitoring_objects_come_from_the_contract(helm: Helm, tmp_path: pathlib.Path) -> None:
    documents = render(helm, tmp_path, "--api-versions", "monitoring.coreos.com/v1")
    (rule,) = by_kind(documents, "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    exprs = " ".join(r["expr"] for r in group["rules"])
    assert 'namespace="gochat-system"' in exprs and "NAMESPACE" not in exprs
    assert by_kind(documents, "ServiceMonitor")
    (dashboards,) = [
        c for c in by_kind(documents, "ConfigMap") if c["metadata"]["name"].endswith("dashboards")
    ]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboards["data"]["gochat.json"])["panels"]
    assert not by_kind(render(helm, tmp_path), "ServiceMonitor")  # no CRD, no object


def test_notes_say_how_to_reach_the_api_and_the_gateway(helm: Helm) -> None:
    if helm.run("version", "--template", "{{.Version}}").stdout.startswith("v3"):
        pytest.skip("Helm 3's client-side install --dry-run needs a cluster")
    full = CHART / "ci" / "full-values.yaml"
    out = helm.run("install", "chat", str(CHART), "-f", str(full), "--dry-run=client").stdout
    notes = out[out.index("NOTES:") :]
    assert "https://chat.example.com/" in notes and "wss://chat.example.com/ws" in notes
    assert "http://chat-gochat-api.default.svc:8080" in notes
    assert "ws://chat-gochat-ws.default.svc:8082/ws" in notes


def test_a_config_change_changes_the_pod_hash(helm: Helm, tmp_path: pathlib.Path) -> None:
    def hashes(**values: Any) -> dict[str, str]:
        return {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
                "gochat.dev/config-hash"
            ]
            for d in by_kind(render(helm, tmp_path, **values), "Deployment")
        }

    before, after = hashes(), hashes(logLevel="debug")
    assert all(before[name] != after[name] for name in before)


@pytest.mark.k8s
def test_manifests_pass_restricted_pod_security_and_missing_secret_keys_are_named(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str, tmp_path: pathlib.Path
) -> None:
    k8s, namespace = k8s_control_plane, k8s_namespace
    k8s.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    k8s.kubectl("create", "secret", "generic", "chat-postgres", "-n", namespace,
                "--from-literal=url=postgresql://u:p@pg/db")  # fmt: skip
    k8s.kubectl("create", "secret", "generic", "my-keys", "-n", namespace,
                "--from-literal=key.txt=not-a-pem")  # fmt: skip
    wrong_keys = tmp_path / "wrong-keys.yaml"
    wrong_keys.write_text(yaml.safe_dump({**REQUIRED, "auth": {"jwtSecret": {"name": "my-keys"}}}))
    chart = str(CHART)
    refused = k8s.helm("install", "chat", chart, "-n", namespace, "-f", str(wrong_keys),
                       "--dry-run=server", check=False)  # fmt: skip
    assert refused.returncode != 0
    message = refused.stderr
    assert "Secret chat-postgres has no key" in message and '"dsn"' in message, message
    assert "Secret my-keys has no <kid>.pem key" in message, message
    k8s.kubectl("create", "secret", "generic", "good-keys", "-n", namespace,
                "--from-literal=gochat-1.pem=...",
                "--from-literal=url=postgresql://u:p@pg/db")  # fmt: skip
    good = {"postgres": {"dsnSecret": {"name": "good-keys"}, "dsnKey": "url"},
            "nats": REQUIRED["nats"], "auth": {"jwtSecret": {"name": "good-keys"}}}  # fmt: skip
    wrong_keys.write_text(yaml.safe_dump(good))
    k8s.helm("install", "chat", chart, "-n", namespace, "-f", str(wrong_keys), "--dry-run=server")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(REQUIRED))
    # Under `helm template` lookup finds nothing: no Secret is checked there.
    assert k8s.helm("template", "chat", chart, "-n", namespace, "-f", str(values)).stdout

    for values_file in (values, *CI_VALUES):
        rendered = k8s.helm("template", "chat", chart, "-n", namespace, "-f", str(values_file))
        applied = k8s.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                              input=rendered.stdout, check=False)  # fmt: skip
        assert applied.returncode == 0, f"{values_file.name}: {applied.stderr}"
        # Deployments and Jobs only warn; the bare test Pod is refused outright if it violates.
        assert "PodSecurity" not in applied.stderr, f"{values_file.name}: {applied.stderr}"
        assert "pod/chat-gochat-test" in applied.stdout


def test_the_generated_jwt_key_is_an_ed25519_pkcs8_pem(helm: Helm, tmp_path: pathlib.Path) -> None:
    (secret,) = by_kind(render(helm, tmp_path), "Secret")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    ((kid, pem),) = secret["stringData"].items()
    assert kid.endswith(".pem")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert not by_kind(render(helm, tmp_path, auth={"jwtSecret": {"name": "mine"}}), "Secret")


@pytest.mark.k8s
def test_upgrades_keep_the_jwt_key_and_a_secret_change_rolls_the_pods(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str, tmp_path: pathlib.Path
) -> None:
    k8s, namespace = k8s_control_plane, k8s_namespace
    k8s.kubectl("create", "secret", "generic", "chat-postgres", "-n", namespace,
                "--from-literal=dsn=postgresql://u:p@pg/db")  # fmt: skip
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({**REQUIRED, "migrations": {"enabled": False}}))
    release = ("chat", str(CHART), "-n", namespace, "-f", str(values))

    def state() -> tuple[Any, dict[str, str]]:
        key = k8s.get_json("secret", "chat-gochat-jwt", "-n", namespace)["data"]
        deployments = k8s.get_json("deployment", "-n", namespace)["items"]
        return key, {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
                "gochat.dev/config-hash"
            ]
            for d in deployments
        }

    k8s.helm("install", *release)
    key, api_hash = state()
    k8s.helm("upgrade", *release)
    assert state() == (key, api_hash)
    changed = k8s.kubectl("create", "secret", "generic", "chat-postgres", "-n", namespace,
                          "--from-literal=dsn=postgresql://u:other@pg/db", "--dry-run=client",
                          "-o", "yaml").stdout  # fmt: skip
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=changed)
    k8s.helm("upgrade", *release)
    new_key, new_hash = state()
    assert new_key == key
    # Every service reads the DSN: each rolls.
    assert all(new_hash[name] != api_hash[name] for name in api_hash), (api_hash, new_hash)
    k8s.helm("uninstall", "chat", "-n", namespace)
    assert k8s.get_json("secret", "chat-gochat-jwt", "-n", namespace)["data"] == key


@pytest.mark.k8s
def test_first_install_into_an_empty_restricted_namespace_migrates_then_rolls_out(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str, tmp_path: pathlib.Path
) -> None:
    """On the harness' KWOK nodes (any image "runs", Job pods succeed, pods labelled
    kwok.gochat.dev/fail=true fail): a failed migration hook stops the release before any
    Deployment exists; a successful one lets `helm install --wait` finish."""
    k8s, namespace = k8s_control_plane, k8s_namespace
    if not k8s.simulated_nodes:
        pytest.skip("needs the harness's KWOK nodes (the GoChat image is not pulled here)")
    k8s.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    k8s.kubectl("create", "secret", "generic", "chat-postgres", "-n", namespace,
                "--from-literal=dsn=postgresql://u:p@pg/db")  # fmt: skip
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        yaml.safe_dump(
            {
                **REQUIRED,
                "migrations": {"podLabels": {"kwok.gochat.dev/fail": "true"}, "backoffLimit": 0},
            }
        )
    )
    chart = str(CHART)
    refused = k8s.helm("install", "chat", chart, "-n", namespace, "-f", str(failing),
                       "--wait", "--timeout=90s", check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "chat-gochat-migrate" in refused.stderr, refused.stderr
    deployments = k8s.get_json("deployment", "-n", namespace)["items"]
    assert deployments == [], "pods rolled out although the migration failed"
    k8s.helm("uninstall", "chat", "-n", namespace, check=False)

    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(REQUIRED))
    k8s.helm("install", "chat", chart, "-n", namespace, "-f", str(values),
             "--wait", "--timeout=120s")  # fmt: skip
    job = k8s.get_json("job", "chat-gochat-migrate", "-n", namespace)
    assert job["status"].get("succeeded") == 1
    for deployment in k8s.get_json("deployment", "-n", namespace)["items"]:
        assert deployment["status"].get("readyReplicas") == 2, deployment["metadata"]["name"]
