"""InstallCertificate (M05), GetInstalledCertificateIds (M03), DeleteCertificate (M04), step by step after part 6."""

from __future__ import annotations

import datetime as dt

import pytest

from services.ocpp_client.certificates.handlers import CertificateHandlers
from services.ocpp_client.certificates.hash_data import certificate_hash_data
from services.ocpp_client.certificates.store import CertificateStore
from tests.services.ocpp_client.certificates.conftest import Events
from tests.services.ocpp_client.certificates.pki_tools import chain_pem, issue


@pytest.fixture
def block(store: CertificateStore, events: Events) -> CertificateHandlers:
    return CertificateHandlers(store, events, now=lambda: dt.datetime.now(dt.UTC), max_entries=lambda: 3)


async def _install(block: CertificateHandlers, cert_type: str, pem: str) -> str:
    return (await block.handlers()["InstallCertificate"]({"certificateType": cert_type, "certificate": pem}))["status"]


async def _ids(block: CertificateHandlers, *types: str) -> dict:
    request = {"certificateType": list(types)} if types else {}
    return await block.handlers()["GetInstalledCertificateIds"](request)


@pytest.mark.parametrize("cert_type", ["CSMSRootCertificate", "ManufacturerRootCertificate",
                                       "V2GRootCertificate", "MORootCertificate"])
async def test_installed_root_is_reported_with_its_hash_data(block: CertificateHandlers, cert_type: str) -> None:
    """TC_M_01..04 (CertificateInstalled + GetInstalledCertificates), TC_M_12/13/14/16."""
    root = issue(f"{cert_type} 2")
    assert await _install(block, cert_type, root.pem) == "Accepted"
    reply = await _ids(block, cert_type)
    assert reply["status"] == "Accepted"
    assert reply["certificateHashDataChain"] == [
        {"certificateType": cert_type, "certificateHashData": certificate_hash_data(root.cert, root.cert)}]


async def test_omitted_type_reports_every_installed_certificate(block: CertificateHandlers) -> None:
    """TC_M_17 and TC_M_18: CSMS and manufacturer roots, type filter and no filter."""
    csms, maker = issue("csms"), issue("maker")
    await _install(block, "CSMSRootCertificate", csms.pem)
    await _install(block, "ManufacturerRootCertificate", maker.pem)
    every = await _ids(block)
    assert {(e["certificateType"], e["certificateHashData"]["serialNumber"])
            for e in every["certificateHashDataChain"]} == {
        ("CSMSRootCertificate", format(csms.cert.serial_number, "x")),
        ("ManufacturerRootCertificate", format(maker.cert.serial_number, "x"))}
    both = await _ids(block, "CSMSRootCertificate", "ManufacturerRootCertificate")
    assert len(both["certificateHashDataChain"]) == 2
    only = await _ids(block, "ManufacturerRootCertificate")
    assert [e["certificateType"] for e in only["certificateHashDataChain"]] == ["ManufacturerRootCertificate"]


async def test_no_certificate_of_the_type_is_not_found_without_a_chain(block: CertificateHandlers) -> None:
    """TC_M_19."""
    await _install(block, "CSMSRootCertificate", issue("csms").pem)
    assert await _ids(block, "MORootCertificate") == {"status": "NotFound"}


async def test_expired_root_is_rejected_and_not_installed(block: CertificateHandlers, store: CertificateStore,
                                                          events: Events) -> None:
    """TC_M_07: Rejected; GetInstalledCertificateIds does not list it; the old set is untouched."""
    old = issue("old")
    await _install(block, "CSMSRootCertificate", old.pem)
    assert await _install(block, "CSMSRootCertificate", issue("expired", expired=True).pem) == "Rejected"
    chain = (await _ids(block, "CSMSRootCertificate"))["certificateHashDataChain"]
    assert [e["certificateHashData"] for e in chain] == [certificate_hash_data(old.cert, old.cert)]
    assert events.types == ["CertificateInstallationFailed"]
    assert "expired" in events.reported[0][1]


