"""The one console script: `gochat api|auth|ws|indexer|migrate|search|dev`.

Each command is imported lazily so that, say, the migration Job does not import FastAPI.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "api": ("gochat.api.main", "Run the REST API service (default port 8080)."),
    "auth": ("gochat.auth.main", "Run the auth service (default port 8081)."),
    "ws": ("gochat.ws.main", "Run the WebSocket gateway (default port 8082)."),
    "indexer": ("gochat.indexer.main", "Run the search indexer (default port 8083)."),
    "migrate": ("gochat.migrate", "Apply PostgreSQL and CQL migrations and exit."),
    "search": (
        "gochat.search_admin",
        "search reindex: rebuild the OpenSearch index, swap aliases.",
    ),
    "dev": ("gochat.dev", "Run the whole platform on the embedded default."),
}


def usage() -> str:
    lines = ["usage: gochat <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"gochat: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
