"""What a user does on kind: the chart installed, a Tariff and a ChargingStation with its
simulator applied; the station comes Online, charges, is billed by that tariff, and the
session is one trace across the gateway, sessions and billing in Jaeger."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargeplane.operator.constants import NAME_PREFIX, PLATFORM_SERVICES
from support.resources import FLAT_FEE, FLAT_FEE_CURRENCY, flat_fee_tariff, simulated_station
from support.waiting import wait_for

from .conftest import RELEASE, Cluster

pytestmark = pytest.mark.k8s

# Generous: on a fresh cluster the operator first starts the namespace's platform.
ONLINE_WITHIN_S = 300
BILLED_WITHIN_S = 300
TRACED_WITHIN_S = 120
TRACED_SERVICES = {"ocpp", "sessions", "billing"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


def platform_service(name: str) -> tuple[str, int]:
    """The operator's Service of a platform service in the namespace, and its port."""
    return f"svc/{NAME_PREFIX}{name}", PLATFORM_SERVICES[name]


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def test_a_simulated_station_charges_is_billed_by_its_tariff_and_traced(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    suffix = secrets.token_hex(3)
    tariff, station = f"e2e-flat-{suffix}", f"e2e-station-{suffix}"
    await cluster.apply(flat_fee_tariff(tariff), simulated_station(station, tariff))
    try:
        async def station_shows_online() -> bool:
            return "Online" in await cluster.printed_row("chargingstation", station)

        await wait_for(station_shows_online, within_s=ONLINE_WITHIN_S, interval=2)

        async with cluster.port_forward(*platform_service("billing")) as billing:
            async def bill_priced_by_the_tariff() -> dict[str, Any] | None:
                bills = (await get_json(http, f"{billing}/internal/billing/transactions"))["items"]
                # the operator may qualify tariff ids by namespace: the database is shared
                return next((b for b in bills if tariff in b["tariff_id"]), None)

            bill = await wait_for(bill_priced_by_the_tariff, within_s=BILLED_WITHIN_S, interval=2)
        assert (bill["currency"], Decimal(str(bill["amount_incl_tax"]))) == (FLAT_FEE_CURRENCY, FLAT_FEE)

        async with cluster.port_forward(*platform_service("sessions")) as sessions:
            session = await get_json(http, f"{sessions}/internal/sessions/{bill['session_id']}")
        assert session["status"] == "completed"
        assert session["station_id"] == bill["station_id"]

        async with cluster.port_forward(f"svc/{RELEASE}-jaeger", 16686) as jaeger:
            async def one_trace_across_the_services() -> bool:
                found = await get_json(http, f"{jaeger}/api/traces?service=billing&lookback=1h&limit=200")
                for trace in found["data"] or []:
                    services = {process["serviceName"] for process in trace["processes"].values()}
                    transaction_ids = {str(tag["value"]) for span in trace["spans"] for tag in span["tags"]
                                       if tag["key"] == "ocpp.transaction_id"}
                    if services >= TRACED_SERVICES and str(bill["session_id"]) in transaction_ids:
                        return True
                return False

            await wait_for(one_trace_across_the_services, within_s=TRACED_WITHIN_S, interval=2)
    finally:
        await cluster.delete("chargingstation", station)
        await cluster.delete("tariff", tariff)


def test_helm_test_connects_a_station_and_completes_a_session(cluster: Cluster, helm: Path) -> None:
    done = subprocess.run([str(helm), "test", RELEASE, "--kube-context", cluster.context, "--namespace",
                           cluster.namespace, "--timeout", "5m", "--logs"], capture_output=True, text=True, timeout=360)
    assert done.returncode == 0, done.stdout + done.stderr
