"""The production profile: charts/gochat on Cassandra (messages), OpenSearch (search) and MinIO
(attachments, S3), beside PostgreSQL and NATS, all from deploy/backends/ in the release's
namespace. `helm install` (its migration hook creates the keyspace, the tables, the index
template, index and aliases), `helm test`, the same user flow as the helm path plus a file
shared through the S3 path, and then evidence from inside the cluster that each backend really
holds the data: the messages are rows in Cassandra and not in PostgreSQL, the search documents
are in OpenSearch and not in PostgreSQL, the file is an object in the MinIO bucket."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import yaml

from gochat.contract import images as image_names
from gochat.embedded import opensearch
from tests.e2e import user_flow
from tests.e2e.kind import access, backend_images, backends, platform, test_helm_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

RELEASE = test_helm_path.RELEASE

# Runs on the GoChat image (its drivers), inside the cluster: where each message, search
# document and file is. JSON on stdout.
EVIDENCE = """
import asyncio, json, os, time, urllib.error, urllib.request
import asyncpg, boto3
from botocore.config import Config
from cassandra.cluster import Cluster
from cassandra.policies import DCAwareRoundRobinPolicy

channel = int(os.environ["CHANNEL_ID"])
ids = [int(each) for each in os.environ["MESSAGE_IDS"].split(",")]
out = {}

cluster = Cluster(
    [os.environ["CASSANDRA_HOST"]], protocol_version=5,
    load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=os.environ["LOCAL_DC"]),
)
session = cluster.connect("gochat")
rows = session.execute(
    "SELECT message_id, content, attachments FROM messages WHERE channel_id = %s ALLOW FILTERING",
    [channel],
)
out["cassandra"] = {
    str(row.message_id): {"content": row.content, "attachments": row.attachments} for row in rows
}
cluster.shutdown()

def indexed(message_id):
    url = f"{os.environ['OPENSEARCH_URL']}/gochat-messages.read/_doc/{message_id}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return json.loads(reply.read())["_source"]["content"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise

deadline = time.monotonic() + 60  # the indexer feeds OpenSearch from the event stream
out["opensearch"] = {}
for message_id in ids:
    while (content := indexed(message_id)) is None and time.monotonic() < deadline:
        time.sleep(1)
    out["opensearch"][str(message_id)] = content

