"""The certificates block in the running ocpp service against the development CSMS over real TLS (a PKI made in
the test): TC_M_01..04 with M03/M04, bad input, TC_A_11 renewal, TC_B_43/45/46 network profiles and the A05
upgrade 2→3 with the floor kept across restarts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bus.harness import Probe
from services.ocpp_client.certificates.hash_data import certificate_hash_data
from sim.csms import CsmsCallError, DevCsms
from station.config import StationConfig, load_config
from tests.pki import Pki, server_tls_context
from tests.services.ocpp_client.certificates.pki_tools import Issued, issue, sign_csr
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import TestOcppService, calls, mark, start_ocpp, wait_call
from tests.stations import free_port

C = "OCPPCommCtrlr"


def tls_config(station: StationConfig, pki: Pki, security_profile: int, name: str, *, extra: str = "") -> StationConfig:
    """The harness station over TLS: wss, [csms] ca_file and the station certificate of the test PKI."""
    text = station.path.read_text().replace("ws://", "wss://").replace(
        "security_profile = 1", f'security_profile = {security_profile}\nca_file = "{pki.ca}"\n'
                                f'client_cert = "{pki.client.cert}"\nclient_key = "{pki.client.key}"')
    text = text.replace("[device_model]", f"[device_model]\n{extra}")
    path = station.path.parent / name
    path.write_text(text)
    return load_config(path)


@contextlib.asynccontextmanager
async def tls_csms(config: StationConfig, pki: Pki, port: int | None = None) -> AsyncIterator[DevCsms]:
    """A development CSMS over TLS that also takes client certificates from the test PKI (profiles 2 and 3)."""
    csms = await DevCsms(password=config.csms.password, port=config.sim.csms_port if port is None else port,
                         tls=server_tls_context(pki, client_ca=True)).start()
    try:
        yield csms
    finally:
        await csms.stop()


@contextlib.asynccontextmanager
async def booted(config: StationConfig, csms: DevCsms, probe: Probe) -> AsyncIterator[TestOcppService]:
    """The service running and Accepted by `csms`."""
    async with start_ocpp(config) as service:
        await wait_call(csms, config, "BootNotification", timeout=8)
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted", timeout=8)
        yield service


def ca(pki: Pki) -> Issued:
    cert = x509.load_pem_x509_certificate(Path(pki.ca).read_bytes())
    key = serialization.load_pem_private_key(Path(pki.ca_key).read_bytes(), password=None)
    return Issued(cert, key)  # type: ignore[arg-type]


def profile(url: str, security_profile: int) -> dict[str, Any]:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppInterface": "Wired0", "messageTimeout": 30,
            "securityProfile": security_profile, "ocppCsmsUrl": url}


async def set_priority(csms: DevCsms, config: StationConfig, value: str) -> dict[str, Any]:
    reply = await csms.call(config.station.id, "SetVariables", {"setVariableData": [
        {"component": {"name": C}, "variable": {"name": "NetworkConfigurationPriority"}, "attributeValue": value}]})
    return reply["setVariableResult"][0]


async def security_event(csms: DevCsms, config: StationConfig, event_type: str, since: int) -> dict[str, Any]:
    """The first SecurityEventNotification of `event_type` from index `since` (waits)."""
    while True:
        record = await wait_call(csms, config, "SecurityEventNotification", since=since)
        if record.payload["type"] == event_type:
            return record.payload
        since = record.index + 1


async def certificate_entries(csms: DevCsms, config: StationConfig) -> int:
    reply = await csms.call(config.station.id, "GetVariables", {"getVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertificateEntries"}}]})
    return int(reply["getVariableResult"][0]["attributeValue"])


@pytest.mark.parametrize("cert_type", ["CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate",
                                       "MORootCertificate"])
async def test_tc_m_01_to_04_a_root_is_installed_listed_and_deleted(station, pki, evse_io, modem, probe,
                                                                    cert_type) -> None:
    """TC_M_01..04 (CertificateInstalled), then M03 lists it with its hash data and M04 deletes it."""
    config = tls_config(station, pki, 2, "m.toml")
    async with tls_csms(config, pki) as csms, booted(config, csms, probe):
        sid = config.station.id
        before = await certificate_entries(csms, config)
        root = issue(f"{cert_type} 2")
        reply = await csms.call(sid, "InstallCertificate", {"certificateType": cert_type, "certificate": root.pem})
        assert reply["status"] == "Accepted"
        assert await certificate_entries(csms, config) == before + 1
        listed = await csms.call(sid, "GetInstalledCertificateIds", {"certificateType": [cert_type]})
        wanted = certificate_hash_data(root.cert, root.cert)
        assert wanted in [chain["certificateHashData"] for chain in listed["certificateHashDataChain"]]
        reply = await csms.call(sid, "DeleteCertificate", {"certificateHashData": wanted})
        assert reply["status"] == "Accepted"
        reply = await csms.call(sid, "DeleteCertificate", {"certificateHashData": wanted})
        assert reply["status"] == "NotFound"
        assert await certificate_entries(csms, config) == before


async def test_bad_certificates_are_rejected_and_the_set_is_untouched(station, pki, evse_io, modem, probe) -> None:
    """A PEM that is no certificate, an expired root, a 1 MB blob: Rejected (or a CALLERROR for the schema);
    the station's own certificate cannot be deleted; the link stays up."""
    config = tls_config(station, pki, 2, "bad.toml")
    async with tls_csms(config, pki) as csms, booted(config, csms, probe) as ocpp:
        sid = config.station.id
        before = ocpp.certificates.installed()
        for pem in ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
                    issue("old root", expired=True).pem):
            reply = await csms.call(sid, "InstallCertificate", {"certificateType": "CSMSRootCertificate",
                                                                "certificate": pem})
            assert reply["status"] == "Rejected"
        with pytest.raises(CsmsCallError) as refused:
            await csms.call(sid, "InstallCertificate", {"certificateType": "CSMSRootCertificate",
                                                        "certificate": "A" * 1_000_000}, validate=False)
        assert refused.value.code in ("FormationViolation", "PropertyConstraintViolation",
                                      "OccurrenceConstraintViolation")
        station_cert = x509.load_pem_x509_certificate(Path(pki.client.cert).read_bytes())
        issuer = x509.load_pem_x509_certificate(Path(pki.ca).read_bytes())
        reply = await csms.call(sid, "DeleteCertificate",
                                {"certificateHashData": certificate_hash_data(station_cert, issuer)})
        assert reply["status"] == "Failed"
        assert ocpp.certificates.installed() == before
        assert ocpp.gate.connected


