"""The X.509 helpers of the security extension (common/certificates.py)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from chargeplane.common.certificates import (
    CertificateAuthority,
    CertificateError,
    check_station_csr,
    hash_data,
    load_csr,
    new_key,
    same_certificate,
    station_csr,
)


def test_hash_data_is_what_ocsp_names_a_certificate_by() -> None:
    """OCPP's CertificateHashData is OCSP's CertID: checked against cryptography's OCSP builder."""
    ca = CertificateAuthority.generate("Hash CA")
    leaf, _ = ca.issue_client_certificate("CP-1")
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca.certificate, hashes.SHA256()).build()
    assert hash_data(leaf, ca.certificate) == {
        "hashAlgorithm": "SHA256", "issuerNameHash": request.issuer_name_hash.hex(),
        "issuerKeyHash": request.issuer_key_hash.hex(), "serialNumber": format(request.serial_number, "x"),
    }
    assert same_certificate(hash_data(leaf, ca.certificate),
                            {k: v.upper() for k, v in hash_data(leaf, ca.certificate).items()})
    assert not same_certificate(hash_data(leaf, ca.certificate), hash_data(ca.certificate))


def test_the_ca_signs_a_csr_only_for_the_station_it_names() -> None:
    ca = CertificateAuthority.generate()
    key = new_key()
    certificate = ca.sign_station_csr(load_csr(station_csr(key, "CP-7")), "CP-7", days=30)
    certificate.verify_directly_issued_by(ca.certificate)
    assert certificate.public_key() == key.public_key()
    with pytest.raises(CertificateError, match="names 'CP-7'"):
        ca.sign_station_csr(load_csr(station_csr(key, "CP-7")), "CP-8")
    with pytest.raises(CertificateError):
        load_csr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    check_station_csr(load_csr(station_csr(new_key(), "CP-9", "Vendor")), "CP-9")
