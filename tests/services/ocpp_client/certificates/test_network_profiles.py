"""SetNetworkProfile (B09), migration with fallback (B10) and security-profile upgrades (A05), after part 6."""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from services.ocpp_client.certificates.network_profiles import ConnectionPlan, NetworkProfiles, parse_priority
from services.ocpp_client.certificates.store import CertificateStore
from services.ocpp_client.link.connection_settings import client_tls_context
from services.ocpp_client.store import open_store
from tests.pki import make_pki, server_tls_context
from tests.services.ocpp_client.certificates.pki_tools import issue


def _data(security_profile: int, url: str | None = None, **extra: Any) -> dict[str, Any]:
    scheme = "ws" if security_profile == 1 else "wss"
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppInterface": "Wired0", "messageTimeout": 30,
            "securityProfile": security_profile, "ocppCsmsUrl": url or f"{scheme}://csms{security_profile}.test/ocpp",
            **extra}


class Station:
    """What NetworkProfiles is given: the slot in use and the certificate store's contents."""

    def __init__(self, conn: sqlite3.Connection, store: CertificateStore, active_slot: int = 1) -> None:
        self.active_slot = active_slot
        self.store = store
        self.profiles = NetworkProfiles(conn, active_slot=lambda: self.active_slot,
                                        has_csms_root=lambda: bool(store.roots("CSMSRootCertificate")),
                                        has_station_certificate=lambda: store.station_certificate() is not None)


@pytest.fixture
def station(conn: sqlite3.Connection, store: CertificateStore) -> Station:
    made = Station(conn, store)
    made.profiles.seed(1, _data(1))
    made.profiles.record_connected(1, [1])
    return made


async def _set(station: Station, slot: Any, data: dict[str, Any]) -> dict[str, Any]:
    return await station.profiles.set_network_profile({"configurationSlot": slot, "connectionData": data})


async def test_unknown_configuration_slot_is_rejected(station: Station) -> None:
    """TC_B_43: configurationSlot 999."""
    reply = await _set(station, 999, _data(1))
    assert reply["status"] == "Rejected" and reply["statusInfo"]["reasonCode"] == "InvalidConfSlot"
    assert station.profiles.profile(999) is None


@pytest.mark.parametrize(("slot", "data"), [
    (1, _data(1)),  # the slot in use
    (2, _data(1, ocppVersion="OCPP16")),
    (2, _data(1, ocppTransport="SOAP")),
    (2, _data(2, url="ws://plain.test/ocpp")),  # TLS profile without wss
    (2, _data(1, url="https://csms.test/")),
    (2, _data(1, ocppInterface="Wireless3")),
    (2, _data(1, vpn={"server": "v", "user": "u", "password": "p", "key": "k", "type": "IPSec"})),
    (2, _data(1, messageTimeout=0)),
    ("2", _data(1)),
])
async def test_invalid_connection_data_is_rejected_and_not_stored(station: Station, slot: Any,
                                                                  data: dict[str, Any]) -> None:
    """B09.FR.02."""
    assert (await _set(station, slot, data))["status"] == "Rejected"
    assert station.profiles.profile(2) is None
    assert station.profiles.profile(1) == _data(1)


