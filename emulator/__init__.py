"""Headless OCPP 1.6J charging-station emulator.

`Station` is the behaviour of one station (no CLI, no printing; it emits `StationEvent`s),
`Fleet` runs many of them against a CSMS, and `python -m chargeplane.emulator` (the
`chargeplane-emulator` script) is the command line around a fleet.
"""

from .events import ConnectionState, EventKind, StationEvent
from .fleet import Fleet, FleetConfig, FleetProgress, FleetSummary
from .station import Station, StationConfig, StationStats, TransactionRecord

__all__ = [
    "ConnectionState",
    "EventKind",
    "Fleet",
    "FleetConfig",
    "FleetProgress",
    "FleetSummary",
    "Station",
    "StationConfig",
    "StationEvent",
    "StationStats",
    "TransactionRecord",
]
