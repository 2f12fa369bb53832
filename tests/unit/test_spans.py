"""The gateway's span per station message: under parent-based sampling, the messages of
an unsampled session make no span but keep the session's trace context."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.util.http import get_excluded_urls

from chargeplane.common.settings import ServiceSettings
from chargeplane.common.tracing import current_traceparent, setup_tracing
from chargeplane.services.ocpp.core import spans
from chargeplane.services.ocpp.core.context import StationContext
from chargeplane.services.ocpp.core.protocol import Call
from chargeplane.services.ocpp.core.store import OpenTransaction, Station

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
EXCLUDED_URLS = "OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.1)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(spans, "tracer", provider.get_tracer("test"))
    monkeypatch.setattr(spans, "tracing_enabled", lambda: True)
    monkeypatch.setattr(spans, "unsampled_parents_record_nothing", lambda: True)
    return memory


def station_in_session(flags: str) -> StationContext:
    ctx = StationContext(Station("CP-1", "Accepted", 300), store=None, auth=None, app=None)  # type: ignore[arg-type]
    ctx.open_transactions[1] = OpenTransaction(1, 7, f"00-{TRACE_ID}-00f067aa0ba902b7-{flags}")
    return ctx


METER_VALUES = Call("u1", "MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": []})


def test_an_unsampled_session_makes_no_span_but_keeps_its_trace(exporter: InMemorySpanExporter) -> None:
    with spans.call_span(station_in_session("00"), METER_VALUES) as span:
        assert not span.is_recording()
        assert current_traceparent() == f"00-{TRACE_ID}-00f067aa0ba902b7-00"
    assert current_traceparent() is None
    assert exporter.get_finished_spans() == ()


def test_a_sampled_session_records_its_messages(exporter: InMemorySpanExporter) -> None:
    with spans.call_span(station_in_session("01"), METER_VALUES) as span:
        assert span.is_recording()
    [finished] = exporter.get_finished_spans()
    assert finished.name == "ocpp MeterValues"
    assert format(finished.context.trace_id, "032x") == TRACE_ID


@pytest.mark.parametrize(("path", "excluded"), [
    ("/ocpp/CP-1", True), ("/ocpp/ws", True), ("/healthz", True), ("/readyz", True), ("/metrics", True),
    ("/internal/stations/CP-1/commands/Reset", False), ("/internal/ocpp/sessions/start", False),
])
def test_station_sockets_probes_and_scrapes_make_no_server_span(monkeypatch: pytest.MonkeyPatch, path: str,
                                                                 excluded: bool) -> None:
    # A station's socket lives for hours: a span around it would be open as long, and
    # its messages make spans of their own. The instrumentation matches request paths.
    monkeypatch.setenv(EXCLUDED_URLS, "")
    monkeypatch.delenv(EXCLUDED_URLS)
    setup_tracing(ServiceSettings(service_name="test", otel_sdk_disabled=True))
    assert get_excluded_urls("AIOHTTP_SERVER").url_disabled(path) is excluded