async def test_profile_that_cannot_be_stored_fails(station: Station, conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE network_profiles")
    assert (await _set(station, 2, _data(1)))["status"] == "Failed"


async def test_migration_to_a_new_slot_then_fallback_to_the_previous_one(station: Station) -> None:
    """TC_B_45 (steps 1-4, 7) and TC_B_46 (NetworkProfileConnectionAttempts 2: two failures, then slot 1)."""
    assert (await _set(station, 2, _data(1, url="ws://other.test/ocpp")))["status"] == "Accepted"
    assert station.profiles.check_priority("2,1") is None
    plan = ConnectionPlan(station.profiles.usable(parse_priority("2,1")), attempts_per_slot=lambda: 2)
    assert plan.slot == 2
    assert plan.failed() == 2
    assert plan.failed() == 1 and plan.is_fallback
    assert plan.connected() == 1


async def test_fallback_wraps_around_to_the_new_slot_again(station: Station) -> None:
    """TC_B_49 (attempts 1): new slot fails, previous fails, then the list starts over (back-off is the link's)."""
    await _set(station, 2, _data(1, url="ws://other.test/ocpp"))
    plan = ConnectionPlan(parse_priority("2,1"), attempts_per_slot=lambda: 1)
    assert [plan.failed(), plan.failed(), plan.failed()] == [1, 2, 1]


async def test_upgrade_1_to_2_prunes_the_old_slot_and_raises_the_floor(station: Station, store: CertificateStore,
                                                                      conn: sqlite3.Connection,
                                                                      data_dir: Path) -> None:
    """TC_A_19 (1→2): SetNetworkProfile Accepted, priority "2,1" Accepted, connected through slot 2: floor 2,
    NetworkConfigurationPriority no longer holds slot 1; TC_A_22 afterwards, across a restart."""
    store.install_root("CSMSRootCertificate", issue("csms root").cert)
    assert (await _set(station, 2, _data(2)))["status"] == "Accepted"
    assert station.profiles.check_priority("2,1") is None
    plan = ConnectionPlan(parse_priority("2,1"), attempts_per_slot=lambda: 3)
    assert station.profiles.record_connected(plan.connected(), [2, 1]) == [2]
    assert station.profiles.highest_security_profile() == 2
    conn.close()
    restarted = Station(open_store(data_dir), CertificateStore(open_store(data_dir), data_dir), active_slot=2)
    reply = await _set(restarted, 3, _data(1))
    assert reply["status"] == "Rejected" and "lower than 2" in reply["statusInfo"]["additionalInfo"]
    assert restarted.profiles.check_priority("2,1") is not None  # slot 1 (profile 1) can no longer be chosen


async def test_upgrade_2_to_3_needs_the_station_certificate(station: Station, store: CertificateStore) -> None:
    """TC_A_19 (2→3) with RenewChargingStationCertificate done; TC_A_21 before it."""
    root = issue("csms root")
    store.install_root("CSMSRootCertificate", root.cert)
    await _set(station, 2, _data(2))
    station.profiles.record_connected(2, [2, 1])
    station.active_slot = 2
    assert (await _set(station, 3, _data(3)))["status"] == "Accepted"
    assert "ChargingStationCertificate" in (station.profiles.check_priority("3,2") or "")  # TC_A_21
    leaf = issue("REON-SN-1", root, ca=False)
    store.import_station_certificate([leaf.cert], leaf.key)
    assert station.profiles.check_priority("3,2") is None
    assert station.profiles.record_connected(3, [3, 2]) == [3]
    assert station.profiles.highest_security_profile() == 3


async def test_upgrade_without_a_csms_root_is_refused_at_the_priority(station: Station) -> None:
    """TC_A_20: SetNetworkProfile Accepted, NetworkConfigurationPriority Rejected (A05.FR.02)."""
    assert (await _set(station, 2, _data(2)))["status"] == "Accepted"
    assert "CSMSRootCertificate" in (station.profiles.check_priority("2,1") or "")


async def test_downgrade_is_rejected(station: Station, store: CertificateStore) -> None:
    """TC_A_22 (B09.FR.04): in use with profile 2, a profile 1 slot is Rejected."""
    store.install_root("CSMSRootCertificate", issue("csms root").cert)
    await _set(station, 2, _data(2))
    station.profiles.record_connected(2, [2, 1])
    station.active_slot = 2
    assert (await _set(station, 3, _data(1)))["status"] == "Rejected"


@pytest.mark.parametrize("text", ["", "1,1", "1,x", "7"])
async def test_bad_priority_values_are_refused(station: Station, text: str) -> None:
    assert station.profiles.check_priority(text) is not None


async def _handshake(port: int, context: ssl.SSLContext) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                                   server_hostname="localhost"), 5)
    except (ssl.SSLError, OSError):
        return False
    writer.close()
    return True


async def test_migration_to_a_csms_the_roots_do_not_trust_falls_back_over_real_tls(
        station: Station, store: CertificateStore, tmp_path: Path) -> None:
    """TC_B_47 / TC_B_50 shape with real TLS: slot 2's CSMS shows a certificate of an unknown root, the station
    falls back to slot 1 after NetworkProfileConnectionAttempts (1) and its CSMS root stays installed."""
    pki = make_pki(tmp_path)
    old_root = x509.load_pem_x509_certificate(Path(pki.ca).read_bytes())
    store.install_root("CSMSRootCertificate", old_root)

    async def serve(context: ssl.SSLContext) -> asyncio.Server:
        return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=context)

    trusted = await serve(server_tls_context(pki))
    untrusted = await serve(server_tls_context(pki, pki.rogue_server))
    ports = {1: trusted.sockets[0].getsockname()[1], 2: untrusted.sockets[0].getsockname()[1]}
    await _set(station, 2, _data(2, url=f"wss://localhost:{ports[2]}/ocpp"))
    plan = ConnectionPlan(parse_priority("2,1"), attempts_per_slot=lambda: 1)
    bundle = store.csms_root_bundle()
    assert bundle is not None
    tried = []
    for _ in range(3):
        tried.append(plan.slot)
        if await _handshake(ports[plan.slot], client_tls_context(2, str(bundle))):
            plan.connected()
            break
        plan.failed()
    for server in (trusted, untrusted):
        server.close()
    assert tried == [2, 1]
    assert store.roots("CSMSRootCertificate") == [old_root]
