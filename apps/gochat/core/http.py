"""The HTTP skeleton every service shares: error envelope, request ids, body limit, metrics,
/healthz, /readyz and /metrics. Services add their routers to the app this returns."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gochat.core import errors, metrics, tracing, workers
from gochat.core.logs import request_id_var

log = logging.getLogger(__name__)
_tracer = tracing.tracer(__name__)
ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "model": None,
        "content": {
            "application/json": {
                "example": {"error": {"code": code, "message": text, "details": None}}
            }
        },
    }
    for status, code, text in [
        (400, "bad_request", "Malformed request"),
        (401, "unauthorized", "Missing or invalid access token"),
        (403, "forbidden", "Not allowed"),
        (404, "not_found", "No such resource"),
        (409, "conflict", "Conflicts with the current state"),
        (413, "payload_too_large", "Body over the size limit"),
        (422, "validation_error", "A field is invalid; details name it"),
        (429, "rate_limited", "Too many requests; see Retry-After"),
    ]
}


def envelope(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
    )


def create_app(
    *,
    service: str,
    title: str,
    max_body_bytes: int,
    lifespan: Lifespan | None = None,
    readiness_checks: Sequence[tuple[str, ReadinessCheck]] = (),
) -> FastAPI:
    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan, responses=ERROR_RESPONSES)
    _install_error_handlers(app)
    app.add_middleware(_MetricsMiddleware, service=service)
    app.add_middleware(_BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(_RequestIdMiddleware, worker=workers.worker_index())
    _install_probes(app, readiness_checks)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.GoChatError)
    async def _gochat_error(_: Request, exc: errors.GoChatError) -> JSONResponse:
        return envelope(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_describe(err) for err in exc.errors()]
        if any(p["reason"].startswith("JSON decode error") for p in problems):
            return envelope(400, "malformed_json", "request body is not valid JSON", problems)
        first = problems[0]
        return envelope(422, "validation_error", f"{first['field']}: {first['reason']}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return envelope(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log everything, tell the client nothing about internals.
        log.exception("unhandled error", extra={"path": request.url.path})
        return envelope(500, "internal_error", "internal server error")


def _describe(err: dict[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
    field = ".".join(loc) or "body"
    reason = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        reason = "unknown field"
    return {"field": field, "reason": reason}


def _install_probes(app: FastAPI, checks: Sequence[tuple[str, ReadinessCheck]]) -> None:
    @app.get("/healthz", tags=["ops"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: every dependency is reachable")
    async def readyz() -> JSONResponse:
        failing: dict[str, str] = {}
        for name, check in checks:
            try:
                await check()
            except Exception as exc:  # a probe reports, it never raises
                failing[name] = f"{type(exc).__name__}: {exc}"[:200]
        if failing:
            return envelope(503, "not_ready", "dependencies unreachable", failing)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=True)
    async def prometheus_metrics() -> Response:
        return Response(_all_workers_metrics(), media_type=CONTENT_TYPE_LATEST)


def _all_workers_metrics() -> bytes:
    """This process's metrics, or with several workers (core/workers.py) all of theirs summed:
    a scrape reaches one worker, and must not see counters that jump between workers."""
    if workers.METRICS_ENV not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


class _RequestIdMiddleware:
    """X-Request-Id on every response (the caller's, or a new one); and when the process is
    one of several workers on a port, X-Gochat-Worker with its index (core/workers.py)."""

    def __init__(self, app: ASGIApp, worker: int | None = None) -> None:
        self.app = app
        self.extra_headers = [] if worker is None else [(b"x-gochat-worker", b"%d" % worker)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(self.extra_headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class _BodyLimitMiddleware:
    """Refuse bodies over the limit before any handler runs (by header, and while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        # Read the whole body first (it is small by definition) so an over-long stream is
        # refused with 413 before any handler sees a byte of it.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope(
            413,
            "payload_too_large",
            f"body exceeds {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
        )
        await response(scope, receive, send)


class _MetricsMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope.get("method", "GET")
        if not tracing.recording():
            # No spans to export: skip building them (~4 % of a send's CPU), but still continue
            # the caller's trace (W3C traceparent) so it reaches the events this request causes.
            token = tracing.attach_incoming(scope["headers"])
            try:
                await self.app(scope, receive, record_status)
            finally:
                tracing.detach(token)
                self._record(method, _route_template(scope), status, started)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with _tracer.start_as_current_span(
            f"HTTP {method}", context=tracing.extract_context(headers), kind=SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, record_status)
            finally:
                template = _route_template(scope)
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                self._record(method, template, status, started)

    def _record(self, method: str, template: str, status: int, started: float) -> None:
        metrics.HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
        metrics.HTTP_LATENCY.labels(self.service, method, template).observe(
            time.perf_counter() - started
        )


def _route_template(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", None) or "unmatched"
