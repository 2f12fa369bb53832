"""SignCertificate: a station asks the platform CA to sign its CSR (security whitepaper A02/A03).

The CSR is checked here (it parses, its signature holds, CN = the station id); the
certificate goes out in a CertificateSigned CALL after this reply, as the whitepaper orders.
"""

from __future__ import annotations

from typing import Any

import structlog

from chargeplane.common.certificates import CertificateError, check_station_csr, load_csr
from chargeplane.services.ocpp.core.context import StationContext

from ..station_security import SECURITY

log = structlog.get_logger(__name__)


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    security = ctx.app[SECURITY]
    if security.ca is None:
        log.warning("certificate signing request rejected", station_id=ctx.station_id,
                    reason="no platform CA is configured (CA_CERT_FILE, CA_KEY_FILE)")
        return {"status": "Rejected"}
    try:
        csr = load_csr(payload["csr"])
        check_station_csr(csr, ctx.station_id)
    except CertificateError as exc:
        log.warning("certificate signing request rejected", station_id=ctx.station_id, reason=str(exc))
        return {"status": "Rejected"}
    station_id = ctx.station_id
    ctx.after_reply.append(lambda: security.issue_certificate(station_id, csr))
    return {"status": "Accepted"}