async def test_tc_a_11_renewal_by_trigger_message_connects_with_the_new_certificate(station, pki, evse_io, modem,
                                                                                   probe) -> None:
    """TC_A_11 (RenewChargingStationCertificate): TriggerMessage → SignCertificate with a CSR; a chain that does
    not verify is Rejected with InvalidChargingStationCertificate; the one signed by the CSMS root is Accepted
    and used from the next connection, then becomes the station certificate."""
    config = tls_config(station, pki, 3, "a11.toml")
    async with tls_csms(config, pki) as csms, booted(config, csms, probe) as ocpp:
        sid = config.station.id
        since = mark(csms, config)
        reply = await csms.call(sid, "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        assert reply == {"status": "Accepted"}
        request = (await wait_call(csms, config, "SignCertificate", since=since)).payload
        csr = x509.load_pem_x509_csr(request["csr"].encode())
        assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == config.station.serial_number
        rogue = sign_csr(request["csr"], issue("rogue CA"))
        reply = await csms.call(sid, "CertificateSigned", {"certificateChain": rogue.pem,
                                                           "certificateType": "ChargingStationCertificate"})
        assert reply["status"] == "Rejected"
        assert await security_event(csms, config, "InvalidChargingStationCertificate", since)
        renewed = sign_csr(request["csr"], ca(pki))
        reply = await csms.call(sid, "CertificateSigned", {"certificateChain": renewed.pem,
                                                           "certificateType": "ChargingStationCertificate"})
        assert reply["status"] == "Accepted"
        assert [c["state"] for c in ocpp.certificates.installed() if c["type"] == "ChargingStationCertificate"] \
            == ["active", "pending"]
        boots = len(calls(csms, config, "BootNotification"))
        await csms.disconnect(sid)
        await probe.wait_for("ocpp.state.csms", lambda e: not e.body["connected"])
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["connected"], timeout=8)
        active = ocpp.certificates.store.station_certificate()
        assert active is not None and active.cert == renewed.cert
        assert ocpp.certificates.store.station_certificate("pending") is None
        assert len(calls(csms, config, "BootNotification")) == boots  # a reconnection, not a new boot


