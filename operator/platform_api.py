"""The platform's internal HTTP APIs the operator drives: the gateway's station registry
and billing's tariffs, in one namespace's platform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from .constants import PLATFORM_SERVICES


class PlatformUnavailable(Exception):
    """A service could not be reached or failed (connection refused, timeout, 5xx): try later."""


class PlatformRejected(Exception):
    """A service refused the request as invalid (4xx): retrying the same request cannot help."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        details = error.get("details")
        # a validation error's details say which field is wrong: the user reads them in status
        reasons = "".join(f"; {'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details
                          if isinstance(d, dict) and "loc" in d) if isinstance(details, list) else ""
        super().__init__(f"{status} {error.get('code', '')}: {error.get('message', '')}{reasons}")
        self.status, self.error = status, error


@dataclass(frozen=True)
class StationState:
    """What the gateway knows of one station: its view (online, connectors, boot, heartbeat),
    where its desired configuration stands, and the charging profiles it holds by id."""

    view: dict[str, Any]
    configuration: dict[str, Any] | None
    charging_profiles: dict[int, Any]


class PlatformClient:
    def __init__(self, http: aiohttp.ClientSession, url_template: str) -> None:
        self._http = http
        self._url_template = url_template

    def url(self, namespace: str, service: str) -> str:
        return self._url_template.format(service=service, namespace=namespace, port=PLATFORM_SERVICES[service])

    async def _call(self, method: str, namespace: str, service: str, path: str, body: Any = None,
                    absent_ok: bool = False) -> Any:
        url = self.url(namespace, service) + path
        try:
            async with self._http.request(method, url, json=body) as response:
                if response.status == 404 and absent_ok:
                    return None
                if response.status >= 500:
                    raise PlatformUnavailable(f"{service} in {namespace} answered {response.status}")
                data = await response.json() if response.content_type == "application/json" else None
                if response.status >= 400:
                    raise PlatformRejected(response.status, (data or {}).get("error", {}))
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PlatformUnavailable(f"{service} in {namespace} is unreachable: {exc!r}") from exc

    async def register_station(self, namespace: str, station_id: str, registration: dict[str, Any]) -> None:
        await self._call("PUT", namespace, "ocpp", f"/internal/stations/{station_id}", registration)

    async def station_states(self, namespace: str, station_ids: list[str],
                             configuration_of: list[str]) -> dict[str, StationState]:
        """The state of many stations in one request, with the configuration state of those in
        `configuration_of`; a station the gateway does not know is absent."""
        answer = await self._call("POST", namespace, "ocpp", "/internal/stations/states",
                                  {"station_ids": station_ids, "configuration_of": configuration_of})
        return {station_id: StationState(state["view"], state.get("configuration"),
                                         {p["charging_profile_id"]: p["profile"]
                                          for p in state.get("charging_profiles", [])})
                for station_id, state in answer["stations"].items()}

    async def set_station_password(self, namespace: str, station_id: str, password: str) -> None:
        """OCPP security profile 1: the gateway then refuses the station without this password."""
        await self._call("PUT", namespace, "auth", f"/internal/auth/stations/{station_id}/password",
                         {"password": password})

    async def forget_station_password(self, namespace: str, station_id: str) -> None:
        await self._call("DELETE", namespace, "auth", f"/internal/auth/stations/{station_id}/password")

    async def deregister_station(self, namespace: str, station_id: str) -> None:
        await self._call("DELETE", namespace, "ocpp", f"/internal/stations/{station_id}")

    async def put_tariff(self, namespace: str, tariff_id: str, body: dict[str, Any]) -> None:
        await self._call("PUT", namespace, "billing", f"/internal/tariffs/{tariff_id}", body)

    async def delete_tariff(self, namespace: str, tariff_id: str) -> list[str]:
        """Delete a tariff; if stations still bill with it, keep it and return them."""
        try:
            await self._call("DELETE", namespace, "billing", f"/internal/tariffs/{tariff_id}")
        except PlatformRejected as exc:
            if exc.status == 409 and exc.error.get("code") == "tariff_in_use":
                return list(exc.error["details"]["stations"])
            raise
        return []

    async def bind_tariff(self, namespace: str, station_id: str, tariff_id: str) -> None:
        await self._call("PUT", namespace, "billing", f"/internal/stations/{station_id}/tariff",
                         {"tariff_id": tariff_id})

    async def unbind_tariff(self, namespace: str, station_id: str) -> None:
        await self._call("DELETE", namespace, "billing", f"/internal/stations/{station_id}/tariff")

    async def send_command(self, namespace: str, station_id: str, action: str, payload: dict[str, Any]) -> str:
        """An OCPP command to the station; the status it answered (Accepted, Rejected ...)."""
        reply = await self._call("POST", namespace, "ocpp", f"/internal/stations/{station_id}/commands/{action}",
                                 payload)
        return str(reply["result"].get("status"))
