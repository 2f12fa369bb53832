"""Smart Charging: the charging profiles each station holds (SetChargingProfile,
ClearChargingProfile, GetCompositeSchedule, checked against OCPP 1.6's rules before they are
sent), and charging sites, whose power limit is divided among their sessions."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from . import balancer, charging_profiles, views

FEATURE = Feature(
    name="smart_charging",
    views=views.routes,
    recorders={"SetChargingProfile": charging_profiles.record_reply,
               "ClearChargingProfile": charging_profiles.record_reply},
    checks=dict.fromkeys(("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"),
                         charging_profiles.check_command),
    contexts=(charging_profiles.repository_context, balancer.balancer_context),
    on_transactions=charging_profiles.follow_transactions,
    station_states=views.station_states,
)
