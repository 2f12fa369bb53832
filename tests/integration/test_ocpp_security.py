"""The OCPP 1.6 security extension end to end: the gateway's TLS listener with a platform CA
made here, security profiles 2 and 3 per station, SignCertificate -> CertificateSigned,
the certificate commands and AuthorizationKey through the public API against the emulator,
and security events visible in the API."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargeplane.common.certificates import (
    CertificateAuthority,
    certificate_pem,
    hash_data,
    key_pem,
    new_key,
    station_csr,
)
from chargeplane.emulator.station import Station, StationConfig
from chargeplane.services.auth.repository import save_client
from chargeplane.services.ocpp.core.listeners import STATION_LISTENERS
from support.waiting import wait_for

from .conftest import Platform, running_platform

SECRET = "s3cret-s3cret-s3cret"
PASSWORD = "first-password-0123"


@dataclass
class Pki:
    """The platform CA and the gateway's server certificate, as files (as a Secret mounts them)."""

    folder: Path
    ca: CertificateAuthority

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.crt"

    def write_client(self, name: str, ca: CertificateAuthority | None = None) -> tuple[str, str]:
        certificate, key = (ca or self.ca).issue_client_certificate(name)
        certificate_file, key_file = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        certificate_file.write_text(certificate_pem(certificate))
        key_file.write_text(key_pem(key))
        return str(certificate_file), str(key_file)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = CertificateAuthority.generate("Test platform CA")
    ca.write(tmp_path / "ca.crt", tmp_path / "ca.key")
    server, server_key = ca.issue_server_certificate(["127.0.0.1", "localhost"])
    (tmp_path / "tls.crt").write_text(certificate_pem(server))
    (tmp_path / "tls.key").write_text(key_pem(server_key))
    return Pki(tmp_path, ca)


@pytest.fixture
async def platform(db, redis, database_url: str, redis_url: str, pki: Pki) -> AsyncIterator[Platform]:
    """The services with the gateway's TLS listener on a port the kernel picks."""
    folder = pki.folder
    overrides: dict[str, dict[str, object]] = {"ocpp": {
        "tls_port": 0, "tls_cert_file": folder / "tls.crt", "tls_key_file": folder / "tls.key",
        "ca_cert_file": folder / "ca.crt", "ca_key_file": folder / "ca.key",
    }}
    async with running_platform(db, database_url, redis_url, overrides=overrides) as platform:
        yield platform


