"""The platform's internal HTTP APIs the operator drives: the gateway's station registry
and billing's tariffs, in one namespace's platform."""

from __future__ import annotations

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

    async def station_view(self, namespace: str, station_id: str) -> dict[str, Any] | None:
        """The gateway's live view of a station, or None if it is not registered."""
        view: dict[str, Any] | None = await self._call(
            "GET", namespace, "ocpp", f"/internal/stations/{station_id}", absent_ok=True)
        return view

    async def station_configuration(self, namespace: str, station_id: str) -> dict[str, Any] | None:
        """The keys the station reported and where each desired key stands, or None if it is not registered."""
        configuration: dict[str, Any] | None = await self._call(
            "GET", namespace, "ocpp", f"/internal/stations/{station_id}/configuration", absent_ok=True)
        return configuration

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

    async def charging_profiles(self, namespace: str, station_id: str) -> list[dict[str, Any]]:
        """The charging profiles the station holds, as the gateway knows them."""
        held: dict[str, Any] = await self._call("GET", namespace, "ocpp",
                                                f"/internal/stations/{station_id}/charging-profiles")
        return list(held["items"])

    async def send_command(self, namespace: str, station_id: str, action: str, payload: dict[str, Any]) -> str:
        """An OCPP command to the station; the status it answered (Accepted, Rejected ...)."""
        reply = await self._call("POST", namespace, "ocpp", f"/internal/stations/{station_id}/commands/{action}",
                                 payload)
        return str(reply["result"].get("status"))
