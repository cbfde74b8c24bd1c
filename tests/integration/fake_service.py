"""A stand-in for a GoChat service, for the `gochat dev` supervisor tests.

Serves /readyz on GOCHAT_HOST:GOCHAT_PORT, writes the GOCHAT_* environment it got to
`<report_dir>/<port>.env.json`, starts a grandchild (`sleep`) that must not outlive it, and
with `--die-after SECONDS` exits with code 3 on its own, as a crashing service would.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import threading
from pathlib import Path


class ReadyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path in {"/readyz", "/healthz"} else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--die-after", type=float)
    args = parser.parse_args()
    port = int(os.environ["GOCHAT_PORT"])
    gochat_env = {k: v for k, v in os.environ.items() if k.startswith("GOCHAT_")}
    grandchild = subprocess.Popen(["sleep", "1000"])
    report = {"env": gochat_env, "pid": os.getpid(), "grandchild": grandchild.pid}
    (args.report_dir / f"{port}.env.json").write_text(json.dumps(report))
    if args.die_after is not None:
        threading.Timer(args.die_after, os._exit, args=(3,)).start()
    server = http.server.ThreadingHTTPServer((os.environ["GOCHAT_HOST"], port), ReadyHandler)
    print(f"fake service listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