@dataclass
class Api:
    base: str
    headers: dict[str, str]
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.http.get(self.base + path, headers=self.headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def command(self, station_id: str, action: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/stations/{station_id}/commands/{action}?timeout=10",
                                  headers=self.headers, json=payload) as response:
            return response.status, await response.json()


@pytest.fixture
async def api(platform: Platform, http: aiohttp.ClientSession) -> Api:
    await save_client(platform.db, "security-operator", SECRET, ["read", "operate"])
    base = platform.url("api_gateway") + "/api/v1"
    async with http.post(base + "/auth/token",
                         json={"client_id": "security-operator", "client_secret": SECRET}) as response:
        token = (await response.json())["access_token"]
    return Api(base, {"Authorization": f"Bearer {token}"}, http)


def tls_url(platform: Platform) -> str:
    return f"wss://127.0.0.1:{platform.runners['ocpp'].app[STATION_LISTENERS].tls_port}/ocpp"


async def register(platform: Platform, http: aiohttp.ClientSession, station_id: str, *, profile: int = 1,
                   password: str | None = PASSWORD) -> None:
    """As the operator does: the gateway's registry, then the auth service's password."""
    async with http.put(f"{platform.url('ocpp')}/internal/stations/{station_id}",
                        json={"security_profile": profile}) as response:
        assert response.status in (200, 201), await response.text()
    if password is not None:
        async with http.put(f"{platform.url('auth')}/internal/auth/stations/{station_id}/password",
                            json={"password": password}) as response:
            assert response.status == 204


@asynccontextmanager
async def emulated(config: StationConfig, *, maintained: bool = False) -> AsyncIterator[Station]:
    """An emulated station, online; `maintained` keeps it reconnecting as a real one does."""
    station = Station(config)
    keeper = None
    try:
        if maintained:
            keeper = asyncio.create_task(station.maintain_connection(initial_backoff=0.2, max_backoff=0.5))
            await asyncio.wait_for(station.wait_online(), 20)
        else:
            await station.connect()
        yield station
    finally:
        await station.close()
        if keeper is not None:
            await asyncio.gather(keeper, return_exceptions=True)


async def refusal(config: StationConfig) -> int:
    """The HTTP status the gateway refuses the station's upgrade with."""
    station = Station(config)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await station.connect()
    finally:
        await station.close()
    return refused.value.status


async def frames(platform: Platform, station_id: str, action: str) -> list[str]:
    rows = await platform.db.fetch("SELECT frame FROM ocpp_message_log WHERE station_id = $1 AND action = $2"
                                   " ORDER BY id", station_id, action)
    return [r["frame"] for r in rows]


async def station_view(api: Api, station_id: str) -> dict[str, Any]:
    view: dict[str, Any] = await api.get(f"/stations/{station_id}")
    return view


async def test_profile_2_needs_tls_and_the_password(platform: Platform, pki: Pki, api: Api, http) -> None:
    await register(platform, http, "SEC-2", profile=2)
    secure = StationConfig("SEC-2", csms_url=tls_url(platform), password=PASSWORD, ca_file=str(pki.ca_file))
    async with emulated(secure):
        view = await station_view(api, "SEC-2")
        assert (view["security_profile"], view["connected"]) == (2, True)
        # the same station on the plain port is refused, and its TLS connection stays connected
        assert await refusal(StationConfig("SEC-2", csms_url=platform.ocpp_url, password=PASSWORD)) == 403
        assert (await station_view(api, "SEC-2"))["connected"] is True
        # TLS alone is not profile 2: the password is part of it
        assert await refusal(StationConfig("SEC-2", csms_url=tls_url(platform), ca_file=str(pki.ca_file))) == 401
    # a profile 1 station may use either port
    await register(platform, http, "SEC-1", profile=1)
    async with emulated(StationConfig("SEC-1", csms_url=tls_url(platform), password=PASSWORD,
                                      ca_file=str(pki.ca_file))):
        assert (await station_view(api, "SEC-1"))["connected"] is True


async def test_the_station_checks_the_gateway_certificate(platform: Platform, api: Api, http) -> None:
    await register(platform, http, "SEC-TRUST", profile=2)
    other_ca = CertificateAuthority.generate("Someone else")
    stranger_file = Path(str(platform.overrides["ocpp"]["ca_cert_file"])).parent / "stranger.crt"
    stranger_file.write_text(other_ca.pem)
    station = Station(StationConfig("SEC-TRUST", csms_url=tls_url(platform), password=PASSWORD,
                                    ca_file=str(stranger_file)))
    try:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await station.connect()
        # it reports that once it is connected again (here: trusting the right CA)
        assert [m.payload["type"] for m in station.transaction_queue] == ["InvalidCentralSystemCertificate"]
    finally:
        await station.close()


async def test_profile_3_sign_certificate_then_mutual_tls(platform: Platform, pki: Pki, api: Api, http) -> None:
    await register(platform, http, "SEC-3", profile=2)
    config = StationConfig("SEC-3", csms_url=tls_url(platform), password=PASSWORD, ca_file=str(pki.ca_file))
    async with emulated(config, maintained=True) as station:
        connects = station.stats.connects
        assert await station.security.request_certificate() == "Accepted"

        async def reconnected_with_a_certificate() -> bool:
            return station.security.client_certificate is not None and station.stats.connects > connects \
                and station.is_online

        await wait_for(reconnected_with_a_certificate, 20)
        certificate = station.security.client_certificate
        assert certificate is not None
        # signed by the platform CA, for this station, as the CertificateSigned frame carried it
        certificate.verify_directly_issued_by(pki.ca.certificate)
        [sent] = await wait_for(lambda: frames(platform, "SEC-3", "CertificateSigned"))
        assert certificate_pem(certificate).strip().splitlines()[1] in sent.replace("\\n", "\n")
        serial = format(certificate.serial_number, "x")

        async def installed() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.get("/stations/SEC-3/certificates"))["items"]
            return [c for c in items if c["status"] == "installed"]

        [row] = await wait_for(installed)
        assert (row["certificate_type"], row["serial_number"], row["subject"]) == (
            "ChargePointCertificate", serial, "O=ChargePlane,CN=SEC-3")
        key = station.security.client_key
    # now profile 3: the certificate is the credential, no password needed
    await register(platform, http, "SEC-3", profile=3)
    mutual = Station(StationConfig("SEC-3", csms_url=tls_url(platform), ca_file=str(pki.ca_file)))
    mutual.security.client_certificate, mutual.security.client_key = certificate, key
    try:
        await mutual.connect()
        assert (await station_view(api, "SEC-3"))["connected"] is True
    finally:
        await mutual.close()


