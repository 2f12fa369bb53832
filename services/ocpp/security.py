"""The OCPP 1.6 security extension (whitepaper edition 3) in the gateway: the platform CA
that signs stations' CSRs, the certificates each station holds, its security events, and
the password an accepted `AuthorizationKey` change gives it.

Commands to stations go through the generic command path (`commands_api`); this module
checks the security commands before they are sent (`check_command`) and records what a
station's reply changed (`after_command`): an installed or deleted certificate, the list
GetInstalledCertificateIds reports, a new Basic-auth password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from chargeplane.common.certificates import (
    CertificateAuthority,
    CertificateError,
    hash_data,
    load_certificate,
    load_chain,
)
from chargeplane.common.keys import DB_POOL, SETTINGS
from chargeplane.common.web import ApiError

from .auth_client import AuthClient, AuthUnavailable
from .commands import CommandOutcome, CommandRouter
from .keys import AUTH, COMMANDS, SECURITY
from .settings import OcppSettings

log = structlog.get_logger(__name__)

AUTHORIZATION_KEY = "AuthorizationKey"
# The whitepaper's AuthorizationKey: at least 16 characters; the auth service stores up to 40.
AUTHORIZATION_KEY_LENGTHS = range(16, 41)
CHARGE_POINT_CERTIFICATE = "ChargePointCertificate"
CERTIFICATE_SIGNED_WAIT_S = 30.0
CERTIFICATE_COLUMNS = (
    "id, certificate_type, status, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, subject,"
    " not_after, pem, created_at, updated_at"
)


def _normal(hashes: dict[str, Any]) -> tuple[str, str, str, str]:
    """CertificateHashData as stored: hex in lower case, the serial without leading zeroes."""
    return (str(hashes["hashAlgorithm"]), str(hashes["issuerNameHash"]).lower(),
            str(hashes["issuerKeyHash"]).lower(), str(hashes["serialNumber"]).lower().lstrip("0") or "0")


class SecurityRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record_event(self, station_id: str, event_type: str, tech_info: str | None,
                           occurred_at: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO security_events (station_id, type, tech_info, occurred_at) VALUES ($1, $2, $3, $4)",
            station_id, event_type, tech_info, occurred_at,
        )

    async def events(self, station_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT id, type, tech_info, occurred_at, received_at FROM security_events WHERE station_id = $1"
            " ORDER BY occurred_at DESC, id DESC LIMIT $2 OFFSET $3", station_id, limit, offset,
        )
        return [dict(r) for r in rows]

    async def certificates(self, station_id: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {CERTIFICATE_COLUMNS} FROM station_certificates WHERE station_id = $1 ORDER BY id", station_id
        )
        return [dict(r) for r in rows]

    async def record_certificate(self, station_id: str, certificate_type: str, status: str,
                                 hashes: dict[str, Any], certificate: x509.Certificate | None = None) -> None:
        """Insert or update one certificate of a station (identified by its hash data)."""
        pem = subject = not_after = None
        if certificate is not None:
            pem = certificate.public_bytes(Encoding.PEM).decode()
            subject, not_after = certificate.subject.rfc4514_string(), certificate.not_valid_after_utc
        async with self._pool.acquire() as conn, conn.transaction():
            if certificate_type == CHARGE_POINT_CERTIFICATE and status == "installed":
                # A station uses one client certificate: the new one replaces the one before.
                await conn.execute(
                    "UPDATE station_certificates SET status = 'replaced', updated_at = now() WHERE station_id = $1"
                    " AND certificate_type = $2 AND status = 'installed'", station_id, certificate_type,
                )
            await conn.execute(
                "INSERT INTO station_certificates (station_id, certificate_type, status, hash_algorithm,"
                " issuer_name_hash, issuer_key_hash, serial_number, subject, not_after, pem)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (station_id, certificate_type, hash_algorithm, issuer_name_hash, issuer_key_hash,"
                " serial_number) DO UPDATE SET status = EXCLUDED.status,"
                " subject = COALESCE(EXCLUDED.subject, station_certificates.subject),"
                " not_after = COALESCE(EXCLUDED.not_after, station_certificates.not_after),"
                " pem = COALESCE(EXCLUDED.pem, station_certificates.pem), updated_at = now()",
                station_id, certificate_type, status, *_normal(hashes), subject, not_after, pem,
            )

    async def mark_deleted(self, station_id: str, hashes: dict[str, Any]) -> int:
        """The station no longer has this certificate (of whichever type); how many rows said it had."""
        result: str = await self._pool.execute(
            "UPDATE station_certificates SET status = 'deleted', updated_at = now() WHERE station_id = $1"
            " AND hash_algorithm = $2 AND issuer_name_hash = $3 AND issuer_key_hash = $4 AND serial_number = $5"
            " AND status = 'installed'", station_id, *_normal(hashes),
        )
        return int(result.split()[-1])

    async def reconcile(self, station_id: str, certificate_type: str, reported: list[dict[str, Any]]) -> None:
        """GetInstalledCertificateIds is the station's own word: what it lists is installed,
        what it leaves out of that type is not."""
        normal = [_normal(h) for h in reported]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE station_certificates SET status = 'deleted', updated_at = now()"
                " WHERE station_id = $1 AND certificate_type = $2 AND status = 'installed'"
                " AND (hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number) NOT IN"
                " (SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]))",
                station_id, certificate_type, *[[n[i] for n in normal] for i in range(4)],
            )
            await conn.executemany(
                "INSERT INTO station_certificates (station_id, certificate_type, status, hash_algorithm,"
                " issuer_name_hash, issuer_key_hash, serial_number) VALUES ($1, $2, 'installed', $3, $4, $5, $6)"
                " ON CONFLICT (station_id, certificate_type, hash_algorithm, issuer_name_hash, issuer_key_hash,"
                " serial_number) DO UPDATE SET status = 'installed', updated_at = now()"
                " WHERE station_certificates.status <> 'installed'",
                [(station_id, certificate_type, *n) for n in normal],
            )


@dataclass(slots=True)
class StationSecurity:
    """What the security handlers and the command path share, one per gateway process."""

    repository: SecurityRepository
    commands: CommandRouter
    auth: AuthClient
    ca: CertificateAuthority | None
    certificate_days: int

    async def issue_certificate(self, station_id: str, csr: x509.CertificateSigningRequest) -> None:
        """Sign a station's CSR with the platform CA and send it CertificateSigned (after the
        SignCertificate reply, as the whitepaper orders them)."""
        if self.ca is None:
            raise RuntimeError("no platform CA is configured")
        certificate = self.ca.sign_station_csr(csr, station_id, days=self.certificate_days)
        await self.repository.record_certificate(station_id, CHARGE_POINT_CERTIFICATE, "issued",
                                                 hash_data(certificate, self.ca.certificate), certificate)
        log.info("station certificate issued", station_id=station_id,
                 serial_number=format(certificate.serial_number, "x"))
        payload = {"certificateChain": self.ca.chain_pem(certificate)}
        outcome = await self.commands.send(station_id, "CertificateSigned", payload, CERTIFICATE_SIGNED_WAIT_S)
        if outcome.status != "result":
            log.warning("certificate signed not delivered", station_id=station_id, outcome=outcome.status)
        await self.after_command(station_id, "CertificateSigned", payload, outcome)

    async def after_command(self, station_id: str, action: str, payload: dict[str, Any],
                            outcome: CommandOutcome) -> None:
        """Record what a station's reply to a security command changed."""
        recorder = _RECORDERS.get(action)
        if recorder is not None and outcome.status == "result":
            await recorder(self, station_id, payload, outcome.payload)

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


Recorder = Callable[[StationSecurity, str, dict[str, Any], dict[str, Any]], Awaitable[None]]
_RECORDERS: dict[str, Recorder] = {
    "CertificateSigned": StationSecurity._certificate_signed,
    "InstallCertificate": StationSecurity._install_certificate,
    "DeleteCertificate": StationSecurity._delete_certificate,
    "GetInstalledCertificateIds": StationSecurity._installed_certificate_ids,
    "ChangeConfiguration": StationSecurity._change_configuration,
}


def check_command(action: str, payload: dict[str, Any]) -> None:
    """Refuse (422) a schema-valid security command that would leave the station and the
    CSMS disagreeing: a certificate that is not one, an AuthorizationKey the auth service
    could not store as the station's password."""
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


async def security_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert isinstance(settings, OcppSettings)
    ca = None
    if settings.ca_cert_file and settings.ca_key_file:
        ca = CertificateAuthority.load(settings.ca_cert_file, settings.ca_key_file)
        log.info("platform ca loaded", subject=ca.certificate.subject.rfc4514_string())
    app[SECURITY] = StationSecurity(SecurityRepository(app[DB_POOL]), app[COMMANDS], app[AUTH], ca,
                                    settings.station_certificate_days)
    yield
