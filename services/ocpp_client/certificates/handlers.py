"""InstallCertificate (M05), GetInstalledCertificateIds (M03) and DeleteCertificate (M04) on the certificate store.

A rejected or failed install is logged once and reported through `report_event` (REON's
CertificateInstallationFailed, not critical in the spec's list), nothing is installed and the set is untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from services.ocpp_client.certificates import hash_data
from services.ocpp_client.certificates.store import ROOT_TYPES, CertificateStore, StoreError
from services.ocpp_client.certificates.validation import CertificateInvalid, check_root, parse_pem_chain

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("reon.ocpp.certificates")

#: InstallCertificateRequest.certificate is at most 5500 characters (schema); more is refused before parsing.
MAX_INSTALL_BYTES = 5500
INSTALL_FAILED_EVENT = "CertificateInstallationFailed"

ReportEvent = Callable[[str, str], Awaitable[Any]]
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _status(status: str, reason: str | None = None, info: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"status": status}
    if reason:
        reply["statusInfo"] = {"reasonCode": reason[:20], **({"additionalInfo": info[:512]} if info else {})}
    return reply


class CertificateHandlers:
    """The CSMS's certificate management calls; `max_entries()` is CertificateEntries' maxLimit."""

    def __init__(self, store: CertificateStore, report_event: ReportEvent, *,
                 now: Callable[[], dt.datetime], max_entries: Callable[[], int]) -> None:
        self._store = store
        self._report_event = report_event
        self._now = now
        self._max_entries = max_entries

    def handlers(self) -> dict[str, Handler]:
        return {
            "InstallCertificate": self.install_certificate,
            "GetInstalledCertificateIds": self.get_installed_certificate_ids,
            "DeleteCertificate": self.delete_certificate,
        }

    async def install_certificate(self, request: dict[str, Any]) -> dict[str, Any]:
        """M05.FR.01/02/03/06: Accepted and stored; Rejected when invalid; Failed when it cannot be stored."""
        cert_type = str(request.get("certificateType", ""))
        if cert_type not in ROOT_TYPES:
            return await self._refused("Rejected", "InvalidCertificate", f"{cert_type}: not installable")
        try:
            chain = parse_pem_chain(str(request.get("certificate", "")), max_bytes=MAX_INSTALL_BYTES)
            if len(chain) != 1:
                raise CertificateInvalid(f"{len(chain)} certificates, expected one root certificate")
            check_root(chain[0], self._now())
        except CertificateInvalid as exc:
            return await self._refused("Rejected", "InvalidCertificate", f"{cert_type}: {exc}")
        already = any(e.cert == chain[0] for e in self._store.entries([cert_type]))
        if not already and self._store.count() >= self._max_entries():
            return await self._refused("Failed", "OutOfStorage",
                                       f"{cert_type}: CertificateEntries full ({self._max_entries()})")
        try:
            self._store.install_root(cert_type, chain[0])
        except StoreError as exc:
            return await self._refused("Failed", "InternalError", f"{cert_type}: {exc}")
        log.info("installed %s %s", cert_type, chain[0].subject.rfc4514_string())
        return _status("Accepted")

    async def get_installed_certificate_ids(self, request: dict[str, Any]) -> dict[str, Any]:
        """M03.FR.01/02/03: hash data of the installed certificates of the requested types (all when omitted)."""
        types = request.get("certificateType") or [*ROOT_TYPES, "V2GCertificateChain"]
        roots = [e.cert for e in self._store.entries(ROOT_TYPES)]
        chains = [hash_data.chain_hash_data(entry.certificate_type, list(entry.chain), roots)
                  for entry in self._store.entries(types)]
        if not chains:
            return _status("NotFound")
        return {"status": "Accepted", "certificateHashDataChain": chains}

    async def delete_certificate(self, request: dict[str, Any]) -> dict[str, Any]:
        """M04.FR.01/02/04/06: Accepted when deleted, NotFound when nothing matches, Failed for the station's own
        certificate (it cannot be deleted)."""
        wanted = request.get("certificateHashData") or {}
        station = self._store.station_certificate()
        if station is not None and hash_data.matches(wanted, station.cert, self._issuer_of(station.cert,
                                                                                         station.chain)):
            log.warning("DeleteCertificate refused: the station's own certificate")
            return _status("Failed", "NotSupported", "the ChargingStationCertificate cannot be deleted")
        for entry in self._store.entries(ROOT_TYPES):
            if hash_data.matches(wanted, entry.cert, self._issuer_of(entry.cert)):
                try:
                    self._store.delete(entry.entry_id)
                except StoreError as exc:
                    log.error("DeleteCertificate failed: %s", exc)
                    return _status("Failed", "InternalError")
                log.info("deleted %s %s", entry.certificate_type, entry.cert.subject.rfc4514_string())
                return _status("Accepted")
        return _status("NotFound")

    def _issuer_of(self, cert: x509.Certificate, chain: tuple[x509.Certificate, ...] = ()) -> x509.Certificate | None:
        candidates = [*chain[1:], *(e.cert for e in self._store.entries(ROOT_TYPES))]
        return hash_data.find_issuer(cert, candidates)

    async def _refused(self, status: str, reason: str, tech_info: str) -> dict[str, Any]:
        log.warning("InstallCertificate %s: %s", status, tech_info)
        try:
            await self._report_event(INSTALL_FAILED_EVENT, tech_info[:255])
        except Exception:  # the answer to the CSMS does not depend on the event's delivery
            log.exception("security event %s not recorded", INSTALL_FAILED_EVENT)
        return _status(status, reason, tech_info)