async def test_profile_3_admits_only_a_certificate_for_the_station(platform: Platform, pki: Pki, api: Api,
                                                                  http) -> None:
    await register(platform, http, "SEC-3B", profile=3, password=None)
    own_certificate, own_key = pki.write_client("SEC-3B")
    mutual = StationConfig("SEC-3B", csms_url=tls_url(platform), ca_file=str(pki.ca_file),
                           client_certificate_file=own_certificate, client_key_file=own_key)
    async with emulated(mutual):
        view = await station_view(api, "SEC-3B")
        assert (view["security_profile"], view["connected"]) == (3, True)
    # a certificate the platform CA issued for another station id
    other_certificate, other_key = pki.write_client("SEC-OTHER")
    assert await refusal(StationConfig("SEC-3B", csms_url=tls_url(platform), ca_file=str(pki.ca_file),
                                       client_certificate_file=other_certificate, client_key_file=other_key)) == 403
    # no certificate at all, even with a password: profile 3 needs one
    await register(platform, http, "SEC-3B", profile=3, password=PASSWORD)
    assert await refusal(StationConfig("SEC-3B", csms_url=tls_url(platform), password=PASSWORD,
                                       ca_file=str(pki.ca_file))) == 403
    # a certificate from a CA the gateway does not trust fails the TLS handshake itself
    foreign_certificate, foreign_key = pki.write_client("SEC-3B", CertificateAuthority.generate("Foreign"))
    station = Station(StationConfig("SEC-3B", csms_url=tls_url(platform), ca_file=str(pki.ca_file),
                                    client_certificate_file=foreign_certificate, client_key_file=foreign_key))
    try:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
            await station.connect()
    finally:
        await station.close()
    assert (await station_view(api, "SEC-3B"))["connected"] is False


async def test_a_csr_for_another_station_is_rejected(platform: Platform, pki: Pki, api: Api, http) -> None:
    await register(platform, http, "SEC-CSR")
    async with emulated(StationConfig("SEC-CSR", csms_url=platform.ocpp_url, password=PASSWORD)) as station:
        reply = await station.call("SignCertificate", {"csr": station_csr(new_key(), "SOMEONE-ELSE")})
        assert reply == {"status": "Rejected"}
        reply = await station.call("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnope\n"})
        assert reply == {"status": "Rejected"}
        await asyncio.sleep(0.3)
        assert await frames(platform, "SEC-CSR", "CertificateSigned") == []
    assert (await api.get("/stations/SEC-CSR/certificates"))["items"] == []


async def test_install_list_and_delete_certificates_through_the_api(platform: Platform, pki: Pki, api: Api,
                                                                    http) -> None:
    await register(platform, http, "SEC-CERTS")
    root = CertificateAuthority.generate("Another CSMS root").certificate
    async with emulated(StationConfig("SEC-CERTS", csms_url=platform.ocpp_url, password=PASSWORD)) as station:
        status, body = await api.command("SEC-CERTS", "InstallCertificate", {
            "certificateType": "CentralSystemRootCertificate", "certificate": certificate_pem(root)})
        assert (status, body["result"]) == (200, {"status": "Accepted"}), body
        assert station.security.roots["CentralSystemRootCertificate"] == [root]
        [frame] = await wait_for(lambda: frames(platform, "SEC-CERTS", "InstallCertificate"))
        assert "CentralSystemRootCertificate" in frame
        [row] = (await api.get("/stations/SEC-CERTS/certificates"))["items"]
        expected = hash_data(root)
        assert (row["certificate_type"], row["status"], row["serial_number"], row["issuer_name_hash"]) == (
            "CentralSystemRootCertificate", "installed", expected["serialNumber"], expected["issuerNameHash"])

        # a certificate the station got elsewhere shows up once the station lists it
        manufacturer = CertificateAuthority.generate("Manufacturer root").certificate
        station.security.roots["ManufacturerRootCertificate"].append(manufacturer)
        status, body = await api.command("SEC-CERTS", "GetInstalledCertificateIds",
                                         {"certificateType": "ManufacturerRootCertificate"})
        assert body["result"] == {"status": "Accepted", "certificateHashData": [hash_data(manufacturer)]}
        types = {(c["certificate_type"], c["status"])
                 for c in (await api.get("/stations/SEC-CERTS/certificates"))["items"]}
        assert types == {("CentralSystemRootCertificate", "installed"), ("ManufacturerRootCertificate", "installed")}

        status, body = await api.command("SEC-CERTS", "DeleteCertificate", {"certificateHashData": expected})
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        assert station.security.roots["CentralSystemRootCertificate"] == []
        status, body = await api.command("SEC-CERTS", "DeleteCertificate", {"certificateHashData": expected})
        assert body["result"] == {"status": "NotFound"}
        statuses = {c["certificate_type"]: c["status"]
                    for c in (await api.get("/stations/SEC-CERTS/certificates"))["items"]}
        assert statuses == {"CentralSystemRootCertificate": "deleted", "ManufacturerRootCertificate": "installed"}

        # the station's own word: a certificate removed on the station is no longer installed
        station.security.roots["ManufacturerRootCertificate"].clear()
        status, body = await api.command("SEC-CERTS", "GetInstalledCertificateIds",
                                         {"certificateType": "ManufacturerRootCertificate"})
        assert body["result"] == {"status": "NotFound"}
        statuses = {c["certificate_type"]: c["status"]
                    for c in (await api.get("/stations/SEC-CERTS/certificates"))["items"]}
        assert statuses["ManufacturerRootCertificate"] == "deleted"

        # what is not a certificate never reaches the station
        status, body = await api.command("SEC-CERTS", "InstallCertificate", {
            "certificateType": "CentralSystemRootCertificate", "certificate": "not a certificate"})
        assert (status, body["error"]["code"]) == (422, "invalid_certificate")
    assert len(await frames(platform, "SEC-CERTS", "InstallCertificate")) == 1


