"""The gateway's Prometheus metrics (served at `/metrics` with the shared ones)."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

CONNECTED_STATIONS = Gauge("chargeplane_ocpp_connected_stations", "Stations with an open OCPP WebSocket")
MESSAGES = Counter(
    "chargeplane_ocpp_messages_total", "CALLs from stations, by action and how they were answered",
    ["action", "outcome"],
)
CALL_ERRORS = Counter("chargeplane_ocpp_callerrors_total", "CALLERRORs sent to stations, by error code", ["code"])
HANDSHAKE_REFUSALS = Counter(
    "chargeplane_ocpp_handshake_refusals_total", "WebSocket upgrades refused, by reason", ["reason"],
)
GROUP_COMMIT_BATCH = Histogram(
    "chargeplane_ocpp_group_commit_batch_size", "Station messages committed together in one transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2048),
)


# The label lookup costs more than the increment; a station sends the same few pairs.
@functools.cache
def _message_counter(action: str, outcome: str) -> Counter:
    return MESSAGES.labels(action, outcome)


@functools.cache
def _error_counter(code: str) -> Counter:
    return CALL_ERRORS.labels(code)


def count_reply(action: str, error_code: str | None) -> None:
    if error_code is None:
        _message_counter(action, "callresult").inc()
    else:
        _message_counter(action, "callerror").inc()
        _error_counter(error_code).inc()


def count_frame_error(code: str) -> None:
    _error_counter(code).inc()
