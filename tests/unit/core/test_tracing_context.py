"""With tracing off the HTTP layer builds no spans, yet a caller's W3C trace context must still
reach the events a request causes (they carry `tracing.inject_headers()`)."""

from gochat.core import tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_an_incoming_traceparent_becomes_current_and_is_injected_until_detached() -> None:
    assert "traceparent" not in tracing.inject_headers()
    token = tracing.attach_incoming(
        [(b"content-type", b"json"), (b"traceparent", TRACEPARENT.encode())]
    )
    try:
        assert tracing.inject_headers()["traceparent"] == TRACEPARENT
    finally:
        tracing.detach(token)
    assert "traceparent" not in tracing.inject_headers()


def test_a_request_without_trace_headers_attaches_nothing() -> None:
    token = tracing.attach_incoming([(b"content-type", b"json")])
    assert token is None
    tracing.detach(token)  # a no-op


def test_spans_are_recorded_only_with_an_sdk_provider() -> None:
    assert not tracing.recording()  # the tests install none
