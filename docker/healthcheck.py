"""HEALTHCHECK of the GoChat images: GET /healthz on the running service's port, exit 0 if 200.

No shell or curl in the image: the check runs with the image's own Python. The port is
`GOCHAT_PORT` when set, else the default port of the service PID 1 runs (`gochat <service>`),
else the operator's liveness port (8080). Kubernetes ignores HEALTHCHECK; `docker run` uses it.
"""

import os
import sys
import urllib.request

DEFAULT_PORTS = {"api": 8080, "auth": 8081, "ws": 8082, "indexer": 8083}


def service_port() -> int:
    if os.environ.get("GOCHAT_PORT"):
        return int(os.environ["GOCHAT_PORT"])
    with open("/proc/1/cmdline", "rb") as cmdline:
        args = [arg.decode(errors="replace") for arg in cmdline.read().split(b"\0")]
    for arg in args:
        if arg in DEFAULT_PORTS:
            return DEFAULT_PORTS[arg]
    return 8080


if __name__ == "__main__":
    url = f"http://127.0.0.1:{service_port()}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        sys.exit(1)
