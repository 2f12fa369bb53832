"""The security extension in PostgreSQL: the certificates each station holds or held
(`station_certificates`, named by OCPP's CertificateHashData) and its security events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

CHARGE_POINT_CERTIFICATE = "ChargePointCertificate"
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