async def test_security_events_are_stored_and_listed(platform: Platform, api: Api, http) -> None:
    await register(platform, http, "SEC-EVT")
    wrong = StationConfig("SEC-EVT", csms_url=platform.ocpp_url, password="not-the-password-at-all")
    station = Station(wrong)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await station.connect()
        # the same station, now with the right password: the failure is reported once it is in
        station.config = StationConfig("SEC-EVT", csms_url=platform.ocpp_url, password=PASSWORD)
        await station.connect()

        async def events() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.get("/stations/SEC-EVT/security-events"))["items"]
            return items

        [event] = await wait_for(events)
        assert event["type"] == "FailedToAuthenticateAtCentralSystem"
        assert "401" in event["tech_info"]
        await wait_for(lambda: frames(platform, "SEC-EVT", "SecurityEventNotification"))
    finally:
        await station.close()

    async with emulated(StationConfig("SEC-EVT", csms_url=platform.ocpp_url, password=PASSWORD),
                        maintained=True):
        assert await api.command("SEC-EVT", "Reset", {"type": "Soft"}) == (200, {
            "station_id": "SEC-EVT", "action": "Reset", "result": {"status": "Accepted"}})

        async def reset_reported() -> bool:
            items = (await api.get("/stations/SEC-EVT/security-events"))["items"]
            return [e["type"] for e in items][:1] == ["ResetOrReboot"]

        await wait_for(reset_reported, 20)
    async with http.get(f"{api.base}/stations/NOBODY/security-events", headers=api.headers) as response:
        assert response.status == 404


async def test_authorization_key_becomes_the_station_password(platform: Platform, api: Api, http) -> None:
    await register(platform, http, "SEC-KEY")
    new_password = "second-password-456789"
    async with emulated(StationConfig("SEC-KEY", csms_url=platform.ocpp_url, password=PASSWORD),
                        maintained=True) as station:
        status, body = await api.command("SEC-KEY", "ChangeConfiguration",
                                         {"key": "AuthorizationKey", "value": "short"})
        assert (status, body["error"]["details"]["path"]) == (422, "value")
        connects = station.stats.connects
        status, body = await api.command("SEC-KEY", "ChangeConfiguration",
                                         {"key": "AuthorizationKey", "value": new_password})
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        assert station.config.password == new_password

        async def reconnected() -> bool:
            return station.stats.connects > connects and station.is_online

        await wait_for(reconnected, 20)
    # the auth service now holds the new password, and only it
    for password, valid in ((new_password, True), (PASSWORD, False)):
        async with http.post(f"{platform.url('auth')}/internal/auth/stations/SEC-KEY/check",
                             json={"password": password}) as response:
            assert (await response.json())["valid"] is valid
    assert await refusal(StationConfig("SEC-KEY", csms_url=platform.ocpp_url, password=PASSWORD)) == 401


async def test_the_platform_ca_certificate_is_published(platform: Platform, pki: Pki, api: Api) -> None:
    body = await api.get("/security/ca-certificate")
    assert body["certificate"] == pki.ca.pem
