"""The span of each station message, made as cheaply as sampling allows.

StartTransaction opens a charging session's trace; the session's MeterValues and
StopTransaction join it. With parent-based sampling (the SDK default, and
`parentbased_traceidratio`), a session whose trace was not sampled records none of its
spans: for its messages the gateway makes no span at all and only puts the session's
context back in place, so the trace id still travels to sessions and billing. At 10 %
sampling that skips the SDK for nine in ten MeterValues, the bulk of the traffic.
"""

from __future__ import annotations

import contextlib
import functools
from contextlib import AbstractContextManager
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from chargeplane.common.tracing import traceparent_sampled, tracing_enabled, unsampled_parents_record_nothing

from .context import StationContext
from .protocol import Call

tracer = trace.get_tracer("chargeplane.ocpp")

# actions whose span joins the trace of the charging session they belong to
SESSION_ACTIONS = frozenset({"MeterValues", "StopTransaction"})
_UNTRACED = contextlib.nullcontext(trace.INVALID_SPAN)  # its methods do nothing
_NO_PARENT = otel_context.Context()


class _Joined(AbstractContextManager[trace.Span]):
    """The session's context made current, without a span of this message's own."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: otel_context.Context) -> None:
        self._context = context

    def __enter__(self) -> trace.Span:
        self._token = otel_context.attach(self._context)
        return trace.get_current_span(self._context)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        otel_context.detach(self._token)


class _Recorded(_Joined):
    """A sampled span made current, and ended on the way out: `use_span` without its
    generator and exception handling (the handler's errors are set on the span by its caller)."""

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        super().__init__(trace.set_span_in_context(span))
        self._span = span

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        super().__exit__(kind, error, traceback)
        self._span.end()


def _session_traceparent(ctx: StationContext, call: Call) -> str | None:
    if call.action not in SESSION_ACTIONS:
        return None
    transaction_id = call.payload.get("transactionId")
    connector_id = call.payload.get("connectorId")
    # the payload is not validated yet: only well-typed ids may pick the parent
    open_transaction = (
        ctx.transaction(transaction_id) if isinstance(transaction_id, int)
        else ctx.open_transactions.get(connector_id) if isinstance(connector_id, int) else None
    )
    return open_transaction.traceparent if open_transaction is not None else None


@functools.lru_cache(maxsize=1 << 16)
def _session_context(traceparent: str) -> otel_context.Context:
    # A session sends a MeterValues every minute or so: parse its traceparent once.
    return propagate.extract({"traceparent": traceparent})


def call_span(ctx: StationContext, call: Call) -> AbstractContextManager[trace.Span]:
    if not tracing_enabled():
        return _UNTRACED
    name = f"ocpp {call.action}"
    traceparent = _session_traceparent(ctx, call)
    if not traceparent:
        # A new trace, not a child of the hours-long socket. The sampler decides in
        # start_span; a span it drops is a bare span context (a trace id to pass on,
        # unsampled), made current without start_as_current_span's layers of context
        # managers, which cost more than the decision.
        span = tracer.start_span(name, context=_NO_PARENT, kind=SpanKind.SERVER)
        if not span.is_recording():
            return _Joined(trace.set_span_in_context(span, _NO_PARENT))
        return _Recorded(span)
    parent = _session_context(traceparent)
    if not traceparent_sampled(traceparent) and unsampled_parents_record_nothing():
        return _Joined(parent)
    return _Recorded(tracer.start_span(name, context=parent, kind=SpanKind.SERVER))
