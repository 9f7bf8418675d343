"""CustomerInformation (N09, N10) on real SQLite: the auth cache, local list, transaction records, the durable
queue and reservations of one ocpp.db."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ocpp_client.diagnostics.customer_information import paginate
from tests.services.ocpp_client.diagnostics.customer_rig import OTHER, TOKEN, CustomerRig


@pytest.fixture
def rig(tmp_path: Path) -> CustomerRig:
    return CustomerRig(tmp_path)


def holding_everything(rig: CustomerRig) -> None:
    rig.cache(TOKEN)
    rig.local_list(TOKEN)
    rig.ongoing_transaction(1, TOKEN, "TX-ONGOING")
    rig.queued_ended_event(TOKEN, "TX-QUEUED")
    rig.reserve(11, TOKEN)
    rig.cache(OTHER)


async def test_report_lists_everything_the_station_holds_about_the_id_token(rig: CustomerRig) -> None:
    """TC_N_27_CS (N09.FR.02, N09.FR.05): Accepted, then pages with data about this token only."""
    holding_everything(rig)
    assert await rig.request(idToken=TOKEN) == {"status": "Accepted"}
    data = rig.data()
    for expected in ("AuthorizationCache ISO14443:04A1B2C3", "LocalAuthorizationList ISO14443:04A1B2C3",
                     "Transaction TX-ONGOING", "Transaction TX-QUEUED", "Reservation 11"):
        assert expected in data
    assert "0BADCAFE" not in data
    assert [p["seqNo"] for p in rig.pages] == list(range(len(rig.pages)))
    assert rig.pages[-1]["tbc"] is False and all(p["tbc"] for p in rig.pages[:-1])
    assert {p["requestId"] for p in rig.pages} == {7}
    assert {p["generatedAt"] for p in rig.pages} == {"2025-03-01T12:00:00Z"}
    assert rig.auth.cache_entry(TOKEN) is not None  # a report clears nothing


async def test_report_about_an_unknown_token_says_no_data_found(rig: CustomerRig) -> None:
    """TC_N_28_CS (N09.FR.06): one page, tbc false, saying no data is found."""
    rig.cache(OTHER)
    assert await rig.request(idToken=TOKEN) == {"status": "Accepted"}
    assert len(rig.pages) == 1 and rig.pages[0]["tbc"] is False
    assert rig.pages[0]["data"].startswith("No data found")


@pytest.mark.parametrize("fields", [
    {},
    {"customerIdentifier": ""},
    {"idToken": TOKEN, "customerIdentifier": "C-1"},
    {"idToken": TOKEN, "report": False, "clear": False},
])
async def test_a_request_naming_nobody_or_several_or_asking_nothing_is_invalid(rig: CustomerRig,
                                                                             fields: dict) -> None:
    """TC_N_29_CS (N09.FR.03): Invalid, nothing sent, nothing cleared."""
    holding_everything(rig)
    response = await rig.request(**{"report": True, "clear": True, **fields})
    assert response["status"] == "Invalid"
    assert rig.pages == []
    assert rig.auth.cache_entry(TOKEN) is not None and rig.reservations.for_token(TOKEN)


async def test_clear_and_report_reports_then_clears_all_but_the_local_list_and_transactions(rig: CustomerRig) -> None:
    """TC_N_30_CS (N10.FR.01, N10.FR.03): the report shows what was held; afterwards the cache entry and the
    reservation are gone (ReservationStatusUpdate Removed queued), the local list entry and every stored
    transaction record stay; a second report finds only those."""
    holding_everything(rig)
    assert await rig.request(idToken=TOKEN, clear=True) == {"status": "Accepted"}
    assert "AuthorizationCache" in rig.data() and "Reservation 11" in rig.data()
    assert rig.auth.cache_entry(TOKEN) is None and rig.auth.cache_entry(OTHER) is not None
    assert rig.reservations.for_token(TOKEN) == []
    assert ("ReservationStatusUpdate", {"reservationId": 11, "reservationUpdateStatus": "Removed"}) in [
        (m.action, m.payload) for m in rig.queue.pending()]
    assert rig.auth.local_entry(TOKEN) is not None
    assert rig.txs.load(1).tx is not None  # type: ignore[union-attr]
    assert any(m.action == "TransactionEvent" for m in rig.queue.pending())
    assert await rig.request(idToken=TOKEN) == {"status": "Accepted"}
    assert rig.pages[-1]["tbc"] is False
    assert "AuthorizationCache" not in rig.data() and "Reservation" not in rig.data()


async def test_clear_and_report_about_an_unknown_token_says_no_data_found(rig: CustomerRig) -> None:
    """TC_N_31_CS (N10.FR.04)."""
    assert await rig.request(idToken=TOKEN, clear=True) == {"status": "Accepted"}
    assert len(rig.pages) == 1 and rig.pages[0]["data"].startswith("No data found")


async def test_clear_without_report_sends_one_page_saying_what_was_cleared(rig: CustomerRig) -> None:
    """TC_N_32_CS (N10.FR.06)."""
    rig.cache(TOKEN)
    assert await rig.request(idToken=TOKEN, report=False, clear=True) == {"status": "Accepted"}
    assert len(rig.pages) == 1 and rig.pages[0]["tbc"] is False
    assert rig.pages[0]["data"].startswith("Cleared for idToken ISO14443:04A1B2C3")
    assert rig.auth.cache_entry(TOKEN) is None


async def test_clear_and_report_by_customer_identifier(rig: CustomerRig) -> None:
    """TC_N_62_CS (N10.FR.01, N10.FR.03): the identifier names the tokens whose idToken or additionalIdToken it
    is; cleared, then a second report by the identifier is Accepted with no cache data left."""
    card = {"idToken": "CARD-9", "type": "ISO14443", "additionalInfo": [{"additionalIdToken": "CUST-42",
                                                                         "type": "CustomerId"}]}
    rig.cache(card)
    assert await rig.request(customerIdentifier="CUST-42", clear=True) == {"status": "Accepted"}
    assert "AuthorizationCache ISO14443:CARD-9" in rig.data()
    assert rig.auth.cache_entry(card) is None
    assert await rig.request(customerIdentifier="CUST-42") == {"status": "Accepted"}
    assert rig.data().startswith("No data found")


async def test_a_certificate_the_station_does_not_hold_is_no_data(rig: CustomerRig) -> None:
    cert = {"hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb", "serialNumber": "01"}
    assert await rig.request(customerCertificate=cert, clear=True) == {"status": "Accepted"}
    assert rig.data() == "No data found for certificate serial 01"


async def test_a_long_report_is_split_into_pages_of_at_most_512_characters(rig: CustomerRig) -> None:
    for n in range(40):
        rig.queued_ended_event(TOKEN, f"TX-{n:04d}-{'x' * 20}")
    assert await rig.request(idToken=TOKEN) == {"status": "Accepted"}
    assert len(rig.pages) > 1
    assert all(len(p["data"]) <= 512 for p in rig.pages)
    assert all(f"TX-{n:04d}" in rig.data() for n in range(40))


async def test_pages_stop_when_one_is_not_delivered(rig: CustomerRig) -> None:
    for n in range(40):
        rig.queued_ended_event(TOKEN, f"TX-{n:04d}-{'x' * 20}")
    rig.deliver = False
    await rig.request(idToken=TOKEN)
    assert len(rig.pages) == 1


def test_paginate_cuts_an_overlong_line_and_keeps_order() -> None:
    pages = paginate(["a" * 600, "b", "c" * 10], 512)
    assert pages == ["a" * 512, "a" * 88 + "\nb\n" + "c" * 10]
    assert paginate([]) == [""]
