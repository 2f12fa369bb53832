"""What a station is registered as (`PUT /internal/stations/{id}`): the gateway admits only
registered stations, on their terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# OCPP 1.6 security whitepaper: AuthorizationKey is write-only. It is never stored as a
# reported key nor enforced as a desired one: the station's password is its security profile's.
WRITE_ONLY_KEYS = frozenset({"AuthorizationKey"})
MAX_DESIRED_KEYS = 200


def _refuse_write_only_keys(desired: dict[str, str]) -> dict[str, str]:
    refused = sorted(WRITE_ONLY_KEYS & desired.keys())
    if refused:
        raise ValueError(f"{', '.join(refused)} is write-only and not enforced as configuration: the station's"
                         " password is set through its security profile")
    return desired


# OCPP 1.6: a key is CiString50, a ChangeConfiguration value CiString500.
ConfigKey = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ConfigValue = Annotated[str, StringConstraints(max_length=500)]
DesiredConfiguration = Annotated[dict[ConfigKey, ConfigValue], Field(max_length=MAX_DESIRED_KEYS),
                                 AfterValidator(_refuse_write_only_keys)]


class StationRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heartbeat_interval: int = Field(default=300, ge=10, le=86400)
    registration_status: Literal["Accepted", "Pending", "Rejected"] = "Accepted"
    # OCPP key -> value the gateway enforces whenever the station is online
    desired_configuration: DesiredConfiguration = Field(default_factory=dict)
    # OCPP security profile: 1 HTTP Basic, 2 TLS + Basic, 3 TLS with a client certificate
    security_profile: Literal[1, 2, 3] = 1


@dataclass(frozen=True, slots=True)
class RegistrationChange:
    """A registration stored: the new one, and the one it replaced (None for a new station)."""

    station_id: str
    registration: StationRegistration
    previous: StationRegistration | None
