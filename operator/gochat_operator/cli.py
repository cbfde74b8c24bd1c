"""`gochat-operator`: run the operator, or print the CRD.

gochat-operator run [--namespace NS ... | --all-namespaces] [--metrics-port 9090]
                    [--liveness http://0.0.0.0:8080/healthz]
gochat-operator crd > crds/gochatclusters.gochat.dev.yaml
gochat-operator chart-schema > charts/gochat-operator/values.schema.json
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gochat-operator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="reconcile GoChatClusters")
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeat)")
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch the whole cluster"
    )
    run.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus /metrics port (0: off)"
    )
    run.add_argument(
        "--liveness", default="http://0.0.0.0:8080/healthz", help="kopf liveness endpoint URL"
    )
    run.add_argument("--verbose", action="store_true")
    commands.add_parser("crd", help="print the CRD YAML")
    commands.add_parser("chart-schema", help="print the operator chart's values.schema.json")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    import kopf
    import prometheus_client

    from gochat_operator import handlers, secret_watch  # noqa: F401  (register the handlers)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kopf logs every handled event at INFO: thousands of lines per minute at scale.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.metrics_port:
        prometheus_client.start_http_server(args.metrics_port)
    kopf.run(
        standalone=True,  # one replica with the Recreate strategy: no peering objects needed
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
        liveness_endpoint=args.liveness or None,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.command == "crd":
        from gochat_operator import crdgen

        sys.stdout.write(crdgen.crd_yaml())
        return
    if args.command == "chart-schema":
        from gochat_operator import chartschema

        sys.stdout.write(chartschema.values_schema_json())
        return
    run(args)