async def test_tc_b_43_an_invalid_slot_is_rejected_and_priority_checked(station, pki, evse_io, modem, probe) -> None:
    """TC_B_43: configurationSlot 999 → Rejected; NetworkConfigurationPriority naming an empty slot → Rejected."""
    config = tls_config(station, pki, 2, "b43.toml")
    async with tls_csms(config, pki) as csms, booted(config, csms, probe):
        reply = await csms.call(config.station.id, "SetNetworkProfile",
                                {"configurationSlot": 999, "connectionData": profile(csms.url, 2)})
        assert reply["status"] == "Rejected"
        result = await set_priority(csms, config, "3,1")
        assert result["attributeStatus"] == "Rejected"


async def test_tc_b_45_migration_to_a_new_profile_after_reset(station, pki, evse_io, modem, probe) -> None:
    """TC_B_45: slot 2 = another CSMS (same root), priority "2,1" (RebootRequired), Reset: the station boots at
    the new CSMS."""
    config = tls_config(station, pki, 2, "b45.toml")
    async with tls_csms(config, pki) as old, tls_csms(config, pki, port=free_port()) as new:
        async with booted(config, old, probe):
            reply = await old.call(config.station.id, "SetNetworkProfile",
                                   {"configurationSlot": 2, "connectionData": profile(new.url, 2)})
            assert reply["status"] == "Accepted"
            assert (await set_priority(old, config, "2,1"))["attributeStatus"] == "RebootRequired"
            assert (await old.call(config.station.id, "Reset", {"type": "OnIdle"}))["status"] == "Accepted"
        async with booted(config, new, probe) as ocpp:
            assert ocpp.link.url.startswith(new.url)


async def test_tc_b_46_fallback_to_the_previous_profile(station, pki, evse_io, modem, probe) -> None:
    """TC_B_46: NetworkProfileConnectionAttempts 2, slot 2 does not answer: after two attempts the station
    connects through slot 1, which stays in the priority list."""
    config = tls_config(station, pki, 2, "b46.toml", extra='"OCPPCommCtrlr.NetworkProfileConnectionAttempts" = 2')
    async with tls_csms(config, pki) as csms:
        silent_url = f"wss://127.0.0.1:{free_port()}"
        async with booted(config, csms, probe):
            reply = await csms.call(config.station.id, "SetNetworkProfile",
                                    {"configurationSlot": 2, "connectionData": profile(silent_url, 2)})
            assert reply["status"] == "Accepted"
            assert (await set_priority(csms, config, "2,1"))["attributeStatus"] == "RebootRequired"
        since = mark(csms, config)
        async with booted(config, csms, probe) as ocpp:
            assert ocpp.link.connection.stats.failed_attempts == 2
            assert ocpp.certificates.plan.slot == 1
            assert ocpp.dm.get_str(C, "NetworkConfigurationPriority") == "2,1"
            assert calls(csms, config, "BootNotification", since)


async def test_a05_upgrade_2_to_3_and_no_downgrade_across_restarts(station, pki, evse_io, modem, probe) -> None:
    """TC_A_19 shape end to end in the service: slot 2 with profile 3, priority "2,1", Reset: the station
    connects with its client certificate, prunes slot 1, reports SecurityProfile 3; after a restart a profile-2
    slot is still refused."""
    config = tls_config(station, pki, 2, "a05.toml")
    async with tls_csms(config, pki) as csms:
        sid = config.station.id
        async with booted(config, csms, probe):
            reply = await csms.call(sid, "SetNetworkProfile",
                                    {"configurationSlot": 2, "connectionData": profile(csms.url, 3)})
            assert reply["status"] == "Accepted"
            assert (await set_priority(csms, config, "2,1"))["attributeStatus"] == "RebootRequired"
        async with booted(config, csms, probe) as ocpp:
            assert ocpp.link.security_profile == 3
            assert ocpp.dm.get_str(C, "NetworkConfigurationPriority") == "2"
            assert ocpp.dm.get_int("SecurityCtrlr", "SecurityProfile") == 3
        async with booted(config, csms, probe) as ocpp:
            assert ocpp.link.security_profile == 3
            reply = await csms.call(sid, "SetNetworkProfile",
                                    {"configurationSlot": 3, "connectionData": profile(csms.url, 2)})
            assert reply["status"] == "Rejected"
            assert (await set_priority(csms, config, "1,2"))["attributeStatus"] == "Rejected"
