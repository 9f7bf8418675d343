"""Signing certificate and signature checks against signatures made here with `cryptography`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from services.firmware.signature import CertificateError, check_signing_certificate, load_roots, verify_signature
from tests.services.firmware.conftest import Signing
from tests.services.firmware.signing import make_intermediate, make_signer

IMAGE = b"REON firmware image\n" * 1000
DIGEST = hashlib.sha256(IMAGE).digest()


@pytest.mark.parametrize("kind", ["ec256", "ec384", "rsa"])
def test_signature_over_the_whole_image_is_accepted(signing: Signing, kind: str) -> None:
    signer = getattr(signing, kind)
    cert = check_signing_certificate(signer.chain_pem, load_roots(signing.root_file))
    assert verify_signature(cert, signer.sign(IMAGE), DIGEST)


def test_signature_of_another_image_is_refused(signing: Signing) -> None:
    other = hashlib.sha256(IMAGE + b"!").digest()
    assert not verify_signature(signing.ec256.cert, signing.ec256.sign(IMAGE), other)
    assert not verify_signature(signing.rsa.cert, signing.rsa.sign(IMAGE), other)


def test_signature_by_another_key_is_refused(signing: Signing) -> None:
    assert not verify_signature(signing.ec256.cert, signing.stranger.sign(IMAGE), DIGEST)


def test_rsa_pkcs1v15_is_accepted_only_when_allowed(signing: Signing) -> None:
    signature = signing.rsa.sign(IMAGE, "pkcs1v15")
    assert verify_signature(signing.rsa.cert, signature, DIGEST, allow_rsa_pkcs1v15=True)
    assert not verify_signature(signing.rsa.cert, signature, DIGEST, allow_rsa_pkcs1v15=False)


def test_raw_r_s_ecdsa_signature_is_accepted(signing: Signing) -> None:
    r, s = decode_dss_signature(base64.b64decode(signing.ec256.sign(IMAGE)))
    raw = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    assert verify_signature(signing.ec256.cert, raw, DIGEST)


def test_signature_that_is_not_base64_is_refused(signing: Signing) -> None:
    assert not verify_signature(signing.ec256.cert, "not base64 at all!", DIGEST)


def test_certificate_from_another_root_is_invalid(signing: Signing) -> None:
    with pytest.raises(CertificateError, match="not issued by the manufacturer root"):
        check_signing_certificate(signing.stranger.chain_pem, load_roots(signing.root_file))


def test_expired_certificate_is_invalid(signing: Signing) -> None:
    expired = make_signer(signing.root, expired=True)
    with pytest.raises(CertificateError, match="not valid now"):
        check_signing_certificate(expired.chain_pem, load_roots(signing.root_file))


def test_certificate_checked_at_a_time_before_it_was_valid_is_invalid(signing: Signing) -> None:
    long_ago = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(CertificateError, match="not valid now"):
        check_signing_certificate(signing.ec256.chain_pem, load_roots(signing.root_file), now=long_ago)


def test_certificate_through_an_intermediate_chains_to_the_root(signing: Signing) -> None:
    intermediate = make_intermediate(signing.root)
    signer = make_signer(intermediate, chain=(intermediate,))
    cert = check_signing_certificate(signer.chain_pem, load_roots(signing.root_file))
    assert verify_signature(cert, signer.sign(IMAGE), DIGEST)
    alone = make_signer(intermediate)  # without the intermediate in the PEM it cannot chain
    with pytest.raises(CertificateError):
        check_signing_certificate(alone.chain_pem, load_roots(signing.root_file))


def test_text_that_is_no_certificate_is_invalid(signing: Signing) -> None:
    with pytest.raises(CertificateError, match="not PEM"):
        check_signing_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                  load_roots(signing.root_file))


def test_without_a_readable_root_no_certificate_can_be_checked(tmp_path) -> None:
    with pytest.raises(CertificateError, match="no manufacturer root"):
        load_roots(None)
    with pytest.raises(CertificateError, match="unreadable"):
        load_roots(tmp_path / "missing.pem")
