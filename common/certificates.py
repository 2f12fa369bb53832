"""X.509 for the OCPP 1.6 security extension, with the `cryptography` package: the platform
CA, station keys and CSRs, certificates signed from CSRs, and OCPP's CertificateHashData.

Pure functions on `cryptography` objects and PEM text, shared by the gateway (which signs),
`chargeplane up` (which makes a CA for one machine) and the emulator (a station's side).
Keys are ECDSA P-256: the whitepaper allows it, and it signs in microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey
# A little slack for clocks that disagree by seconds: a certificate valid from "now" on
# one machine must not be "not yet valid" on the next.
CLOCK_SKEW = timedelta(minutes=5)


class CertificateError(ValueError):
    """A CSR or certificate that cannot be used: unparsable, badly signed, or for someone else."""


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def load_key(pem: str | bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("only ECDSA keys are used here")
    return key


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def load_certificate(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from exc


def load_chain(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a CertificateSigned chain), leaf first."""
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate chain: {exc}") from exc
    return chain


def common_name(name: x509.Name) -> str | None:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else None


def _name(cn: str, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return builder.not_valid_before(now - CLOCK_SKEW).not_valid_after(now + timedelta(days=days))


@dataclass(frozen=True)
class CertificateAuthority:
    """The platform CA: it signs station certificates (SignCertificate) and, for
    `chargeplane up`, the gateway's TLS certificate."""

    certificate: x509.Certificate
    key: PrivateKey

    @classmethod
    def generate(cls, cn: str = "ChargePlane platform CA", *, days: int = 3650,
                 organization: str = "ChargePlane") -> CertificateAuthority:
        key = new_key()
        name = _name(cn, organization)
        certificate = (
            _validity(x509.CertificateBuilder(), days)
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @classmethod
    def load(cls, certificate_file: Path, key_file: Path) -> CertificateAuthority:
        return cls(load_certificate(certificate_file.read_bytes()), load_key(key_file.read_bytes()))

    def write(self, certificate_file: Path, key_file: Path) -> None:
        certificate_file.write_text(certificate_pem(self.certificate))
        key_file.touch(mode=0o600)
        key_file.write_text(key_pem(self.key))

    @property
    def pem(self) -> str:
        return certificate_pem(self.certificate)

    def _issue(self, subject: x509.Name, public_key: Any, days: int,
               usage: x509.ObjectIdentifier, alt_names: list[x509.GeneralName] | None = None) -> x509.Certificate:
        builder = (
            _validity(x509.CertificateBuilder(), days)
            .subject_name(subject).issuer_name(self.certificate.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_agreement=True, key_encipherment=False,
                                         content_commitment=False, data_encipherment=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_station_csr(self, csr: x509.CertificateSigningRequest, station_id: str, *,
                         days: int = 365) -> x509.Certificate:
        """A client certificate for security profile 3, from the station's own CSR. The CSR
        must be signed by its key and name the station (CN = station id): a station cannot
        get a certificate that lets it pose as another."""
        check_station_csr(csr, station_id)
        return self._issue(csr.subject, csr.public_key(), days, ExtendedKeyUsageOID.CLIENT_AUTH)

    def issue_server_certificate(self, hosts: Iterable[str], *, days: int = 825) -> tuple[x509.Certificate, PrivateKey]:
        """A TLS server certificate for the gateway (what cert-manager issues in a cluster)."""
        hosts = list(hosts)
        key = new_key()
        alt_names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                alt_names.append(x509.IPAddress(ip_address(host)))
            except ValueError:
                alt_names.append(x509.DNSName(host))
        certificate = self._issue(_name(hosts[0], None), key.public_key(), days, ExtendedKeyUsageOID.SERVER_AUTH,
                                  alt_names)
        return certificate, key

    def issue_client_certificate(self, cn: str, *, days: int = 365) -> tuple[x509.Certificate, PrivateKey]:
        """A client certificate with a key made here (tests, and stations provisioned in the factory)."""
        key = new_key()
        return self._issue(_name(cn, None), key.public_key(), days, ExtendedKeyUsageOID.CLIENT_AUTH), key

    def chain_pem(self, leaf: x509.Certificate) -> str:
        """The CertificateSigned chain: the station's certificate, then the CA that signed it."""
        return certificate_pem(leaf) + self.pem


def station_csr(key: PrivateKey, station_id: str, organization: str | None = None) -> str:
    """The PEM CSR a station sends in SignCertificate (CN = its station id)."""
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_name(station_id, organization))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate signing request: {exc}") from exc


def check_station_csr(csr: x509.CertificateSigningRequest, station_id: str) -> None:
    if not csr.is_signature_valid:
        raise CertificateError("the CSR is not signed by the key it carries")
    cn = common_name(csr.subject)
    if cn != station_id:
        raise CertificateError(f"the CSR names {cn!r}, not the station {station_id!r}")


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


def _public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's contents, which OCSP (and so OCPP) hashes as the issuer key."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise CertificateError(f"unsupported public key type {type(key).__name__}")


def _digest(algorithm: str, data: bytes) -> str:
    digest = hashes.Hash(_HASHES[algorithm]())
    digest.update(data)
    return digest.finalize().hex()


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate | None = None,
              algorithm: str = "SHA256") -> dict[str, str]:
    """OCPP's CertificateHashDataType of a certificate. `issuer` defaults to the
    certificate itself, which is right for the root certificates InstallCertificate installs."""
    issuer = issuer or certificate
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": _digest(algorithm, certificate.issuer.public_bytes()),
        "issuerKeyHash": _digest(algorithm, _public_key_bits(issuer)),
        # hexadecimal without leading zeroes, as the whitepaper asks
        "serialNumber": format(certificate.serial_number, "x"),
    }


def same_certificate(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two CertificateHashData name the same certificate (hex compared case-insensitively)."""
    fields = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")
    return all(str(a.get(f, "")).lower().lstrip("0") == str(b.get(f, "")).lower().lstrip("0") for f in fields)
