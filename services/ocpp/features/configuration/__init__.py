"""Configuration (Core profile: GetConfiguration, ChangeConfiguration): the keys each station
reports, and the desired values of its registration enforced whenever it is online."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from . import sync, views

FEATURE = Feature(
    name=sync.NAME,
    views=views.routes,
    recorders={"GetConfiguration": sync.record_get_configuration,
               "ChangeConfiguration": sync.record_change_configuration},
    contexts=(sync.configuration_context,),
    on_boot=sync.after_boot,
    on_registered=sync.registered,
    station_states=views.station_states,
)
