"""The link's connection settings from the store and the network profiles, over real WebSockets + TLS:
a security-profile 2→3 upgrade (TC_A_19), a failed migration that falls back (TC_B_46/47), a renewed
certificate used from the next connection (A02.FR.08/10) and discarded when nothing accepts it (A02.FR.28)."""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.ocpp_client.certificates.link_plan import LinkPlan
from services.ocpp_client.certificates.network_profiles import NetworkProfiles
from services.ocpp_client.certificates.store import CertificateStore
from tests.pki import Pki, server_tls_context
from tests.services.ocpp_client.certificates.conftest import Events
from tests.services.ocpp_client.certificates.pki_tools import issue
from tests.services.ocpp_client.csms_stub import PASSWORD, STATION_ID, MakeStation, RawCsms


def _data(security_profile: int, url: str) -> dict[str, Any]:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppInterface": "Wired0", "messageTimeout": 30,
            "securityProfile": security_profile, "ocppCsmsUrl": url}


class Rig:
    def __init__(self, conn: sqlite3.Connection, store: CertificateStore, events: Events, pki: Pki) -> None:
        self.store = store
        self.variables = {"NetworkConfigurationPriority": "1", "SecurityProfile": 2}
        self.profiles = NetworkProfiles(conn, active_slot=lambda: 1,
                                        has_csms_root=lambda: bool(store.roots("CSMSRootCertificate")),
                                        has_station_certificate=lambda: store.station_certificate() is not None)
        store.install_root("CSMSRootCertificate", x509.load_pem_x509_certificate(Path(pki.ca).read_bytes()))
        cert = x509.load_pem_x509_certificate(Path(pki.client.cert).read_bytes())
        key = serialization.load_pem_private_key(Path(pki.client.key).read_bytes(), password=None)
        store.import_station_certificate([cert], key)
        self.plan: LinkPlan | None = None
        self.events = events

    def make_plan(self) -> LinkPlan:
        self.plan = LinkPlan(
            self.profiles, self.store, station_id=STATION_ID,
            priority=lambda: str(self.variables["NetworkConfigurationPriority"]), attempts_per_slot=lambda: 1,
            basic_auth_password=lambda: PASSWORD,
            set_priority=lambda text: self.variables.__setitem__("NetworkConfigurationPriority", text),
            set_security_profile=lambda n: self.variables.__setitem__("SecurityProfile", n),
            report_event=self.events)
        return self.plan


@pytest.fixture
def rig(conn: sqlite3.Connection, store: CertificateStore, events: Events, pki: Pki) -> Rig:
    return Rig(conn, store, events, pki)


async def _connects(make_station: MakeStation, plan: LinkPlan) -> bool:
    """One attempt with the plan's settings: True when the WebSocket opened."""
    link = await make_station(plan.settings())
    done = asyncio.ensure_future(link.wait_connected(timeout=5))
    failed = asyncio.ensure_future(link.failed.get())
    finished, pending = await asyncio.wait({done, failed}, return_when=asyncio.FIRST_COMPLETED, timeout=6)
    for task in pending:
        task.cancel()
    await link.connection.stop()
    return done in finished and done.exception() is None


async def _connect_with_fallback(make_station: MakeStation, plan: LinkPlan, rounds: int = 4) -> list[int]:
    tried = []
    for _ in range(rounds):
        tried.append(plan.slot)
        if await _connects(make_station, plan):
            plan.connected()
            return tried
        plan.failed()
    return tried


