"""Why PostgreSQL search takes the time it does: the plans of the search benchmark's queries.

    .venv/bin/python -m bench.dataplane.explain_search [--documents 200000] [--per-shape 2]

Starts its own PostgreSQL (the benchmark's settings), loads the search benchmark's documents
through `PostgresSearchIndex.upsert`, vacuums and analyses, then runs the first queries of each
shape through the adapter, each of its statements first run under `EXPLAIN (ANALYZE, BUFFERS)`
with the same arguments on a connection of its own, and prints the plans (`--generic`:
the plan made without the arguments' values, which a reused prepared statement may switch
to); then times twelve executions of each shape on one connection, where a statement that
goes generic after its fifth run shows as a jump (the by-author shape did, 4 -> 50 ms, until
4005831). The adapter is used as it is: only the connection it is handed is wrapped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from bench.dataplane import search, servers
from gochat.adapters.postgres import database, migrations
from gochat.adapters.postgres import search as pg_search
from gochat.embedded import postgres, process

_LONG_ARRAY = re.compile(r"'\{[0-9,]{100,}\}'")


def _count_ids(match: re.Match[str]) -> str:
    return f"'{{{match.group(0).count(',') + 1} ids}}'"


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "'{" + ",".join(str(int(item)) for item in value) + "}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


class ExplainingConnection:
    """The adapter's connection, unchanged, except that each query it reads with is first
    explained on a connection of its own (`explainer`), so nothing about the adapter's session
    (its prepared statements, its settings) is touched."""

    def __init__(self, conn: Any, explainer: Any, plans: list[str], *, generic: bool) -> None:
        self._conn, self._explainer, self._plans, self.generic = conn, explainer, plans, generic

    async def _explain(self, sql: str, args: tuple[Any, ...]) -> None:
        explainer = self._explainer
        if self.generic:  # planned without the arguments' values, as a reused statement may be
            await explainer.execute(f"PREPARE bench_explained AS {sql}")
            await explainer.execute("SET plan_cache_mode = force_generic_plan")
            # EXECUTE takes no bound parameters: the arguments go in as literals.
            literals = ", ".join(_literal(arg) for arg in args)
            rows = await explainer.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_explained({literals})"
            )
            await explainer.execute("DEALLOCATE bench_explained; RESET plan_cache_mode")
        else:
            rows = await explainer.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        plan = "\n".join(_LONG_ARRAY.sub(_count_ids, row[0]) for row in rows)
        self._plans.append(" ".join(sql.split())[:160] + "\n" + plan)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._conn.execute(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self._conn.fetchval(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self._conn.fetch(sql, *args)


class ExplainingDatabase(database.Database):
    plans: list[str]
    generic: bool
    explainer: Any  # an asyncpg connection of its own

    def _wrap(self, conn: Any) -> ExplainingConnection:
        return ExplainingConnection(conn, self.explainer, self.plans, generic=self.generic)

    @contextlib.asynccontextmanager
    async def connection(self, name: str) -> AsyncIterator[Any]:
        async with super().connection(name) as conn:
            yield self._wrap(conn)

    @contextlib.asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[Any]:
        async with super().transaction(name) as conn:
            yield self._wrap(conn)


async def explain(dsn: str, *, documents: int, per_shape: int, generic: bool) -> None:
    await migrations.apply(dsn, migrations.default_directory())
    # One connection: every query reuses its prepared statements, as a busy API's pool does.
    plain = await database.Database.connect(dsn, service="bench-explain", min_size=1, max_size=1)
    db = ExplainingDatabase(plain.pool, service="bench-explain")
    db.plans, db.generic = [], generic
    db.explainer = await asyncpg.connect(dsn)
    guild = search.Guild(documents)
    index = pg_search.PostgresSearchIndex(db)
    await search.load(index, guild.documents(0, documents, random.Random(1)))
    async with plain.connection("bench_vacuum_search") as conn:
        await conn.execute("VACUUM ANALYZE search_documents")
    for shape, queries in guild.queries(per_shape, seed=3).items():
        for query in queries:
            db.plans.clear()
            result = await index.search(query)
            print(f"\n=== {shape}: {query.text!r}, total {result.total}")
            print("\n\n".join(db.plans))
    # asyncpg prepares each statement once per connection; PostgreSQL plans the first five
    # executions with their arguments, then may keep a generic plan: time each execution.
    plain_index = pg_search.PostgresSearchIndex(plain)
    print("\n=== milliseconds per execution, in order, the same statement each time")
    for shape, queries in guild.queries(12, seed=5).items():
        timings = []
        for query in queries:
            began = time.perf_counter()
            await plain_index.search(query)
            timings.append(f"{(time.perf_counter() - began) * 1000:.1f}")
        print(f"{shape}: {' '.join(timings)}")
    await db.explainer.close()
    await plain.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--per-shape", type=int, default=2)
    parser.add_argument("--generic", action="store_true", help="show the generic plans")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gochat-bench-explain-") as folder:
        Path(folder).chmod(0o711)
        pg = postgres.EmbeddedPostgres(
            data_dir=Path(folder) / "pg", port=process.free_port(),
            settings=servers.POSTGRES_SETTINGS,
        )  # fmt: skip
        with pg:
            asyncio.run(
                explain(
                    pg.dsn, documents=args.documents, per_shape=args.per_shape,
                    generic=args.generic,
                )
            )  # fmt: skip


if __name__ == "__main__":
    main()
