"""OpenTelemetry set-up shared by every service.

W3C trace context crosses every HTTP hop (aiohttp client and server instrumentation)
and is stored with outbox events, so a delivery retried minutes later still joins the
trace of the charging session that caused it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased

from .settings import ServiceSettings

_instrumented = False
# The SDK provider once installed (OpenTelemetry allows one per process). Looking it up
# through the API reads os.environ on every call, too dear for a check made per message.
_sdk_provider: TracerProvider | None = None
_EVENTS_TRACER = trace.get_tracer("chargeplane.events")


def setup_tracing(settings: ServiceSettings, extra_processor: SpanProcessor | None = None) -> None:
    """Install a tracer provider for this process and instrument aiohttp, asyncpg and redis.

    Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; tests pass
    an in-memory processor instead.
    """
    global _instrumented
    # Probes and scrapes are noise, and an OCPP WebSocket lives for hours: its messages get spans
    # of their own (one trace per charging session), not children of the upgrade.
    # The instrumentation matches these against the request's path (older releases: its URL).
    # A batch of outbox events is no one's: each event gets a span in its own trace instead.
    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS",
                          "^(https?://[^/]+)?/ocpp/,/healthz$,/readyz$,/metrics$,/internal/outbox/batch$")
    if settings.otel_sdk_disabled:
        return
    install_tracer_provider(settings.service_name, settings.otel_exporter_otlp_endpoint, extra_processor)
    if not _instrumented:
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
        from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        AioHttpServerInstrumentor().instrument()
        AioHttpClientInstrumentor().instrument()
        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]  # its constructor declares no types
        RedisInstrumentor().instrument()
        _instrumented = True


def install_tracer_provider(service_name: str, otlp_endpoint: str | None,
                            extra_processor: SpanProcessor | None = None) -> None:
    """The process's tracer provider, exporting over OTLP/HTTP when an endpoint is given;
    no instrumentation (the operator traces only its own calls into the platform)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    global _sdk_provider
    installed = trace.get_tracer_provider()
    _sdk_provider = installed if isinstance(installed, TracerProvider) else None


def tracing_enabled() -> bool:
    """Whether this process records spans at all (OTEL_SDK_DISABLED leaves no SDK provider):
    a hot path that makes a span per message skips even the no-op span when it is off."""
    return _sdk_provider is not None


def unsampled_parents_record_nothing() -> bool:
    """True under parent-based sampling (the SDK's default, `parentbased_*` samplers): a
    span whose parent was not sampled is not recorded, so it need not be made."""
    return _sdk_provider is not None and isinstance(_sdk_provider.sampler, ParentBased)


def untraced() -> AbstractContextManager[None]:
    """No instrumentation spans inside the block (nor in tasks started from it): for the
    background work that serves many stations at once, whose statements would each be a
    root span of a trace of their own, linked to no station's message."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, to store beside deferred work."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def traceparent_sampled(traceparent: str) -> bool:
    """The sampled flag of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`)."""
    return bool(int(traceparent[-2:], 16) & 1)


@contextmanager
def event_trace(name: str, traceparent: str | None, attributes: Mapping[str, str | int]) -> Iterator[None]:
    """An outbox event handled without a request of its own: a server span in the event's
    trace when that trace is sampled, else only its context (for what the handler hands on)."""
    with attached_traceparent(traceparent):
        if _sdk_provider is None or not traceparent or not traceparent_sampled(traceparent):
            yield
        else:
            with _EVENTS_TRACER.start_as_current_span(name, kind=trace.SpanKind.SERVER, attributes=attributes):
                yield


@contextmanager
def attached_traceparent(traceparent: str | None) -> Iterator[None]:
    """Make `traceparent` the parent of the spans started inside the block, and the
    block's only context: instrumentation works there even inside `untraced()`."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(propagate.extract({"traceparent": traceparent}, context=otel_context.Context()))
    try:
        yield
    finally:
        otel_context.detach(token)
