"""certificateHashData against an independent reference: the CertID of an OCSP request (RFC 6960)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from services.ocpp_client.certificates.hash_data import certificate_hash_data, chain_hash_data, matches
from tests.services.ocpp_client.certificates.pki_tools import issue


def _ocsp_cert_id(cert, issuer):
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    return request.issuer_name_hash.hex(), request.issuer_key_hash.hex(), request.serial_number


def test_hash_data_of_a_root_equals_the_ocsp_cert_id() -> None:
    root = issue("root")
    data = certificate_hash_data(root.cert, root.cert)
    name_hash, key_hash, serial = _ocsp_cert_id(root.cert, root.cert)
    assert data == {"hashAlgorithm": "SHA256", "issuerNameHash": name_hash, "issuerKeyHash": key_hash,
                    "serialNumber": format(serial, "x")}


def test_hash_data_of_a_leaf_hashes_its_issuers_name_and_key() -> None:
    root = issue("root")
    leaf = issue("leaf", root, ca=False)
    name_hash, key_hash, _ = _ocsp_cert_id(leaf.cert, root.cert)
    data = certificate_hash_data(leaf.cert, root.cert)
    assert (data["issuerNameHash"], data["issuerKeyHash"]) == (name_hash, key_hash)


def test_serial_number_is_hex_without_leading_zeroes() -> None:
    root = issue("root", serial=0x00ABC)
    assert certificate_hash_data(root.cert, root.cert)["serialNumber"] == "abc"


def test_match_ignores_hex_case_and_leading_zeroes_of_the_serial() -> None:
    root = issue("root", serial=0x0ABC)
    data = certificate_hash_data(root.cert, root.cert)
    wanted = {**data, "issuerKeyHash": data["issuerKeyHash"].upper(), "serialNumber": "000ABC"}
    assert matches(wanted, root.cert, root.cert)
    assert not matches({**data, "serialNumber": "abd"}, root.cert, root.cert)
    assert not matches({**data, "hashAlgorithm": "MD5"}, root.cert, root.cert)


def test_sha384_hash_data_matches_when_the_csms_uses_it() -> None:
    root = issue("root")
    assert matches(certificate_hash_data(root.cert, root.cert, "SHA384"), root.cert, root.cert)


def test_chain_reports_intermediates_as_child_certificates() -> None:
    """M03.FR.05 (TC_M_15 shape): childCertificateHashData for the certificates below the leaf."""
    root = issue("root")
    sub = issue("sub", root)
    leaf = issue("leaf", sub, ca=False)
    entry = chain_hash_data("V2GCertificateChain", [leaf.cert, sub.cert], [root.cert])
    assert entry["certificateHashData"] == certificate_hash_data(leaf.cert, sub.cert)
    assert entry["childCertificateHashData"] == [certificate_hash_data(sub.cert, root.cert)]
