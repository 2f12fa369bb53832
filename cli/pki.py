"""The certificates `chargeplane up` serves OCPP over TLS with (security profiles 2 and 3):
a platform CA kept in the data directory, and a gateway certificate for this machine
signed by it. In Kubernetes both come from Secrets instead (docs/ocpp-security.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chargeplane.common.certificates import CertificateAuthority, certificate_pem, key_pem
from chargeplane.common.logs import get_logger

log = get_logger(__name__)
GATEWAY_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class PlatformPki:
    folder: Path

    @property
    def ca_certificate(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def gateway_certificate(self) -> Path:
        return self.folder / "tls.crt"

    @property
    def gateway_key(self) -> Path:
        return self.folder / "tls.key"

    def gateway_environment(self, tls_port: int) -> dict[str, str]:
        """The gateway's settings (services/ocpp/settings.py) for its TLS listener and CA."""
        return {"TLS_PORT": str(tls_port), "TLS_CERT_FILE": str(self.gateway_certificate),
                "TLS_KEY_FILE": str(self.gateway_key), "CA_CERT_FILE": str(self.ca_certificate),
                "CA_KEY_FILE": str(self.ca_key)}


def ensure_platform_pki(folder: Path) -> PlatformPki:
    """The CA is made once and kept (stations trust it and hold certificates it signed); the
    gateway's certificate is made anew whenever it is missing."""
    pki = PlatformPki(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if pki.ca_certificate.exists() and pki.ca_key.exists():
        ca = CertificateAuthority.load(pki.ca_certificate, pki.ca_key)
    else:
        ca = CertificateAuthority.generate()
        ca.write(pki.ca_certificate, pki.ca_key)
        log.info("platform ca created", path=str(pki.ca_certificate))
    if not (pki.gateway_certificate.exists() and pki.gateway_key.exists()):
        certificate, key = ca.issue_server_certificate(GATEWAY_HOSTS)
        pki.gateway_key.touch(mode=0o600)
        pki.gateway_key.write_text(key_pem(key))
        pki.gateway_certificate.write_text(certificate_pem(certificate))
    return pki
