"""The HTTP skeleton every service shares: error envelope, request ids, body limit, metrics,
/healthz, /readyz and /metrics. Services add their routers to the app this returns."""

from __future__ import annotations

import functools
import itertools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from opentelemetry.trace import SpanKind
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gochat.core import errors, ids, metrics, tracing, workers
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
    app = FastAPI(
        title=title,
        version="0.1.0",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        # _RequestMiddleware makes our spans and metrics. FastAPI's own (0.165+) would add a
        # second server span per request once a tracer provider is installed, and even with
        # none it checks the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.router.route_class = StrictQueryRoute
    app.openapi = functools.partial(_openapi_with_exact_bounds, app)  # type: ignore[method-assign]
    _install_error_handlers(app)
    app.add_middleware(
        _RequestMiddleware,
        service=service,
        max_bytes=max_body_bytes,
        worker=workers.worker_index(),
    )
    _install_probes(app, readiness_checks)
    return app


def _openapi_with_exact_bounds(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with `minimum`/`maximum` as exact integers: its OpenAPI model holds
    them as floats, which turns the largest id 2^63-1 into 2^63 (an id the API refuses)."""
    if app.openapi_schema is None:
        _exact_bounds(FastAPI.openapi(app))
    return app.openapi_schema  # type: ignore[return-value]


def _exact_bounds(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("minimum", "maximum") and isinstance(value, float) and value.is_integer():
                node[key] = ids.MAX_ID if value == float(ids.MAX_ID) else int(value)
            else:
                _exact_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_bounds(item)


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
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route whose path matched.
            headers["Allow"] = ", ".join(sorted(_allowed_methods(app.routes, request.scope)))
        if exc.detail == _UNPARSABLE_BODY:  # not UTF-8, or nested deeper than json can read
            return envelope(400, "malformed_json", "request body is not valid JSON")
        fallback = "internal_error" if exc.status_code >= 500 else "bad_request"
        code = HTTP_ERROR_CODES.get(exc.status_code, fallback)
        return envelope(exc.status_code, code, str(exc.detail), None, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only what escapes before _RequestMiddleware (which answers the rest itself, with the
        # request id): log everything, tell the client nothing about internals.
        log.exception("unhandled error", extra={"path": request.url.path})
        return _internal_error()


# What FastAPI raises when the body cannot be decoded at all (json.loads failed otherwise than
# with a JSONDecodeError: invalid UTF-8, a RecursionError on deep nesting).
_UNPARSABLE_BODY = "There was an error parsing the body"
# The code of an error raised by the framework itself (routing, body parsing), by status; any
# other 4xx is `bad_request` (5xx `internal_error`), so every code a client sees is one
# docs/api.md lists.
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def _allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route serves at the request's path (a resource's GET, PATCH and
    DELETE are separate routes)."""
    methods: set[str] = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI's include_router keeps the router (no prefix here)
            methods |= _allowed_methods(included.routes, scope)
            continue
        match, _ = route.matches({**scope, "method": "\x00"})
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


def _internal_error() -> JSONResponse:
    return envelope(500, "internal_error", "internal server error")


def _describe(err: dict[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
    field = ".".join(loc) or "body"
    reason = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        reason = "unknown parameter" if loc[:1] == ["query"] else "unknown field"
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

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
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


class RequestIds:
    """Request ids unique across processes without uuid4's cost per request (a urandom call
    and a UUID object, ~1.3 µs): 32 hex digits, a random 80-bit prefix drawn once per process
    (again in a forked child) followed by a 48-bit counter."""

    def __init__(self) -> None:
        self._draw_prefix()
        os.register_at_fork(after_in_child=self._draw_prefix)

    def _draw_prefix(self) -> None:
        self._prefix = secrets.token_hex(10)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):012x}"


_REQUEST_IDS = RequestIds()


class _RequestMiddleware:
    """What every HTTP request gets, in one layer: each layer wraps `send` once more and the
    response passes through every wrapper, so three middlewares cost a send three times.

    In order: X-Request-Id on every response (the caller's, or a new one) and, when the
    process is one of several workers on a port, X-Gochat-Worker with its index
    (core/workers.py); bodies over the limit refused with 413 before any handler runs (by
    header, and while streaming); then request metrics and the caller's trace context (a
    server span when tracing exported somewhere as the app started). A refused body is not
    counted in metrics."""

    def __init__(
        self, app: ASGIApp, *, service: str, max_bytes: int, worker: int | None = None
    ) -> None:
        self.app = app
        self.service = service
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # Asked once, when the app builds its middleware (at start-up, after run_service set
        # tracing up): with no provider installed, every ask reads os.environ (~2.5 µs).
        self.recording = tracing.recording()
        self.max_bytes = max_bytes
        self.extra = [] if worker is None else [(b"x-gochat-worker", b"%d" % worker)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One pass over the headers; the last of repeated headers wins, as with dict().
        incoming = declared = None
        trace_headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                declared = value
            elif name in tracing.TRACE_HEADERS:
                trace_headers[name.decode("latin-1")] = value.decode("latin-1")
        request_id = _request_id(incoming)
        token = request_id_var.set(request_id)
        response = _ResponseStart(send, [(b"x-request-id", request_id.encode()), *self.extra])
        try:
            body = await self._read_body(declared, receive)
            if body is None:
                await self._reject(scope, receive, response)
            else:
                await self._serve(scope, _replay(body, receive), response, trace_headers)
        except Exception:
            # Answered here rather than by Starlette's outermost error middleware, so the 500
            # carries X-Request-Id too and the log line has it.
            if response.started:
                raise
            log.exception("unhandled error", extra={"path": scope.get("path")})
            await _internal_error()(scope, receive, response)
        finally:
            request_id_var.reset(token)

    async def _read_body(self, declared: bytes | None, receive: Receive) -> bytes | None:
        """The whole body (it is small by definition), or None when it is over the limit: an
        over-long stream is refused before any handler sees a byte of it."""
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return None
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        response: _ResponseStart,
        trace_headers: dict[str, str],
    ) -> None:
        started = time.perf_counter()
        method = scope.get("method", "GET")
        if not self.recording:
            # No spans to export: skip building them (~4 % of a send's CPU), but still continue
            # the caller's trace (W3C traceparent) so it reaches the events this request causes.
            token = tracing.attach_context(trace_headers)
            try:
                await self.app(scope, receive, response)
            finally:
                tracing.detach(token)
                self._record(method, _route_template(scope), response.status, started)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with _tracer.start_as_current_span(
            f"HTTP {method}", context=tracing.extract_context(headers), kind=SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, response)
            finally:
                template = _route_template(scope)
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", response.status)
                self._record(method, template, response.status, started)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope(
            413,
            "payload_too_large",
            f"body exceeds {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
        )
        await response(scope, receive, send)

    def _record(self, method: str, template: str, status: int, started: float) -> None:
        # `labels()` takes a lock and checks its arguments each time (~2 µs for the two), yet
        # returns the same child for the same values: keep the children, keyed by those values.
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                metrics.HTTP_REQUESTS.labels(self.service, method, template, str(status)),
                metrics.HTTP_LATENCY.labels(self.service, method, template),
            )
        requests, latency = children
        requests.inc()
        latency.observe(time.perf_counter() - started)


class _ResponseStart:
    """The app's `send`, seen by the middleware: adds `headers` to the response's start and
    notes its status (500 until a response starts: an exception escaped)."""

    __slots__ = ("headers", "send", "started", "status")

    def __init__(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.headers = headers
        self.status = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message.setdefault("headers", []).extend(self.headers)
        await self.send(message)


def _request_id(incoming: bytes | None) -> str:
    """The caller's X-Request-Id (printable, at most 64 characters kept), else a new one."""
    if incoming:
        text = incoming.decode("latin-1")
        if text.isprintable():
            return text[:64]
    return _REQUEST_IDS.next()


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body already read, then whatever the server sends next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _route_template(scope: Scope) -> str:
    # path_format: the template without convertors ("/users/{user_id}", not "{user_id:id}").
    return getattr(scope.get("route"), "path_format", None) or "unmatched"


class IdSegment(Convertor[str]):
    """`{name:id}`: a path segment that can be an id. It leaves out only segments starting with
    `@` (`@me`), so that `PATCH /guilds/1/members/@me` reaches the `@me` route (405: it only
    deletes) instead of failing as a malformed id; anything else still reaches the route and its
    validation names the malformed id (422)."""

    regex = "[^/@][^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdSegment())


class StrictQueryRoute(APIRoute):
    """A route that refuses query parameters it does not declare (422 naming the first), like
    unknown body fields: a misspelt `limt=5` must not silently mean the default. Every router of
    every service uses it (`APIRouter(route_class=http.StrictQueryRoute)`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        declared = frozenset(_query_names(self.dependant))

        async def refuse_unknown_query(request: Request) -> Response:
            if request.scope.get("query_string"):
                for name in request.query_params:
                    if name not in declared:
                        raise errors.ValidationFailed.for_field(
                            f"query.{name}", "unknown parameter"
                        )
            return await handler(request)

        return refuse_unknown_query


def _query_names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A query model (`Annotated[Model, Query()]`): its fields are the parameters.
            for name, info in annotation.model_fields.items():
                yield info.alias or name
        else:
            yield field.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)
