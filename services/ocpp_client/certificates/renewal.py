"""Renewal of the station's client certificate (A02 by request of the CSMS, A03 ahead of expiry).

The key pair is generated on the station (EC P-256, or RSA 2048 when configured) and never leaves it; the CSR
(RFC 2986, PEM) carries O = SecurityCtrlr.OrganizationName and CN = the station's serial number (part 2
certificate properties). SignCertificate goes out through `send`; when no CertificateSigned follows, the request
is repeated after CertSigningWaitMinimum, doubled each time, CertSigningRepeatTimes + 1 times (A02.FR.17/18,
as TC_A_23 counts them). A CertificateSigned chain is checked (A02.FR.06) and kept pending: the link uses it
from its next connection on and the store promotes it once that connection is up (A02.FR.08/10).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from services.ocpp_client.certificates.store import STATION_TYPE, CertificateStore, StoreError
from services.ocpp_client.certificates.validation import CertificateInvalid, parse_pem_chain, verify_chain

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

log = logging.getLogger("reon.ocpp.certificates")

INVALID_STATION_CERT_EVENT = "InvalidChargingStationCertificate"
KEY_TYPES = ("EC", "RSA")
RENEW_BEFORE = dt.timedelta(days=30)
CHECK_INTERVAL_S = 3600.0
NOT_READY_INTERVAL_S = 60.0

Send = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
ReportEvent = Callable[[str, str], Awaitable[Any]]
Sleep = Callable[[float], Awaitable[None]]


def new_key(key_type: str) -> PrivateKeyTypes:
    """A fresh key pair: EC P-256 (≥ 224 bits) or RSA 2048 (A00 key sizes)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if key_type == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def build_csr(key: PrivateKeyTypes, organization_name: str, serial_number: str) -> str:
    """PEM CSR with subject O = organization name, CN = serial number, signed with SHA-256."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, serial_number)]
    if organization_name:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_name))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _same_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    from cryptography.hazmat.primitives import serialization

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return (cert.public_key().public_bytes(serialization.Encoding.DER, spki)
            == key.public_key().public_bytes(serialization.Encoding.DER, spki))


class CertificateRenewal:
    """SignCertificate / CertificateSigned for the ChargingStationCertificate."""

    def __init__(self, store: CertificateStore, send: Send, report_event: ReportEvent, *,
                 serial_number: str, organization_name: Callable[[], str],
                 wait_minimum_s: Callable[[], float], repeat_times: Callable[[], int],
                 max_chain_bytes: Callable[[], int], now: Callable[[], dt.datetime],
                 key_type: str = "EC", sleep: Sleep = asyncio.sleep,
                 on_pending: Callable[[], Any] = lambda: None) -> None:
        if key_type not in KEY_TYPES:
            raise ValueError(f"key_type: one of {KEY_TYPES}, got {key_type!r}")
        self._store = store
        self._send = send
        self._report_event = report_event
        self._serial_number = serial_number
        self._organization_name = organization_name
        self._wait_minimum_s = wait_minimum_s
        self._repeat_times = repeat_times
        self._max_chain_bytes = max_chain_bytes
        self._now = now
        self._key_type = key_type
        self._sleep = sleep
        self._on_pending = on_pending
        self._signed = asyncio.Event()
        self._task: asyncio.Task[bool] | None = None
        self.requests_sent = 0

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]]:
        return {"CertificateSigned": self.certificate_signed}

    def trigger(self, requested_message: str) -> str:
        """TriggerMessage SignChargingStationCertificate (F06.FR.04/05): Accepted, a new request runs in the
        background (one still waiting is replaced); SignV2GCertificate / SignCombinedCertificate: Rejected (no
        ISO 15118 on this station)."""
        if requested_message != "SignChargingStationCertificate":
            return "Rejected"
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.start()
        return "Accepted"

    def start(self) -> asyncio.Task[bool]:
        """Start a renewal unless one is running."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.request())
        return self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def request(self) -> bool:
        """One renewal: a new key pair, then SignCertificate until CertificateSigned is accepted, the CSMS
        rejects the request (TC_A_15) or the repeats are used up. True when a certificate arrived."""
        key = new_key(self._key_type)
        self._store.save_csr_key(key)
        csr = build_csr(key, self._organization_name(), self._serial_number)
        self._signed.clear()
        wait_s = max(float(self._wait_minimum_s()), 0.0)
        for attempt in range(max(int(self._repeat_times()), 0) + 2):
            reply = await self._send("SignCertificate", {"csr": csr, "certificateType": STATION_TYPE})
            self.requests_sent += 1
            if reply is not None and reply.get("status") == "Rejected":
                log.warning("SignCertificate rejected by the CSMS: %s", reply.get("statusInfo"))
                return False
            if await self._wait_signed(wait_s * 2**attempt):
                return True
            log.info("no CertificateSigned within %g s", wait_s * 2**attempt)
        log.warning("certificate renewal gave up after %d SignCertificate requests", self.requests_sent)
        return False

    async def _wait_signed(self, timeout_s: float) -> bool:
        """True when CertificateSigned was accepted before the (injected) sleep of `timeout_s` ended."""
        waiter = asyncio.ensure_future(self._signed.wait())
        sleeper = asyncio.ensure_future(self._sleep(timeout_s))
        done, pending = await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waiter in done

    async def certificate_signed(self, request: dict[str, Any]) -> dict[str, Any]:
        """A02.FR.06/07: Accepted and kept pending when valid; Rejected with InvalidChargingStationCertificate."""
        cert_type = request.get("certificateType", STATION_TYPE)
        try:
            if cert_type != STATION_TYPE:
                raise CertificateInvalid(f"{cert_type} not supported (no ISO 15118)")
            chain = parse_pem_chain(str(request.get("certificateChain", "")),
                                    max_bytes=int(self._max_chain_bytes()))
            key = self._store.csr_key()
            if key is None:
                raise CertificateInvalid("no certificate signing request outstanding")
            if not _same_key(chain[0], key):
                raise CertificateInvalid("the certificate is not for the key of the outstanding request")
            self._check_subject(chain[0])
            verify_chain(chain, self._store.roots("CSMSRootCertificate"), self._now())
            self._store.set_pending_station_certificate(chain)
        except (CertificateInvalid, StoreError) as exc:
            log.warning("CertificateSigned rejected: %s", exc)
            try:
                await self._report_event(INVALID_STATION_CERT_EVENT, str(exc)[:255])
            except Exception:
                log.exception("security event %s not recorded", INVALID_STATION_CERT_EVENT)
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate",
                                                         "additionalInfo": str(exc)[:512]}}
        log.info("new station certificate %s, valid until %s: used from the next connection",
                 chain[0].subject.rfc4514_string(), chain[0].not_valid_after_utc.isoformat())
        self._signed.set()
        self._on_pending()
        return {"status": "Accepted"}

    def renewal_due(self) -> bool:
        """A03: the certificate in use expires within RENEW_BEFORE and no new one is pending."""
        active = self._store.station_certificate()
        if active is None or self._store.station_certificate("pending") is not None:
            return False
        return active.cert.not_valid_after_utc - self._now() <= RENEW_BEFORE

    async def run(self, ready: Callable[[], bool] = lambda: True, check_interval_s: float = CHECK_INTERVAL_S,
                  not_ready_interval_s: float = NOT_READY_INTERVAL_S) -> None:
        """Renew ahead of expiry (A03.FR.01), checking every `check_interval_s` once `ready()` (the CSMS accepted
        the station), every `not_ready_interval_s` before."""
        while True:
            if not ready():
                await self._sleep(not_ready_interval_s)
                continue
            if self.renewal_due() and not self.running:
                log.info("station certificate expires soon: renewing")
                await self.start()
            await self._sleep(check_interval_s)

    def _check_subject(self, cert: x509.Certificate) -> None:
        from cryptography.x509.oid import NameOID

        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or names[0].value != self._serial_number:
            raise CertificateInvalid(f"subject CN is not the station's serial number {self._serial_number}")
