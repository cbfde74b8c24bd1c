"""The HTTP skeleton shared by every service, exercised on a tiny app."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, ConfigDict

from gochat.core import errors, http, logs


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def _app(*, failing_check: bool = False) -> FastAPI:
    async def check() -> None:
        if failing_check:
            raise ConnectionError("db down")

    app = http.create_app(
        service="unit", title="t", max_body_bytes=2048, readiness_checks=[("db", check)]
    )

    @app.post("/things")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/limited")
    async def limited() -> None:
        raise errors.RateLimited(2.2, "login")

    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_unexpected_errors_never_leak_details() -> None:
    async with await _client(_app()) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": None}
    }
    assert "passwd" not in response.text


async def test_unexpected_errors_carry_the_request_id_and_are_counted() -> None:
    async with await _client(_app()) as client:
        echoed = await client.get("/boom", headers={"X-Request-Id": "trace-me-500"})
        made = await client.get("/boom")
        metrics = (await client.get("/metrics")).text
    assert echoed.status_code == made.status_code == 500
    assert echoed.headers["x-request-id"] == "trace-me-500"
    assert len(made.headers["x-request-id"]) == 32
    assert echoed.json()["error"]["code"] == "internal_error"
    assert 'route="/boom",service="unit",status="500"' in metrics


async def test_rate_limit_sets_retry_after() -> None:
    async with await _client(_app()) as client:
        response = await client.get("/limited")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


async def test_body_limit_applies_to_declared_and_streamed_bodies() -> None:
    async with await _client(_app()) as client:
        declared = await client.post("/things", json={"name": "x" * 4000})
        assert declared.status_code == 413

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 500

        streamed = await client.post(
            "/things", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
    assert streamed.json() == {
        "error": {
            "code": "payload_too_large",
            "message": "body exceeds 2048 bytes",
            "details": {"max_bytes": 2048},
        }
    }
    assert declared.json() == streamed.json()


async def test_a_refused_body_gets_a_request_id_and_reaches_no_handler() -> None:
    app = _app()
    reached = []

    @app.post("/count")
    async def count() -> None:
        reached.append(True)

    async with await _client(app) as client:
        response = await client.post(
            "/count", content=b"x" * 3000, headers={"X-Request-ID": "big-1"}
        )
    assert response.status_code == 413 and response.headers["x-request-id"] == "big-1"
    assert not reached


async def test_a_streamed_body_within_the_limit_reaches_the_handler_whole() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        yield b"y" * 1000
        yield b'"}'

    async with await _client(_app()) as client:
        response = await client.post(
            "/things", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200 and response.json() == {"name": "y" * 1000}


async def test_readiness_reports_the_failing_dependency() -> None:
    async with await _client(_app(failing_check=True)) as client:
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.json()["error"]["details"] == {"db": "ConnectionError: db down"}


async def test_request_id_is_echoed_or_made() -> None:
    async with await _client(_app()) as client:
        echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made = await client.get("/healthz")
    assert echoed.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32


async def test_unprintable_or_empty_request_ids_are_replaced_and_long_ones_cut() -> None:
    async with await _client(_app()) as client:
        empty = await client.get("/healthz", headers={"X-Request-ID": ""})
        control = await client.get("/healthz", headers={"X-Request-ID": "a\tb"})
        long = await client.get("/healthz", headers={"X-Request-ID": "z" * 100})
    assert len(empty.headers["x-request-id"]) == 32
    assert control.headers["x-request-id"] != "a\tb"
    assert long.headers["x-request-id"] == "z" * 64


async def test_made_request_ids_are_distinct_hex() -> None:
    async with await _client(_app()) as client:
        made = [(await client.get("/healthz")).headers["x-request-id"] for _ in range(500)]
    assert len(set(made)) == len(made)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in made)


def test_request_ids_differ_between_processes_and_after_fork() -> None:
    script = "from gochat.core import http; print(http.RequestIds().next())"
    spawned = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(spawned) == 3

    ids = http.RequestIds()
    parent = ids.next()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the forked child writes its next id and leaves at once
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    in_child = os.read(read, 64).decode()
    os.close(read)
    assert len(in_child) == 32 and in_child[:20] != parent[:20]
    assert ids.next() not in {parent, in_child}


def test_json_logs_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(service="unit", level="info", fmt="json")
    token = logs.request_id_var.set("req-9")
    try:
        logging.getLogger("gochat.test").info("hello", extra={"guild_id": 5})
    finally:
        logs.request_id_var.reset(token)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["msg"] == "hello" and line["request_id"] == "req-9"
    assert line["service"] == "unit" and line["guild_id"] == 5


async def test_with_tracing_on_a_request_makes_one_server_span_continuing_the_caller(
    exported_spans: InMemorySpanExporter,
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with await _client(_app()) as client:
        response = await client.post(
            "/things",
            json={"name": "x"},
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
    assert response.status_code == 200
    [span] = exported_spans.get_finished_spans()
    assert span.name == "POST /things" and span.kind == otel_trace.SpanKind.SERVER
    assert span.attributes == {"http.route": "/things", "http.response.status_code": 200}
    assert f"{span.context.trace_id:032x}" == trace_id