@pytest.mark.parametrize(("pem", "why"), [
    ("hello, not a certificate", "not a PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid PEM"),
    ("-----BEGIN CERTIFICATE-----\n" + "A" * (1 << 20) + "\n-----END CERTIFICATE-----\n", "bytes, more than"),
])
async def test_bad_input_is_rejected_logged_once_and_leaves_the_set(block: CertificateHandlers, store: CertificateStore,
                                                                    events: Events, pem: str, why: str,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Not a PEM, garbage inside PEM armour, a 1 MB blob: Rejected, one log line, one event, nothing stored."""
    await _install(block, "CSMSRootCertificate", issue("old").pem)
    files = sorted(p.name for p in store.directory.iterdir())
    caplog.clear()
    assert await _install(block, "CSMSRootCertificate", pem) == "Rejected"
    assert why in events.reported[-1][1]
    assert len([r for r in caplog.records if "InstallCertificate" in r.getMessage()]) == 1
    assert store.count() == 1 and sorted(p.name for p in store.directory.iterdir()) == files


async def test_a_leaf_certificate_is_not_a_root(block: CertificateHandlers, store: CertificateStore) -> None:
    root = issue("root")
    assert await _install(block, "CSMSRootCertificate", issue("leaf", root, ca=False).pem) == "Rejected"
    assert store.count() == 0


async def test_a_certificate_valid_only_in_the_future_is_rejected(block: CertificateHandlers) -> None:
    assert await _install(block, "CSMSRootCertificate", issue("later", future=True).pem) == "Rejected"


async def test_a_chain_is_not_a_root_certificate(block: CertificateHandlers) -> None:
    root = issue("root")
    assert await _install(block, "CSMSRootCertificate", chain_pem(issue("sub", root), root)) == "Rejected"


async def test_full_certificate_entries_fail_and_keep_the_set(block: CertificateHandlers, store: CertificateStore,
                                                              events: Events) -> None:
    """CertificateEntries at its maxLimit (3 here): Failed, the three stay; the same root again is Accepted."""
    roots = [issue(f"r{n}") for n in range(3)]
    for root in roots:
        assert await _install(block, "CSMSRootCertificate", root.pem) == "Accepted"
    reply = await block.install_certificate({"certificateType": "CSMSRootCertificate", "certificate": issue("r4").pem})
    assert reply["status"] == "Failed" and reply["statusInfo"]["reasonCode"] == "OutOfStorage"
    assert store.count() == 3
    assert await _install(block, "CSMSRootCertificate", roots[0].pem) == "Accepted"


async def test_delete_removes_the_certificate_named_by_its_hash_data(block: CertificateHandlers,
                                                                      store: CertificateStore) -> None:
    """TC_M_20: GetInstalledCertificates, DeleteCertificate with the returned hash data, gone afterwards."""
    kept, gone = issue("kept"), issue("gone")
    await _install(block, "CSMSRootCertificate", kept.pem)
    await _install(block, "CSMSRootCertificate", gone.pem)
    listed = (await _ids(block, "CSMSRootCertificate"))["certificateHashDataChain"]
    target = next(e["certificateHashData"] for e in listed
                  if e["certificateHashData"]["serialNumber"] == format(gone.cert.serial_number, "x"))
    assert (await block.delete_certificate({"certificateHashData": target}))["status"] == "Accepted"
    after = (await _ids(block, "CSMSRootCertificate"))["certificateHashDataChain"]
    assert target not in [e["certificateHashData"] for e in after] and len(after) == 1


async def test_delete_of_an_unknown_certificate_is_not_found(block: CertificateHandlers,
                                                             store: CertificateStore) -> None:
    """TC_M_22: hash data of a certificate that is not installed."""
    await _install(block, "CSMSRootCertificate", issue("installed").pem)
    stranger = issue("stranger")
    reply = await block.delete_certificate({"certificateHashData": certificate_hash_data(stranger.cert, stranger.cert)})
    assert reply["status"] == "NotFound" and store.count() == 1


async def test_the_station_certificate_cannot_be_deleted(block: CertificateHandlers, store: CertificateStore) -> None:
    """TC_M_23 (M04.FR.06): Failed, and the station certificate stays."""
    root = issue("csms root")
    await _install(block, "CSMSRootCertificate", root.pem)
    station = issue("SERIAL-1", root, ca=False)
    store.import_station_certificate([station.cert], station.key)
    reply = await block.delete_certificate({"certificateHashData": certificate_hash_data(station.cert, root.cert)})
    assert reply["status"] == "Failed"
    assert store.station_certificate() is not None


async def test_unknown_hash_algorithm_matches_nothing(block: CertificateHandlers) -> None:
    root = issue("root")
    await _install(block, "CSMSRootCertificate", root.pem)
    data = {**certificate_hash_data(root.cert, root.cert), "hashAlgorithm": "SHA1"}
    assert (await block.delete_certificate({"certificateHashData": data}))["status"] == "NotFound"
