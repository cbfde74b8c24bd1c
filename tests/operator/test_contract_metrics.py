"""The metric catalogue (`gochat.contract.metrics`) against what the processes really export.

The services are started as `make dev` starts them (real PostgreSQL and NATS, every service its
own process) and the operator's metrics module is served as `gochat-operator run` serves it;
their `/metrics` is scraped after a little traffic. Every catalogued metric must be there with
its type and labels, every exported `gochat_*` metric must be catalogued, and every metric a
dashboard, alert or HPA of the operator names must be catalogued with the labels it selects on
and exported by the processes the catalogue names.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import prometheus_client
import pytest
from prometheus_client import parser

from gochat import dev
from gochat.client import gateway
from gochat.contract import metrics as catalogue
from gochat.contract import services as contract
from gochat.embedded import process
from gochat_operator.specs import bundle, monitoring
from tests.fixtures import accounts
from tests.operator import cluster_inputs

SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")

# What `gochat-operator run` imports before serving /metrics (cli.run), nothing more.
OPERATOR_METRICS = """
import sys, time, prometheus_client
from gochat_operator import handlers, secret_watch
prometheus_client.start_http_server(int(sys.argv[1]), addr="127.0.0.1")
time.sleep(600)
"""


class Scrape:
    """One target's /metrics: family name -> (type, label names seen, sample count)."""

    def __init__(self, text: str) -> None:
        self.families: dict[str, tuple[str, set[str], int]] = {}
        for family in parser.text_string_to_metric_families(text):
            if family.name.endswith("_created"):
                continue  # the creation-time companions prometheus_client adds to counters
            name = f"{family.name}_total" if family.type == "counter" else family.name
            labels = {k for s in family.samples for k in s.labels} - {"le", "quantile"}
            self.families[name] = (family.type, labels, len(family.samples))


def scrape(port: int) -> Scrape:
    url = f"http://127.0.0.1:{port}{contract.METRICS_PATH}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return Scrape(response.read().decode())


def traffic(urls: dict[str, str], *, keys_dir: Path) -> None:
    """A little of what users do, so labelled metrics have samples."""
    for component in contract.COMPONENTS:
        for path in (contract.LIVENESS_PATH, contract.READINESS_PATH):
            assert httpx.get(f"{urls[component]}{path}").status_code == 200, (component, path)
    with httpx.Client(base_url=urls["auth"]) as auth:
        body = {"username": "scraper", "email": "scraper@example.com", "password": "x" * 16}
        assert auth.post("/auth/register", json=body).status_code == 201
        auth.post("/auth/login", json={"login": "scraper", "password": "x" * 16})
    asyncio.run(gateway_traffic(urls, keys_dir=keys_dir))


async def gateway_traffic(urls: dict[str, str], *, keys_dir: Path) -> None:
    """An IDENTIFY and a message delivered to it: the gateway's identify and delivery metrics."""
    user = await accounts.create_account(urls["postgres"], keys_dir, password="y" * 16)
    headers = {"Authorization": f"Bearer {user.access_token}"}
    ws_url = urls["ws"].replace("http://", "ws://") + contract.WS_PATH
    async with httpx.AsyncClient(base_url=urls["api"], headers=headers, timeout=30) as api:
        guild = (await api.post("/guilds", json={"name": "scrape"})).json()
        channel = await api.post(f"/guilds/{guild['id']}/channels", json={"name": "scrape"})
        client = await gateway.GatewayClient.connect(ws_url)
        await client.identify(user.access_token)
        posted = await api.post(
            f"/channels/{channel.json()['id']}/messages", json={"content": "hi"}
        )
        assert posted.status_code == 201, posted.text
        await client.wait_for("MESSAGE_CREATE")
        await client.close()


