"""The OCPP 1.6 security extension (whitepaper edition 3) in the gateway: the platform CA
that signs stations' CSRs, the certificates each station holds, its security events, and
the password an accepted `AuthorizationKey` change gives it.

Commands to stations go through the command router like any other; this module refuses the
security commands OCPP would let through but the station and the CSMS would then disagree on
(`check_command`), and records what a station's reply changed (the recorders): an installed
or deleted certificate, the list GetInstalledCertificateIds reports, a new Basic-auth password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from cryptography import x509

from chargeplane.common.certificates import (
    CertificateAuthority,
    CertificateError,
    hash_data,
    load_certificate,
    load_chain,
)
from chargeplane.common.db import DB_POOL
from chargeplane.common.web import ApiError
from chargeplane.services.ocpp.core.auth_client import AUTH, AuthClient, AuthUnavailable
from chargeplane.services.ocpp.core.commands import COMMANDS, Command, CommandRouter
from chargeplane.services.ocpp.settings import OCPP_SETTINGS

from .repository import CHARGE_POINT_CERTIFICATE, SecurityRepository

log = structlog.get_logger(__name__)

AUTHORIZATION_KEY = "AuthorizationKey"
# The whitepaper's AuthorizationKey: at least 16 characters; the auth service stores up to 40.
AUTHORIZATION_KEY_LENGTHS = range(16, 41)
CERTIFICATE_SIGNED_WAIT_S = 30.0


@dataclass(slots=True)
class StationSecurity:
    """What the security handlers, views and recorders share, one per gateway process."""

    repository: SecurityRepository
    commands: CommandRouter
    auth: AuthClient
    ca: CertificateAuthority | None
    certificate_days: int

    async def issue_certificate(self, station_id: str, csr: x509.CertificateSigningRequest) -> None:
        """Sign a station's CSR with the platform CA and send it CertificateSigned (after the
        SignCertificate reply, as the whitepaper orders them); the recorder keeps its answer."""
        if self.ca is None:
            raise RuntimeError("no platform CA is configured")
        certificate = self.ca.sign_station_csr(csr, station_id, days=self.certificate_days)
        await self.repository.record_certificate(station_id, CHARGE_POINT_CERTIFICATE, "issued",
                                                 hash_data(certificate, self.ca.certificate), certificate)
        log.info("station certificate issued", station_id=station_id,
                 serial_number=format(certificate.serial_number, "x"))
        payload = {"certificateChain": self.ca.chain_pem(certificate)}
        outcome = await self.commands.send(station_id, "CertificateSigned", payload, CERTIFICATE_SIGNED_WAIT_S,
                                           source="gateway")
        if outcome.status != "result":
            log.warning("certificate signed not delivered", station_id=station_id, outcome=outcome.status)

    # ----- one recorder per command ---------------------------------------------------------

    async def _certificate_signed(self, station_id: str, payload: dict[str, Any], result: dict[str, Any]) -> None:
        chain = load_chain(payload["certificateChain"])
        issuer = chain[1] if len(chain) > 1 else self._issuer_of(chain[0])
        status = "installed" if result["status"] == "Accepted" else "rejected"
        await self.repository.record_certificate(station_id, CHARGE_POINT_CERTIFICATE, status,
                                                 hash_data(chain[0], issuer), chain[0])
        log.info("station certificate signed", station_id=station_id, status=result["status"])

    async def _install_certificate(self, station_id: str, payload: dict[str, Any],
                                   result: dict[str, Any]) -> None:
        if result["status"] != "Accepted":
            return
        certificate = load_certificate(payload["certificate"])
        await self.repository.record_certificate(station_id, payload["certificateType"], "installed",
                                                 hash_data(certificate, self._issuer_of(certificate)), certificate)

    async def _delete_certificate(self, station_id: str, payload: dict[str, Any], result: dict[str, Any]) -> None:
        # NotFound: the station does not have it either, so it is not installed.
        if result["status"] in ("Accepted", "NotFound"):
            await self.repository.mark_deleted(station_id, payload["certificateHashData"])

    async def _installed_certificate_ids(self, station_id: str, payload: dict[str, Any],
                                         result: dict[str, Any]) -> None:
        if result["status"] in ("Accepted", "NotFound"):
            await self.repository.reconcile(station_id, payload["certificateType"],
                                            result.get("certificateHashData") or [])

    async def _change_configuration(self, station_id: str, payload: dict[str, Any],
                                    result: dict[str, Any]) -> None:
        if payload["key"] != AUTHORIZATION_KEY or result["status"] not in ("Accepted", "RebootRequired"):
            return
        # The station connects with the new key from now on: it becomes its Basic-auth password.
        try:
            await self.auth.set_station_password(station_id, payload["value"])
        except AuthUnavailable as exc:
            log.error("station password not changed", station_id=station_id, error=str(exc))
            raise ApiError(503, "password_not_stored", "the station accepted the new AuthorizationKey but the auth "
                           "service could not store it; send it again", {"station_id": station_id}) from exc
        log.info("station password changed", station_id=station_id)

    def _issuer_of(self, certificate: x509.Certificate) -> x509.Certificate:
        """The platform CA for a certificate it issued; the certificate itself for a root."""
        if self.ca is not None and certificate.issuer == self.ca.certificate.subject:
            return self.ca.certificate
        return certificate


SECURITY = web.AppKey("security", StationSecurity)

_Recorder = Callable[[StationSecurity, str, dict[str, Any], dict[str, Any]], Awaitable[None]]
_RECORDERS: dict[str, _Recorder] = {
    "CertificateSigned": StationSecurity._certificate_signed,
    "InstallCertificate": StationSecurity._install_certificate,
    "DeleteCertificate": StationSecurity._delete_certificate,
    "GetInstalledCertificateIds": StationSecurity._installed_certificate_ids,
    "ChangeConfiguration": StationSecurity._change_configuration,
}
RECORDED_ACTIONS = frozenset(_RECORDERS)


async def record_reply(app: web.Application, command: Command, reply: dict[str, Any]) -> None:
    """Record what a station's reply to a security command changed."""
    await _RECORDERS[command.action](app[SECURITY], command.station_id, command.payload, reply)


async def check_command(app: web.Application, command: Command) -> None:
    """Refuse (422) a schema-valid security command that would leave the station and the
    CSMS disagreeing: a certificate that is not one, an AuthorizationKey the auth service
    could not store as the station's password."""
    action, payload = command.action, command.payload
    try:
        if action == "InstallCertificate":
            load_certificate(payload["certificate"])
        elif action == "CertificateSigned":
            load_chain(payload["certificateChain"])
    except CertificateError as exc:
        raise ApiError(422, "invalid_certificate", str(exc)) from exc
    if (action == "ChangeConfiguration" and payload["key"] == AUTHORIZATION_KEY
            and len(payload["value"]) not in AUTHORIZATION_KEY_LENGTHS):
        raise ApiError(422, "invalid_payload", "AuthorizationKey: 16 to 40 characters", {"path": "value"})


CHECKED_ACTIONS = ("InstallCertificate", "CertificateSigned", "ChangeConfiguration")


async def security_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[OCPP_SETTINGS]
    ca = None
    if settings.ca_cert_file and settings.ca_key_file:
        ca = CertificateAuthority.load(settings.ca_cert_file, settings.ca_key_file)
        log.info("platform ca loaded", subject=ca.certificate.subject.rfc4514_string())
    app[SECURITY] = StationSecurity(SecurityRepository(app[DB_POOL]), app[COMMANDS], app[AUTH], ca,
                                    settings.station_certificate_days)
    yield
