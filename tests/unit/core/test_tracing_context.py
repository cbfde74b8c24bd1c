"""With tracing off the HTTP layer builds no spans, yet a caller's W3C trace context must still
reach the events a request causes (they carry `tracing.inject_headers()`)."""

from opentelemetry import trace

from gochat.core import tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_an_incoming_traceparent_becomes_current_and_is_injected_until_detached() -> None:
    assert "traceparent" not in tracing.inject_headers()
    token = tracing.attach_context({"traceparent": TRACEPARENT})
    try:
        assert tracing.inject_headers()["traceparent"] == TRACEPARENT
    finally:
        tracing.detach(token)
    assert "traceparent" not in tracing.inject_headers()


def test_a_request_without_trace_headers_attaches_nothing() -> None:
    token = tracing.attach_context({})
    assert token is None
    tracing.detach(token)  # a no-op


def test_spans_are_recorded_only_with_an_sdk_provider() -> None:
    assert not tracing.recording()  # the tests install none


def test_a_current_span_is_injected_even_without_an_incoming_traceparent() -> None:
    parent = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=trace.TraceFlags(1),
    )
    with trace.use_span(trace.NonRecordingSpan(parent)):
        assert tracing.inject_headers() == {"traceparent": TRACEPARENT}
    assert tracing.inject_headers() == {}