s3 = boto3.client(
    "s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
    aws_access_key_id=os.environ["S3_KEY_ID"], aws_secret_access_key=os.environ["S3_SECRET"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
)
listed = s3.list_objects_v2(Bucket=os.environ["S3_BUCKET"], Prefix=f"attachments/{channel}/")
out["s3"] = {
    item["Key"]: s3.get_object(Bucket=os.environ["S3_BUCKET"], Key=item["Key"])["Body"]
    .read().decode()
    for item in listed.get("Contents", [])
}

async def postgres():
    conn = await asyncpg.connect(os.environ["DSN"])
    try:
        return {
            "messages": await conn.fetchval(
                "SELECT count(*) FROM messages WHERE channel_id = $1", channel),
            "search_documents": await conn.fetchval(
                "SELECT count(*) FROM search_documents WHERE channel_id = $1", channel),
        }
    finally:
        await conn.close()

out["postgres"] = asyncio.run(postgres())
print(json.dumps(out))
"""


def test_each_manifest_runs_its_image_as_the_restricted_policy_wants() -> None:
    """No cluster needed: every deploy/backends/ StatefulSet names the image the harness builds
    (the tags come from the same pins as the embedded servers) and meets the restricted Pod
    Security Standard, with its data on a claim."""
    for image in backend_images.IMAGES:
        documents = yaml.safe_load_all((backend_images.DEPLOY / f"{image.folder}.yaml").read_text())
        [workload] = [d for d in documents if d["kind"] == "StatefulSet"]
        pod = workload["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["image"] == backend_images.reference(image), image.folder
        assert pod["securityContext"]["runAsNonRoot"] is True, image.folder
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, image.folder
        assert "readinessProbe" in container, image.folder
        [claim] = workload["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data", image.folder
        assert any(m["name"] == "data" for m in container["volumeMounts"]), image.folder


def test_the_opensearch_image_compiles_the_embedded_servers_launcher() -> None:
    """No cluster needed: the image's launcher is the embedded server's source file, staged into
    its build (and so into its content key), with no copy of its own in the image's folder."""
    image = backend_images.OPENSEARCH
    launcher = opensearch.LAUNCHER_SOURCE
    sources = [
        (name, path) for name, path in backend_images._inputs(image) if name.endswith(".java")
    ]
    assert sources == [(launcher.name, launcher)]
    assert f"COPY {launcher.name} " in (image.source() / "Dockerfile").read_text()
    entrypoint = (image.source() / "entrypoint.sh").read_text()
    assert (
        f" {opensearch.LAUNCHER_CLASS} /var/lib/opensearch/node gochat 0.0.0.0 9200 " in entrypoint
    )


def test_the_user_flow_runs_on_cassandra_opensearch_and_minio(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    tag = gochat_images[image_names.SERVICES]
    sent: list[httpx.URL] = []
    with backends.namespace(kube, "e2e-production") as namespace:
        deployed = backends.deploy(kube, namespace, profile="production", timeout=420)
        data_plane = deployed.data_plane
        assert data_plane is not None
        timings["backends ready"] = time.monotonic() - started
        with (
            # The address this test reaches MinIO at is the one GoChat signs its upload and
            # download URLs for (s3.publicEndpoint), while the API's own S3 calls go to the
            # in-cluster Service (s3.endpoint).
            kube.port_forward(namespace, "svc/minio", 9000) as public_minio,
            httpx.Client(
                timeout=30, event_hooks={"request": [lambda request: sent.append(request.url)]}
            ) as storage,
        ):
            forwarded = httpx.URL(public_minio)
            public = (forwarded.scheme, forwarded.host, forwarded.port)
            values = test_helm_path._values(deployed, tag)
            settings = [*data_plane.chart_values(), f"s3.publicEndpoint={public_minio}"]
            values += [arg for value in settings for arg in ("--set", value)]
            tested = test_helm_path.install_and_test(
                kube, namespace=namespace, values=values, wait="420s", timings=timings,
                started=started,
            )  # fmt: skip
            assert "posted and read back" in tested, tested
            with platform.endpoints(kube, namespace, RELEASE) as endpoints:
                walked = user_flow.walk(
                    endpoints, platform.mail_reader(kube, namespace), names=("eve", "fay"),
                    storage=storage,
                )  # fmt: skip
            shared = walked.shared
            assert shared is not None
            # The upload and the download went to the address the URLs were signed for.
            assert [(url.scheme, url.host, url.port) for url in sent] == [public] * 2, sent
        timings["user flow"] = time.monotonic() - started

        output = backends.run_python_job(
            kube,
            namespace=namespace,
            name="evidence",
            image=f"{image_names.SERVICES}:{tag}",
            script=EVIDENCE,
            env={
                "CHANNEL_ID": walked.channel_id,
                "MESSAGE_IDS": ",".join([*walked.message_ids, shared.message_id]),
                "CASSANDRA_HOST": data_plane.cassandra_host,
                "LOCAL_DC": data_plane.local_dc,
                "OPENSEARCH_URL": data_plane.opensearch_url,
                "S3_ENDPOINT": data_plane.s3_endpoint,
                "S3_BUCKET": data_plane.s3_bucket,
            },
            secret_env={
                "DSN": (deployed.dsn_secret, "dsn"),
                "S3_KEY_ID": (data_plane.s3_secret, "accessKeyId"),
                "S3_SECRET": (data_plane.s3_secret, "secretAccessKey"),
            },
            timeout=180,
        )
        timings["evidence"] = time.monotonic() - started
        evidence = json.loads(output.strip().splitlines()[-1])
        first, second = walked.message_ids
        stored = evidence["cassandra"]
        assert {k: v["content"] for k, v in stored.items()} == {
            first: "Dune, anyone?",
            second: "Yes! Chapter 1",
            shared.message_id: "The book",
        }, evidence
        [attachment] = json.loads(stored[shared.message_id]["attachments"])
        assert str(attachment["id"]) == str(shared.attachment_id), attachment
        assert evidence["opensearch"] == {
            first: "Dune, anyone?",
            second: "Yes! Chapter 1",
            shared.message_id: "The book",
        }, evidence
        assert evidence["s3"] == {attachment["key"]: shared.content.decode()}, evidence
        assert evidence["postgres"] == {"messages": 0, "search_documents": 0}, evidence
        kube.helm("uninstall", RELEASE, "-n", namespace, "--wait")
    print({step: round(seconds) for step, seconds in timings.items()})
