"""The station's side of the OCPP 1.6 security extension (whitepaper edition 3).

* TLS: `wss://` URLs are verified against the configured CA file and every installed
  CentralSystemRootCertificate; with a client certificate the station connects with it
  (security profile 3).
* SignCertificate: a new key and a CSR with CN = station id; the certificate that comes
  back in CertificateSigned becomes the station's client certificate, and the station
  reconnects with it.
* InstallCertificate, GetInstalledCertificateIds, DeleteCertificate on a certificate store of
  real X.509 certificates, named by OCPP's CertificateHashData.
* SecurityEventNotification: queued with the transaction messages (delivered in order,
  resent through reconnects), e.g. after a failed connect or a reset.
* AuthorizationKey: an accepted change becomes the Basic-auth password; the station
  reconnects with it.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import aiohttp
from cryptography import x509

from chargeplane.common.certificates import (
    CertificateError,
    PrivateKey,
    certificate_pem,
    common_name,
    hash_data,
    key_pem,
    load_certificate,
    load_chain,
    load_key,
    new_key,
    same_certificate,
    station_csr,
)

from .configuration import ChangeResult
from .model import StationConfig
from .protocol import CallError, Payload, utc_timestamp
from .replies import Caller, Handlers, Reply
from .transaction_queue import TransactionQueue

AUTHORIZATION_KEY: Final = "AuthorizationKey"
ROOT_CERTIFICATE_TYPES: Final = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
# Security event types of the whitepaper's list that the emulator reports.
FAILED_TO_AUTHENTICATE: Final = "FailedToAuthenticateAtCentralSystem"
INVALID_CENTRAL_SYSTEM_CERTIFICATE: Final = "InvalidCentralSystemCertificate"
INVALID_CHARGE_POINT_CERTIFICATE: Final = "InvalidChargePointCertificate"
RESET_OR_REBOOT: Final = "ResetOrReboot"
RECONFIGURATION: Final = "ReconfigurationOfSecurityParameters"


class StationSecurity:
    """One station's keys, certificates and pending security events."""

    def __init__(self, config: StationConfig, queue: TransactionQueue, link: Caller,
                 reconnect: Callable[[], Awaitable[None]], set_password: Callable[[str], None],
                 emit: Callable[[str], None]) -> None:
        """`config`: the station's as it starts; `reconnect` drops the connection (the station
        reconnects with its new credentials); `set_password` makes a new Basic-auth password
        the station's; `emit` tells what happened (a station event)."""
        self._config = config
        self._queue = queue
        self._link = link
        self._reconnect = reconnect
        self._set_password = set_password
        self._emit = emit
        self.roots: dict[str, list[x509.Certificate]] = {kind: [] for kind in ROOT_CERTIFICATE_TYPES}
        self.client_certificate: x509.Certificate | None = None
        self.client_key: PrivateKey | None = None
        # the key of the CSR sent last, until its certificate comes back
        self._pending_key: PrivateKey | None = None
        # event types queued and not yet delivered: a long outage reports each once
        self._undelivered: set[str] = set()
        if config.client_certificate_file and config.client_key_file:
            self.client_certificate = load_certificate(Path(config.client_certificate_file).read_bytes())
            self.client_key = load_key(Path(config.client_key_file).read_bytes())

    # ----- TLS -------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What the WebSocket connects with: True (the system's trust) for `ws://` URLs or
        with nothing configured, else a context trusting the configured and installed CAs,
        with the client certificate when the station has one."""
        config = self._config
        central_roots = self.roots["CentralSystemRootCertificate"]
        if not config.csms_url.startswith("wss:") or (
                not config.ca_file and not central_roots and self.client_certificate is None):
            return True
        context = ssl.create_default_context(cafile=config.ca_file)
        if central_roots:
            context.load_verify_locations(cadata="".join(certificate_pem(c) for c in central_roots))
        if self.client_certificate is not None and self.client_key is not None:
            # ssl reads a certificate chain only from files: a private temporary folder, gone at once
            with tempfile.TemporaryDirectory(prefix="chargeplane-station-") as folder:
                certificate_file, key_file = Path(folder) / "client.crt", Path(folder) / "client.key"
                certificate_file.write_text(certificate_pem(self.client_certificate))
                key_file.write_text(key_pem(self.client_key))
                context.load_cert_chain(certificate_file, key_file)
        return context

    def on_connect_failed(self, error: BaseException) -> None:
        """Report (once connected again) why the CSMS could not be reached securely."""
        if isinstance(error, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
            self.report(INVALID_CENTRAL_SYSTEM_CERTIFICATE, str(error))
        elif isinstance(error, aiohttp.WSServerHandshakeError) and error.status in (401, 403):
            self.report(FAILED_TO_AUTHENTICATE, f"the CSMS answered {error.status} to the upgrade")

    # ----- security events -------------------------------------------------------------------

    def report(self, event_type: str, tech_info: str | None = None) -> None:
        """Queue a SecurityEventNotification; delivered in order with transaction messages."""
        if event_type in self._undelivered:
            return
        payload: Payload = {"type": event_type, "timestamp": utc_timestamp()}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        self._undelivered.add(event_type)
        message = self._queue.put("SecurityEventNotification", payload)
        message.reply.add_done_callback(lambda _: self._undelivered.discard(event_type))
        self._emit(f"security event queued: {event_type}")

    # ----- SignCertificate / CertificateSigned ----------------------------------------------

    async def request_certificate(self) -> str:
        """Send SignCertificate with a CSR for a new key; the CSMS's answer (Accepted: a
        CertificateSigned follows). Also what ExtendedTriggerMessage SignChargePointCertificate runs."""
        self._pending_key = new_key()
        csr = station_csr(self._pending_key, self._config.station_id, self._config.vendor)
        reply = await self._link.call("SignCertificate", {"csr": csr})
        return str(reply["status"])

    def on_certificate_signed(self, payload: Payload) -> Reply:
        try:
            chain = load_chain(payload["certificateChain"])
        except CertificateError as exc:
            return self._refuse_certificate(str(exc))
        leaf = chain[0]
        if self._pending_key is None or leaf.public_key() != self._pending_key.public_key():
            return self._refuse_certificate("the certificate is not for the key of the last CSR")
        if common_name(leaf.subject) != self._config.station_id:
            return self._refuse_certificate(f"the certificate names {common_name(leaf.subject)!r}")
        if len(chain) > 1:
            try:
                leaf.verify_directly_issued_by(chain[1])
            except (ValueError, TypeError) as exc:
                return self._refuse_certificate(f"the chain does not hold: {exc}")
        self.client_certificate, self.client_key, self._pending_key = leaf, self._pending_key, None
        self._emit(f"client certificate installed (serial {leaf.serial_number:x})")
        return Reply({"status": "Accepted"}, self._reconnect_if_secure)

    def _refuse_certificate(self, reason: str) -> Reply:
        self.report(INVALID_CHARGE_POINT_CERTIFICATE, reason)
        return Reply({"status": "Rejected"})

    async def _reconnect_if_secure(self) -> None:
        # The new certificate is used from the next TLS connection on: make that now.
        if self._config.csms_url.startswith("wss:"):
            await self._reconnect()

    # ----- the certificate store --------------------------------------------------------------

    def on_install_certificate(self, payload: Payload) -> Reply:
        kind = payload["certificateType"]
        if kind not in self.roots:
            raise CallError("PropertyConstraintViolation", f"unknown certificate type {kind!r}")
        try:
            certificate = load_certificate(payload["certificate"])
        except CertificateError:
            return Reply({"status": "Rejected"})
        if not any(same_certificate(hash_data(c), hash_data(certificate)) for c in self.roots[kind]):
            self.roots[kind].append(certificate)
        self._emit(f"{kind} installed: {certificate.subject.rfc4514_string()}")
        return Reply({"status": "Accepted"})

    def on_get_installed_certificate_ids(self, payload: Payload) -> Reply:
        kind = payload["certificateType"]
        if kind not in self.roots:
            raise CallError("PropertyConstraintViolation", f"unknown certificate type {kind!r}")
        if not self.roots[kind]:
            return Reply({"status": "NotFound"})
        return Reply({"status": "Accepted", "certificateHashData": [hash_data(c) for c in self.roots[kind]]})

    def on_delete_certificate(self, payload: Payload) -> Reply:
        wanted = payload["certificateHashData"]
        if self.client_certificate is not None and same_certificate(wanted, hash_data(self.client_certificate)):
            return Reply({"status": "Failed"})  # the whitepaper forbids deleting the station's own certificate
        for certificates in self.roots.values():
            for certificate in certificates:
                if same_certificate(wanted, hash_data(certificate, algorithm=wanted["hashAlgorithm"])):
                    certificates.remove(certificate)
                    self._emit(f"certificate deleted: {certificate.subject.rfc4514_string()}")
                    return Reply({"status": "Accepted"})
        return Reply({"status": "NotFound"})

    # ----- AuthorizationKey --------------------------------------------------------------------

    def change_authorization_key(self, value: str) -> ChangeResult:
        """The new Basic-auth password, from the next connection on (16 to 40 characters)."""
        if not 16 <= len(value) <= 40:
            return ChangeResult.REJECTED
        self._set_password(value)
        self.report(RECONFIGURATION, "AuthorizationKey changed")
        return ChangeResult.ACCEPTED

    def after_configuration_change(self, key: str, result: ChangeResult) -> Callable[[], Awaitable[Any]] | None:
        """An accepted AuthorizationKey: reconnect with it once the reply is out."""
        if key == AUTHORIZATION_KEY and result is ChangeResult.ACCEPTED:
            return self._reconnect
        return None


def csms_calls(security: StationSecurity) -> Handlers:
    return {
        "CertificateSigned": security.on_certificate_signed,
        "InstallCertificate": security.on_install_certificate,
        "GetInstalledCertificateIds": security.on_get_installed_certificate_ids,
        "DeleteCertificate": security.on_delete_certificate,
    }
