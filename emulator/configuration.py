"""The station's OCPP configuration keys, as read by GetConfiguration and written by
ChangeConfiguration. Key rules live in one module-level table; a station stores only the
values, which keeps the per-station footprint to one small dict."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .meter import SUPPORTED_MEASURANDS
from .protocol import Payload
from .smart_charging import MAX_PERIODS, MAX_PROFILES, MAX_STACK_LEVEL

HEARTBEAT_INTERVAL: Final = "HeartbeatInterval"
METER_VALUE_SAMPLE_INTERVAL: Final = "MeterValueSampleInterval"
METER_VALUES_SAMPLED_DATA: Final = "MeterValuesSampledData"
NUMBER_OF_CONNECTORS: Final = "NumberOfConnectors"
AUTHORIZE_REMOTE_TX_REQUESTS: Final = "AuthorizeRemoteTxRequests"
STOP_TRANSACTION_ON_INVALID_ID: Final = "StopTransactionOnInvalidId"
SUPPORTED_FEATURE_PROFILES: Final = "SupportedFeatureProfiles"
CHARGE_PROFILE_MAX_STACK_LEVEL: Final = "ChargeProfileMaxStackLevel"
CHARGING_SCHEDULE_ALLOWED_CHARGING_RATE_UNIT: Final = "ChargingScheduleAllowedChargingRateUnit"
CHARGING_SCHEDULE_MAX_PERIODS: Final = "ChargingScheduleMaxPeriods"
MAX_CHARGING_PROFILES_INSTALLED: Final = "MaxChargingProfilesInstalled"
TRANSACTION_MESSAGE_ATTEMPTS: Final = "TransactionMessageAttempts"
TRANSACTION_MESSAGE_RETRY_INTERVAL: Final = "TransactionMessageRetryInterval"
LOCAL_AUTH_LIST_ENABLED: Final = "LocalAuthListEnabled"
LOCAL_AUTH_LIST_MAX_LENGTH: Final = "LocalAuthListMaxLength"
SEND_LOCAL_LIST_MAX_LENGTH: Final = "SendLocalListMaxLength"
LOCAL_PRE_AUTHORIZE: Final = "LocalPreAuthorize"
LOCAL_AUTHORIZE_OFFLINE: Final = "LocalAuthorizeOffline"
RESERVE_CONNECTOR_ZERO_SUPPORTED: Final = "ReserveConnectorZeroSupported"
WEB_SOCKET_PING_INTERVAL: Final = "WebSocketPingInterval"


class ChangeResult(StrEnum):
    """The ChangeConfiguration.conf statuses."""

    ACCEPTED = "Accepted"
    REBOOT_REQUIRED = "RebootRequired"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"


def _is_seconds(value: str) -> bool:
    # OCPP says integer seconds; fractions are accepted so tests and demos can run fast.
    try:
        return float(value) >= 0
    except ValueError:
        return False


def _is_positive_seconds(value: str) -> bool:
    return _is_seconds(value) and float(value) > 0


def _is_positive_integer(value: str) -> bool:
    return value.isdigit() and int(value) > 0


def _is_boolean(value: str) -> bool:
    return value.lower() in ("true", "false")


def _is_measurand_list(value: str) -> bool:
    items = [item.strip() for item in value.split(",") if item.strip()]
    return bool(items) and all(item in SUPPORTED_MEASURANDS for item in items)


@dataclass(frozen=True, slots=True)
class KeyRule:
    readonly: bool
    # None for read-only keys.
    is_valid: Callable[[str], bool] | None = None
    # the value is kept at once but takes effect only when the station next connects
    reboot_required: bool = False


KEY_RULES: Final[dict[str, KeyRule]] = {
    HEARTBEAT_INTERVAL: KeyRule(readonly=False, is_valid=_is_positive_seconds),
    # 0 is legal: it switches periodic meter values off.
    METER_VALUE_SAMPLE_INTERVAL: KeyRule(readonly=False, is_valid=_is_seconds),
    METER_VALUES_SAMPLED_DATA: KeyRule(readonly=False, is_valid=_is_measurand_list),
    AUTHORIZE_REMOTE_TX_REQUESTS: KeyRule(readonly=False, is_valid=_is_boolean),
    STOP_TRANSACTION_ON_INVALID_ID: KeyRule(readonly=False, is_valid=_is_boolean),
    TRANSACTION_MESSAGE_ATTEMPTS: KeyRule(readonly=False, is_valid=_is_positive_integer),
    TRANSACTION_MESSAGE_RETRY_INTERVAL: KeyRule(readonly=False, is_valid=_is_seconds),
    LOCAL_AUTH_LIST_ENABLED: KeyRule(readonly=False, is_valid=_is_boolean),
    LOCAL_PRE_AUTHORIZE: KeyRule(readonly=False, is_valid=_is_boolean),
    LOCAL_AUTHORIZE_OFFLINE: KeyRule(readonly=False, is_valid=_is_boolean),
    LOCAL_AUTH_LIST_MAX_LENGTH: KeyRule(readonly=True),
    SEND_LOCAL_LIST_MAX_LENGTH: KeyRule(readonly=True),
    RESERVE_CONNECTOR_ZERO_SUPPORTED: KeyRule(readonly=True),
    # 0 switches WebSocket pings off; read when the station connects.
    WEB_SOCKET_PING_INTERVAL: KeyRule(readonly=False, is_valid=_is_seconds, reboot_required=True),
    NUMBER_OF_CONNECTORS: KeyRule(readonly=True),
    SUPPORTED_FEATURE_PROFILES: KeyRule(readonly=True),
    CHARGE_PROFILE_MAX_STACK_LEVEL: KeyRule(readonly=True),
    CHARGING_SCHEDULE_ALLOWED_CHARGING_RATE_UNIT: KeyRule(readonly=True),
    CHARGING_SCHEDULE_MAX_PERIODS: KeyRule(readonly=True),
    MAX_CHARGING_PROFILES_INSTALLED: KeyRule(readonly=True),
}


def format_seconds(seconds: float) -> str:
    """`300` rather than `300.0`: whole seconds as OCPP expects, fractions only when present."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class Configuration:
    __slots__ = ("_values",)

    def __init__(
        self,
        *,
        heartbeat_interval: float,
        meter_interval: float,
        connectors: int,
        transaction_attempts: int,
        transaction_retry_interval: float,
    ) -> None:
        self._values: dict[str, str] = {
            HEARTBEAT_INTERVAL: format_seconds(heartbeat_interval),
            METER_VALUE_SAMPLE_INTERVAL: format_seconds(meter_interval),
            METER_VALUES_SAMPLED_DATA: ",".join(SUPPORTED_MEASURANDS),
            AUTHORIZE_REMOTE_TX_REQUESTS: "false",
            STOP_TRANSACTION_ON_INVALID_ID: "true",
            TRANSACTION_MESSAGE_ATTEMPTS: str(transaction_attempts),
            TRANSACTION_MESSAGE_RETRY_INTERVAL: format_seconds(transaction_retry_interval),
            LOCAL_AUTH_LIST_ENABLED: "true",
            LOCAL_PRE_AUTHORIZE: "false",
            LOCAL_AUTHORIZE_OFFLINE: "true",
            LOCAL_AUTH_LIST_MAX_LENGTH: "10000",
            SEND_LOCAL_LIST_MAX_LENGTH: "10000",
            RESERVE_CONNECTOR_ZERO_SUPPORTED: "false",
            WEB_SOCKET_PING_INTERVAL: "0",
            NUMBER_OF_CONNECTORS: str(connectors),
            SUPPORTED_FEATURE_PROFILES: "Core,RemoteTrigger,LocalAuthListManagement,Reservation,SmartCharging",
            CHARGE_PROFILE_MAX_STACK_LEVEL: str(MAX_STACK_LEVEL),
            CHARGING_SCHEDULE_ALLOWED_CHARGING_RATE_UNIT: "Current,Power",
            CHARGING_SCHEDULE_MAX_PERIODS: str(MAX_PERIODS),
            MAX_CHARGING_PROFILES_INSTALLED: str(MAX_PROFILES),
        }

    def get(self, key: str) -> str:
        return self._values[key]

    def seconds(self, key: str) -> float:
        return float(self._values[key])

    def flag(self, key: str) -> bool:
        return self._values[key].lower() == "true"

    def items(self, key: str) -> frozenset[str]:
        """A comma-separated list key as a set."""
        return frozenset(item.strip() for item in self._values[key].split(","))

    def set(self, key: str, value: str) -> None:
        """Set a value on the station's own authority (e.g. the interval the CSMS gave in its
        BootNotification reply), bypassing the read-only rule."""
        self._values[key] = value

    def change(self, key: str, value: str) -> ChangeResult:
        """Apply a CSMS ChangeConfiguration request."""
        rule = KEY_RULES.get(key)
        if rule is None:
            return ChangeResult.NOT_SUPPORTED
        if rule.readonly or rule.is_valid is None or not rule.is_valid(value):
            return ChangeResult.REJECTED
        self._values[key] = value
        return ChangeResult.REBOOT_REQUIRED if rule.reboot_required else ChangeResult.ACCEPTED

    def describe(self, keys: Iterable[str] | None = None) -> Payload:
        """The GetConfiguration.conf payload for `keys` (all keys when None or empty)."""
        wanted = list(keys) if keys else list(self._values)
        known = [
            {"key": key, "readonly": KEY_RULES[key].readonly, "value": self._values[key]}
            for key in wanted
            if key in self._values
        ]
        unknown = [key for key in wanted if key not in self._values]
        reply: Payload = {"configurationKey": known}
        if unknown:
            reply["unknownKey"] = unknown
        return reply
