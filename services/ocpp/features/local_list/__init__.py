"""Local Auth List Management: the id tags pushed to the stations' local lists (SendLocalList,
Full or Differential), and the version each station holds (GetLocalListVersion)."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from . import local_list, views

FEATURE = Feature(
    name="local_list",
    views=views.routes,
    recorders={"SendLocalList": local_list.record_reply, "GetLocalListVersion": local_list.record_reply},
    contexts=(local_list.local_lists_context,),
)
