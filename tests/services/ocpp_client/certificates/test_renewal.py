"""Station certificate renewal (A02, A03) after TC_A_11, TC_A_14, TC_A_15, TC_A_23, with a CSMS that signs CSRs."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from services.ocpp_client.certificates.renewal import CertificateRenewal
from services.ocpp_client.certificates.store import CertificateStore
from tests.services.ocpp_client.certificates.conftest import Events
from tests.services.ocpp_client.certificates.pki_tools import Issued, chain_pem, issue, sign_csr

SERIAL = "REON-SN-000042"


class Csms:
    """Answers SignCertificate (Accepted unless told otherwise) and remembers the CSRs."""

    def __init__(self, status: str = "Accepted") -> None:
        self.status = status
        self.csrs: list[str] = []
        self.sent = asyncio.Event()

    async def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        assert action == "SignCertificate" and payload["certificateType"] == "ChargingStationCertificate"
        self.csrs.append(payload["csr"])
        self.sent.set()
        return {"status": self.status}


class Sleeps:
    """Injected sleep: records each wait; the first `expire` waits run out at once, later ones never do."""

    def __init__(self, expire: int = 0) -> None:
        self.expire = expire
        self.waits_s: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits_s.append(seconds)
        if len(self.waits_s) > self.expire:
            await asyncio.get_running_loop().create_future()


@pytest.fixture
def root(store: CertificateStore) -> Issued:
    ca = issue("CSMS root")
    store.install_root("CSMSRootCertificate", ca.cert)
    return ca


def _renewal(store: CertificateStore, csms: Csms, events: Events, sleeps: Sleeps, **options: Any
             ) -> CertificateRenewal:
    defaults: dict[str, Any] = dict(serial_number=SERIAL, organization_name=lambda: "REWATT Charging",
                                    wait_minimum_s=lambda: 60, repeat_times=lambda: 1,
                                    max_chain_bytes=lambda: 10000, now=lambda: dt.datetime.now(dt.UTC),
                                    sleep=sleeps)
    return CertificateRenewal(store, csms.send, events, **{**defaults, **options})


async def _first_csr(renewal: CertificateRenewal, csms: Csms) -> str:
    assert renewal.trigger("SignChargingStationCertificate") == "Accepted"
    await csms.sent.wait()
    return csms.csrs[-1]


async def test_renewal_by_trigger_is_accepted_and_used_from_the_next_connection(
        store: CertificateStore, root: Issued, events: Events) -> None:
    """TC_A_11 (RenewChargingStationCertificate): CSR with O and CN, CertificateSigned Accepted, pending."""
    csms, switched = Csms(), []
    renewal = _renewal(store, csms, events, Sleeps(), on_pending=lambda: switched.append(True))
    csr = x509.load_pem_x509_csr((await _first_csr(renewal, csms)).encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "REWATT Charging"
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SERIAL
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 224
    signed = sign_csr(csr.public_bytes(serialization.Encoding.PEM).decode(), root)
    reply = await renewal.certificate_signed({"certificateChain": signed.pem,
                                              "certificateType": "ChargingStationCertificate"})
    assert reply == {"status": "Accepted"}
    assert await asyncio.wait_for(renewal.start(), 1) is True
    assert switched == [True]
    pending = store.station_certificate("pending")
    assert pending is not None and pending.cert == signed.cert
    assert store.promote_pending()
    active = store.station_certificate()
    assert active is not None and store.load_key(active).public_key() == csr.public_key()
    assert events.reported == []


async def test_rsa_key_type_makes_a_2048_bit_key(store: CertificateStore, root: Issued, events: Events) -> None:
    csms = Csms()
    renewal = _renewal(store, csms, events, Sleeps(), key_type="RSA")
    csr = x509.load_pem_x509_csr((await _first_csr(renewal, csms)).encode())
    key = csr.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048


async def test_certificate_from_another_ca_is_rejected_with_a_security_event(
        store: CertificateStore, root: Issued, events: Events) -> None:
    """TC_A_14: CertificateSigned with an invalid certificate → Rejected + InvalidChargingStationCertificate."""
    csms = Csms()
    renewal = _renewal(store, csms, events, Sleeps())
    csr = await _first_csr(renewal, csms)
    rogue = sign_csr(csr, issue("Rogue root"))
    reply = await renewal.certificate_signed({"certificateChain": rogue.pem,
                                              "certificateType": "ChargingStationCertificate"})
    assert reply["status"] == "Rejected"
    assert events.types == ["InvalidChargingStationCertificate"]
    assert store.station_certificate("pending") is None


@pytest.mark.parametrize("case", ["expired", "future", "other key", "not pem", "too long", "wrong cn", "v2g"])
async def test_invalid_signed_certificates_are_rejected(store: CertificateStore, root: Issued, events: Events,
                                                        case: str) -> None:
    """A02.FR.06/07: period, key of the CSR, hierarchy, size (MaxCertificateChainSize), subject."""
    csms = Csms()
    renewal = _renewal(store, csms, events, Sleeps(), max_chain_bytes=lambda: 2000)
    csr = await _first_csr(renewal, csms)
    request: dict[str, Any] = {"certificateType": "ChargingStationCertificate"}
    if case == "expired":
        request["certificateChain"] = sign_csr(csr, root, expired=True).pem
    elif case == "future":
        request["certificateChain"] = sign_csr(csr, root, future=True).pem
    elif case == "other key":
        request["certificateChain"] = issue(SERIAL, root, ca=False).pem
    elif case == "not pem":
        request["certificateChain"] = "garbage"
    elif case == "too long":
        request["certificateChain"] = sign_csr(csr, root).pem * 4
    elif case == "wrong cn":
        other = x509.load_pem_x509_csr(csr.encode())
        request["certificateChain"] = issue("SOMEONE-ELSE", root, ca=False, public_key=other.public_key()).pem
    else:
        request = {"certificateType": "V2GCertificate", "certificateChain": sign_csr(csr, root).pem}
    assert (await renewal.certificate_signed(request))["status"] == "Rejected"
    assert events.types == ["InvalidChargingStationCertificate"]
    assert store.station_certificate("pending") is None


async def test_chain_through_an_intermediate_is_accepted(store: CertificateStore, root: Issued,
                                                         events: Events) -> None:
    csms = Csms()
    renewal = _renewal(store, csms, events, Sleeps())
    csr = await _first_csr(renewal, csms)
    sub = issue("CSO sub-CA", root)
    leaf = sign_csr(csr, sub)
    reply = await renewal.certificate_signed({"certificateChain": chain_pem(leaf, sub)})
    assert reply == {"status": "Accepted"}


async def test_sign_certificate_rejected_ends_the_renewal(store: CertificateStore, root: Issued,
                                                         events: Events) -> None:
    """TC_A_15: SignCertificateResponse Rejected → no retries."""
    csms, sleeps = Csms("Rejected"), Sleeps(expire=10)
    renewal = _renewal(store, csms, events, sleeps)
    assert renewal.trigger("SignChargingStationCertificate") == "Accepted"
    assert await asyncio.wait_for(renewal.start(), 1) is False
    assert len(csms.csrs) == 1 and sleeps.waits_s == []


async def test_no_certificate_signed_repeats_after_wait_minimum_doubling(store: CertificateStore, root: Issued,
                                                                        events: Events) -> None:
    """TC_A_23: CertSigningRepeatTimes 1 → requests at 0, W, then after 2W; the late certificate is Accepted."""
    csms, sleeps = Csms(), Sleeps(expire=2)
    renewal = _renewal(store, csms, events, sleeps, wait_minimum_s=lambda: 60, repeat_times=lambda: 1)
    task = renewal.start()
    while len(sleeps.waits_s) < 3:
        await asyncio.sleep(0)
    assert len(csms.csrs) == 3 and sleeps.waits_s == [60, 120, 240]
    reply = await renewal.certificate_signed({"certificateChain": sign_csr(csms.csrs[-1], root).pem})
    assert reply == {"status": "Accepted"}
    assert await asyncio.wait_for(task, 1) is True


async def test_renewal_gives_up_after_the_repeats(store: CertificateStore, root: Issued, events: Events) -> None:
    csms, sleeps = Csms(), Sleeps(expire=100)
    renewal = _renewal(store, csms, events, sleeps, wait_minimum_s=lambda: 5, repeat_times=lambda: 2)
    assert await asyncio.wait_for(renewal.start(), 1) is False
    assert sleeps.waits_s == [5, 10, 20, 40] and len(csms.csrs) == 4


async def test_v2g_trigger_is_rejected_on_a_station_without_iso15118(store: CertificateStore, root: Issued,
                                                                    events: Events) -> None:
    renewal = _renewal(store, Csms(), events, Sleeps())
    assert renewal.trigger("SignV2GCertificate") == "Rejected"
    assert renewal.trigger("SignCombinedCertificate") == "Rejected"


async def test_renewal_starts_ahead_of_expiry(store: CertificateStore, root: Issued, events: Events) -> None:
    """A03.FR.01: a certificate expiring within 30 days is renewed by the station itself."""
    csms = Csms()
    expiring = issue(SERIAL, root, ca=False, days=10)
    store.import_station_certificate([expiring.cert], expiring.key)
    renewal = _renewal(store, csms, events, Sleeps())
    assert renewal.renewal_due()
    runner = asyncio.create_task(renewal.run(check_interval_s=3600))
    await asyncio.wait_for(csms.sent.wait(), 1)
    runner.cancel()
    assert len(csms.csrs) == 1


async def test_renewal_is_not_due_for_a_fresh_certificate(store: CertificateStore, root: Issued,
                                                         events: Events) -> None:
    fresh = issue(SERIAL, root, ca=False, days=365)
    store.import_station_certificate([fresh.cert], fresh.key)
    assert not _renewal(store, Csms(), events, Sleeps()).renewal_due()


async def test_outstanding_csr_key_survives_a_restart(store: CertificateStore, root: Issued, events: Events,
                                                      conn: Any, data_dir: Any) -> None:
    """The CertificateSigned that arrives after a restart still finds the key of its CSR."""
    csms = Csms()
    csr = await _first_csr(_renewal(store, csms, events, Sleeps()), csms)
    reopened = CertificateStore(conn, data_dir)
    renewal = _renewal(reopened, csms, events, Sleeps())
    assert (await renewal.certificate_signed({"certificateChain": sign_csr(csr, root).pem}))["status"] == "Accepted"
