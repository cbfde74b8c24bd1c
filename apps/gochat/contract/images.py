"""The container images GoChat ships: one source for their names.

The services image (entry point `gochat`) runs api, auth, ws, indexer and migrate; the operator
image (entry point `gochat-operator`) holds kopf and the Kubernetes client, which the services
image does not. The operator's GoChatCluster default, charts/gochat, charts/gochat-operator,
operator/deploy and tests/images/build.py all name these (tests/operator/test_image_names.py).
Both are tagged with the GoChat version unless a tag or digest is given.
"""

from __future__ import annotations

SERVICES = "docker.io/gochat/gochat"
OPERATOR = "docker.io/gochat/gochat-operator"
