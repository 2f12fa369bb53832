"""The custom resources the kind suite applies (the deploy tests check them against crds/)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

API_VERSION = "chargeplane.io/v1alpha1"

# A tariff no other can be mistaken for: a flat fee, no tax, its own currency. Every bill
# priced by it is exactly this amount, whatever the session's energy and length.
FLAT_FEE = Decimal("4.20")
FLAT_FEE_CURRENCY = "CHF"


def flat_fee_tariff(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Tariff",
        "metadata": {"name": name},
        "spec": {
            "currency": FLAT_FEE_CURRENCY,
            "taxRate": 0,
            "elements": [{"priceComponents": [{"type": "FLAT", "price": float(FLAT_FEE)}]}],
        },
    }


def simulated_station(name: str, tariff: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ChargingStation",
        "metadata": {"name": name},
        "spec": {"stationId": name.upper(), "tariffRef": {"name": tariff}, "simulator": {"enabled": True}},
    }
