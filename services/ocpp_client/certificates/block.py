"""The certificates block assembled for the OCPP service: store, M03/M04/M05 handlers, renewal (A02/A03),
network profiles (B09/B10) and the link plan (A05), on the narrow things they use.

The `[csms]` config is network profile slot 1 (stored again whenever the config's table changes); the
certificate files the config names (`[csms] ca_file`, `client_cert` + `client_key`, `[firmware]
manufacturer_root`) are imported into the store once per content, so a root the CSMS deleted stays deleted
across restarts until the file itself changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.ocpp_client.certificates.handlers import CertificateHandlers
from services.ocpp_client.certificates.link_plan import LinkPlan
from services.ocpp_client.certificates.network_profiles import NetworkProfiles
from services.ocpp_client.certificates.renewal import CertificateRenewal
from services.ocpp_client.certificates.store import ROOT_TYPES, CertificateStore, StoreError
from services.ocpp_client.certificates.variables import MAX_CERTIFICATE_ENTRIES
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.store import kv_get, kv_set
from station.config import Csms

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("reon.ocpp.certificates")

S, C = "SecurityCtrlr", "OCPPCommCtrlr"
CONFIG_SLOT = 1
IMPORTED_KEY = "certificates.config_imported"
SLOT_SEEDED_KEY = "certificates.config_slot"

ReportEvent = Callable[[str, str], Awaitable[Any]]
Send = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
Register = Callable[[str, Callable[[dict[str, Any]], Awaitable[Any]]], None]


def config_profile(csms: Csms, message_timeout_s: int) -> dict[str, Any]:
    """The `[csms]` table as a NetworkConnectionProfile (connectionData of SetNetworkProfile)."""
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppInterface": "Wired0",
            "ocppCsmsUrl": csms.url, "securityProfile": csms.security_profile, "messageTimeout": message_timeout_s}


class Certificates:
    """Everything the CSMS can do with the station's certificates and network profiles."""

    def __init__(self, db: sqlite3.Connection, data_dir: Path, dm: DeviceModel, now: Callable[[], dt.datetime], *,
                 csms: Csms, manufacturer_root: Path | None, station_id: str, serial_number: str,
                 report_event: ReportEvent) -> None:
        self._db = db
        self._dm = dm
        self.store = CertificateStore(db, data_dir, now=now)
        self.profiles = NetworkProfiles(
            db, active_slot=lambda: self.plan.slot if self.plan.up else None,
            has_csms_root=lambda: bool(self.store.roots("CSMSRootCertificate")),
            has_station_certificate=self._has_station_certificate)
        self._import_config(csms, manufacturer_root)
        self._seed_slot(csms)
        self.handlers = CertificateHandlers(self.store, report_event, now=now,
                                            max_entries=lambda: MAX_CERTIFICATE_ENTRIES)
        self._send: Send | None = None
        self._ready: Callable[[], bool] = lambda: False
        self.renewal = CertificateRenewal(
            self.store, self._send_call, report_event, serial_number=serial_number,
            organization_name=lambda: dm.get(S, "OrganizationName") or "",
            wait_minimum_s=lambda: dm.get_int(S, "CertSigningWaitMinimum"),
            repeat_times=lambda: dm.get_int(S, "CertSigningRepeatTimes"),
            max_chain_bytes=lambda: dm.get_int(S, "MaxCertificateChainSize"), now=now)
        self.plan = LinkPlan(
            self.profiles, self.store, station_id=station_id,
            priority=lambda: dm.get_str(C, "NetworkConfigurationPriority"),
            attempts_per_slot=lambda: dm.get_int(C, "NetworkProfileConnectionAttempts"),
            basic_auth_password=lambda: dm.get(S, "BasicAuthPassword"),
            set_priority=lambda text: dm.set(C, "NetworkConfigurationPriority", text),
            set_security_profile=lambda n: dm.set(S, "SecurityProfile", n),
            report_event=report_event)
        dm.set_reader(S, "CertificateEntries", lambda: str(self.store.count()))
        dm.set_write_check(C, "NetworkConfigurationPriority", self.profiles.check_priority)

    def register(self, register: Register, send: Send, ready: Callable[[], bool]) -> None:
        """Answer the CSMS's certificate and network-profile CALLs; send SignCertificate through `send`; renew
        ahead of expiry only while `ready()` (the CSMS accepted the station)."""
        self._send = send
        self._ready = ready
        for action, handler in {**self.handlers.handlers(), **self.renewal.handlers(),
                                "SetNetworkProfile": self.profiles.set_network_profile}.items():
            register(action, handler)

    async def run(self) -> None:
        """Renewal ahead of expiry (A03)."""
        await self.renewal.run(lambda: self._ready())

    def trigger(self, requested_message: str) -> Callable[[], Awaitable[None]] | str:
        """TriggerMessage Sign*Certificate: the work to run once the response is out, or the status instead."""
        if requested_message != "SignChargingStationCertificate":
            return self.renewal.trigger(requested_message)

        async def renew() -> None:
            self.renewal.trigger(requested_message)

        return renew

    def _has_station_certificate(self) -> bool:
        """A station certificate for a profile-3 slot (A05.FR.03): the active one, or a renewed one still pending
        (a profile-2 link never presents it; the first profile-3 connection uses it, A02.FR.08)."""
        return any(self.store.station_certificate(state) is not None for state in ("active", "pending"))

    def manufacturer_roots(self) -> list[str]:
        """The installed ManufacturerRootCertificates as PEM (what the firmware service trusts besides its own)."""
        from cryptography.hazmat.primitives import serialization

        return [cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for cert in self.store.roots("ManufacturerRootCertificate")]

    def installed(self) -> list[dict[str, Any]]:
        """What `reonctl certs` lists: every certificate in the store (active, pending) with its dates."""
        found = []
        for state in ("active", "pending"):
            for entry in self.store.entries(state=state):
                cert = entry.cert
                found.append({"type": entry.certificate_type, "state": state,
                              "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                              "serial": format(cert.serial_number, "x"),
                              "not_before": cert.not_valid_before_utc.isoformat(),
                              "not_after": cert.not_valid_after_utc.isoformat()})
        return found

    async def _send_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if self._send is None:
            return None
        return await self._send(action, payload)

    # ---- first start ------------------------------------------------------------------------------

    def _seed_slot(self, csms: Csms) -> None:
        """Slot 1 = the `[csms]` table, stored again when that table changed since it was last stored."""
        data = config_profile(csms, self._dm.get_int(C, "MessageTimeout", variable_instance="Default"))
        if kv_get(self._db, SLOT_SEEDED_KEY) != data:
            self.profiles.store(CONFIG_SLOT, data)
            kv_set(self._db, SLOT_SEEDED_KEY, data)

    def _import_config(self, csms: Csms, manufacturer_root: Path | None) -> None:
        files = {"CSMSRootCertificate": csms.ca_file, "ManufacturerRootCertificate": manufacturer_root,
                 "station_cert": csms.client_cert, "station_key": csms.client_key}
        digests = {name: _digest(path) for name, path in files.items() if path is not None}
        done = kv_get(self._db, IMPORTED_KEY, {})
        for cert_type in ROOT_TYPES:
            path = files.get(cert_type)
            if path is not None and digests.get(cert_type) and done.get(cert_type) != digests[cert_type]:
                for cert in _certs(path):
                    self._install(cert_type, cert)
        station_digest = f"{digests.get('station_cert')}/{digests.get('station_key')}"
        if csms.client_cert and csms.client_key and done.get("station") != station_digest:
            from cryptography import x509  # only when there is something to parse: not at every start
            from cryptography.hazmat.primitives import serialization

            try:
                chain = x509.load_pem_x509_certificates(Path(csms.client_cert).read_bytes())
                key = serialization.load_pem_private_key(Path(csms.client_key).read_bytes(), password=None)
                self.store.import_station_certificate(chain, key)
                log.info("station certificate %s imported from the config", chain[0].subject.rfc4514_string())
            except (OSError, ValueError, TypeError, StoreError) as exc:
                log.error("[csms] client_cert/client_key not imported: %s", exc)
        kv_set(self._db, IMPORTED_KEY, {**{k: v for k, v in digests.items() if k in ROOT_TYPES},
                                        "station": station_digest})

    def _install(self, cert_type: str, cert: x509.Certificate) -> None:
        try:
            self.store.install_root(cert_type, cert)
            log.info("%s %s imported from the config", cert_type, cert.subject.rfc4514_string())
        except StoreError as exc:
            log.error("%s from the config not imported: %s", cert_type, exc)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        log.error("certificate file %s unreadable: %s", path, exc)
        return None


def _certs(path: Path) -> list[x509.Certificate]:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        log.error("certificate file %s not imported: %s", path, exc)
        return []