@pytest.fixture(scope="module")
def scrapes() -> Iterator[dict[str, Scrape]]:
    root = Path(tempfile.mkdtemp(prefix="gochat-contract-"))
    services = [
        dev.Service(s.name, process.free_port(), s.command) for s in dev.available_services({})
    ]
    platform = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=io.StringIO(),
        ready_timeout=90,
    )
    operator_port = process.free_port()
    operator = subprocess.Popen([sys.executable, "-c", OPERATOR_METRICS, str(operator_port)])
    try:
        platform.start()
        traffic(platform.urls, keys_dir=root / "jwt")
        result = {service.name: scrape(service.port) for service in services}
        assert process.wait_until(lambda: _answers(operator_port), timeout=30)
        result[catalogue.OPERATOR] = scrape(operator_port)
        yield result
    finally:
        operator.terminate()
        operator.wait(timeout=10)
        platform.stop()
        shutil.rmtree(root, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def used_selectors() -> list[tuple[str, str, set[str]]]:
    """(where, metric, label names matched) for every selector the operator renders."""
    cluster_input = cluster_inputs.cluster_input("full", prometheus=True)
    expressions = [
        (f"alert {r['alert']}", r["expr"]) for r in monitoring.alert_rules(cluster_input)
    ]
    for panel in monitoring.dashboard(cluster_input)["panels"]:
        targets = panel.get("targets", [])  # the alert list panel queries nothing
        expressions += [(f"panel {panel['title']}", t["expr"]) for t in targets]
    result = []
    for where, expr in expressions:
        found = SELECTOR.findall(expr)
        assert found, f"{where}: no metric selector in {expr!r}"
        # kube_* series come from kube-state-metrics, not from a GoChat process.
        result += [
            (where, name, set(MATCHER.findall(matchers)))
            for name, matchers in found
            if not name.startswith("kube_")
        ]
    hpas = [
        m
        for m in bundle.render_children(cluster_input).workloads
        if m["kind"] == "HorizontalPodAutoscaler"
    ]
    for hpa in hpas:
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Pods":
                result.append(
                    (f"HPA {hpa['metadata']['name']}", metric["pods"]["metric"]["name"], set())
                )
    assert any(where.startswith("HPA") for where, _, _ in result)
    return result


def test_every_metric_the_operator_queries_is_catalogued_with_those_labels() -> None:
    series = catalogue.by_series_name()
    for where, name, labels in used_selectors():
        if name in catalogue.SCRAPE_SERIES:
            assert labels <= catalogue.TARGET_LABELS, (where, name, labels)
            continue
        assert name in series, f"{where}: {name} is no metric any GoChat process exports"
        known = set(series[name].labels) | catalogue.TARGET_LABELS
        assert labels <= known, f"{where}: {name} has no label {sorted(labels - known)}"


@pytest.mark.slow
def test_every_catalogued_metric_is_exported_with_its_type_and_labels(
    scrapes: dict[str, Scrape],
) -> None:
    for metric in catalogue.CATALOGUE:
        for service in sorted(metric.services):
            exported = scrapes[service].families
            assert metric.name in exported, f"{service} does not export {metric.name}"
            kind, labels, samples = exported[metric.name]
            assert kind == metric.type, (service, metric.name, kind)
            if samples:
                assert labels == set(metric.labels), (service, metric.name, labels)


@pytest.mark.slow
def test_every_exported_gochat_metric_is_catalogued(scrapes: dict[str, Scrape]) -> None:
    names = {metric.name for metric in catalogue.CATALOGUE}
    for service, scraped in scrapes.items():
        missing = {n for n in scraped.families if n.startswith("gochat_")} - names
        assert not missing, f"{service} exports {sorted(missing)}: add them to gochat.contract"


@pytest.mark.slow
def test_every_metric_the_operator_queries_is_exported_by_a_running_process(
    scrapes: dict[str, Scrape],
) -> None:
    """Exported by the processes the catalogue names, with the queried labels where samples
    show labels. (That every query returns series under load is the Prometheus test's job:
    resumes, dead letters or reconciles need traffic this scrape does not make.)"""
    series = catalogue.by_series_name()
    for where, name, labels in used_selectors():
        if name in catalogue.SCRAPE_SERIES:
            continue
        metric = series[name]
        for service in metric.services:
            kind, seen, samples = scrapes[service].families.get(metric.name, ("", set(), 0))
            assert kind == metric.type, f"{where}: {service} does not export {metric.name}"
            own = labels - catalogue.TARGET_LABELS
            if samples:
                assert own <= seen, f"{where}: {service}'s {metric.name} lacks {own - seen}"


# The modules that define the services' metrics (imported as the services import them).
METRIC_MODULES = (
    "gochat.core.metrics",
    "gochat.api.metrics",
    "gochat.auth.metrics",
    "gochat.ws.metrics",
    "gochat.indexer.metrics",
    "gochat.adapters.mail_retry",
    "gochat.adapters.postgres.outbox_relay",
    "gochat.adapters.opensearch.search",
    "gochat_operator.metrics",
)


def test_every_catalogued_metric_has_the_help_its_process_gives_it() -> None:
    """The catalogue's help is what `# HELP` says (read from the metric objects: a
    multi-process /metrics answers with a placeholder help)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    exported = {
        family.name: family.documentation for family in prometheus_client.REGISTRY.collect()
    }
    for metric in catalogue.CATALOGUE:
        name = metric.name.removesuffix("_total") if metric.type == "counter" else metric.name
        assert name in exported, f"{metric.name}: defined in none of {METRIC_MODULES}"
        assert exported[name] == metric.help, metric.name