async def test_upgrade_from_profile_2_to_3_over_real_tls(rig: Rig, pki: Pki, make_station: MakeStation) -> None:
    """TC_A_19 (2→3): SetNetworkProfile slot 2 profile 3, priority "2,1", reconnect: profile 3 with the station
    certificate from the store, slot 1 pruned, SecurityProfile 3."""
    old = await RawCsms(tls=server_tls_context(pki)).start()
    new = await RawCsms(tls=server_tls_context(pki, client_ca=True)).start()
    try:
        rig.profiles.seed(1, _data(2, old.url))
        plan = rig.make_plan()
        assert await _connect_with_fallback(make_station, plan) == [1]
        reply = await rig.profiles.set_network_profile({"configurationSlot": 2, "connectionData": _data(3, new.url)})
        assert reply["status"] == "Accepted"
        assert rig.profiles.check_priority("2,1") is None
        rig.variables["NetworkConfigurationPriority"] = "2,1"
        plan.restart()  # the Reset of step 5
        assert await _connect_with_fallback(make_station, plan) == [2]
        assert rig.variables == {"NetworkConfigurationPriority": "2", "SecurityProfile": 3}
        peer = new.peer_certs[-1]
        assert peer is not None and (("commonName", "REON-SERIAL-0001"),) in peer["subject"]
        assert rig.profiles.highest_security_profile() == 3
    finally:
        await old.stop()
        await new.stop()


async def test_failed_migration_falls_back_to_the_previous_profile(rig: Rig, pki: Pki,
                                                                   make_station: MakeStation) -> None:
    """TC_B_46/TC_B_47 shape: the new CSMS shows a certificate the station's roots do not trust; after
    NetworkProfileConnectionAttempts the station connects through the previous slot, which stays in the list."""
    old = await RawCsms(tls=server_tls_context(pki)).start()
    rogue = await RawCsms(tls=server_tls_context(pki, pki.rogue_server)).start()
    try:
        rig.profiles.seed(1, _data(2, old.url))
        await rig.profiles.set_network_profile({"configurationSlot": 2, "connectionData": _data(2, rogue.url)})
        rig.variables["NetworkConfigurationPriority"] = "2,1"
        plan = rig.make_plan()
        assert await _connect_with_fallback(make_station, plan) == [2, 1]
        assert rig.variables["NetworkConfigurationPriority"] == "2,1"
        assert rogue.attempts == []  # the handshake failed before any HTTP request
    finally:
        await old.stop()
        await rogue.stop()


async def test_renewed_certificate_that_no_csms_accepts_is_discarded(rig: Rig, pki: Pki, store: CertificateStore,
                                                                     make_station: MakeStation,
                                                                     events: Events) -> None:
    """A02.FR.28/29: the pending certificate (from a CA the CSMS does not trust) fails every slot: it is
    discarded, DiscardedRenewedClientCertificate is reported, the old certificate connects."""
    csms = await RawCsms(tls=server_tls_context(pki, client_ca=True)).start()
    try:
        rig.profiles.seed(1, _data(3, csms.url))
        other_ca = issue("other CA")
        key = issue("k").key
        store.save_csr_key(key)
        store.set_pending_station_certificate([issue("REON-SERIAL-0001", other_ca, ca=False, key=key).cert])
        rig.variables["NetworkConfigurationPriority"] = "1"
        plan = rig.make_plan()
        tried = await _connect_with_fallback(make_station, plan)
        assert tried == [1, 1]
        assert events.types == ["DiscardedRenewedClientCertificate"]
        assert store.station_certificate("pending") is None
    finally:
        await csms.stop()


async def test_renewed_certificate_is_used_from_the_next_connection_and_promoted(
        rig: Rig, pki: Pki, store: CertificateStore, make_station: MakeStation, tmp_path: Path) -> None:
    """A02.FR.08/10: a CSMS that trusts only the new client CA accepts the pending certificate on the next
    connection, which then becomes the active one (the old one is discarded)."""


    new_ca = issue("CSO client CA 2")
    (tmp_path / "client-ca.pem").write_text(new_ca.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.cert, pki.server.key)
    context.load_verify_locations(cafile=str(tmp_path / "client-ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    csms = await RawCsms(tls=context).start()
    try:
        rig.profiles.seed(1, _data(3, csms.url))
        key = issue("k").key
        store.save_csr_key(key)
        renewed = issue("REON-SERIAL-0001", new_ca, ca=False, key=key)
        store.set_pending_station_certificate([renewed.cert])
        plan = rig.make_plan()
        assert await _connect_with_fallback(make_station, plan) == [1]
        active = store.station_certificate()
        assert active is not None and active.cert == renewed.cert
        assert store.station_certificate("pending") is None
    finally:
        await csms.stop()
