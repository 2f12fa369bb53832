"""DataTransfer (Core profile), station to CSMS: answered from the registry of the vendor
messages the platform understands (`vendors`). DataTransfer to a station is a plain command."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from .handlers import data_transfer

FEATURE = Feature(name="data_transfer", handlers={"DataTransfer": data_transfer.handle})
