"""ReserveNow (H01) and CancelReservation (H02) on the reservation block: real ocpp.db, real outbound queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.ocpp_client.reservation.reservation_rig import GROUP, TOKEN_A, TOKEN_B, Rig, at


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_reserving_a_specific_evse_holds_it_for_the_reserving_token_until_used(rig: Rig) -> None:
    """TC_H_01_CS: Accepted, the EVSE shows Reserved, the reserving token starts, its reservation is consumed
    (H01.FR.15, H03.FR.01, H03.FR.09, H03.FR.10)."""
    assert await rig.reserve(11, evseId=1) == "Accepted"
    assert rig.block.reserved(1) and not rig.block.reserved(2)
    assert rig.changes == 1
    assert rig.block.may_start(1, TOKEN_A)
    assert rig.block.consume(1, TOKEN_A) == 11
    assert not rig.block.reserved(1) and rig.rows() == []
    assert rig.queued() == []  # a used reservation is no ReservationStatusUpdate


async def test_another_token_may_not_start_on_a_reserved_evse_but_may_on_a_free_one(rig: Rig) -> None:
    """TC_H_02_CS: only the reserving idToken starts on the reserved EVSE (H03.FR.01, F01.FR.22)."""
    await rig.reserve(11, evseId=1)
    assert not rig.block.may_start(1, TOKEN_B)
    assert rig.block.consume(1, TOKEN_B) is None
    assert rig.block.may_start(2, TOKEN_B)
    assert rig.block.reserved(1)


async def test_reserving_an_evse_already_reserved_answers_occupied_and_keeps_the_first(rig: Rig) -> None:
    """TC_H_03_CS (H01.FR.11)."""
    await rig.reserve(11, evseId=1)
    before = rig.rows()
    assert await rig.reserve(12, TOKEN_B, evseId=1) == "Occupied"
    assert rig.rows() == before


@pytest.mark.parametrize("state", ["Occupied", "Faulted", "Unavailable"])
async def test_reserving_an_evse_answers_its_state_when_it_is_not_available(rig: Rig, state: str) -> None:
    """TC_H_04_CS Occupied (H01.FR.13), TC_H_06_CS Unavailable (H01.FR.14), Faulted (H01.FR.12)."""
    rig.states[1] = state
    assert await rig.reserve(11, evseId=1) == state
    assert rig.rows() == [] and rig.changes == 0


async def test_reserving_any_evse_keeps_one_free_for_the_token(rig: Rig) -> None:
    """TC_H_08_CS: without evseId, Accepted (H01.FR.04); with two EVSEs free neither shows Reserved; once one
    is taken by someone else the other is kept for the token (H01.FR.07) and shows Reserved."""
    assert await rig.reserve(21) == "Accepted"
    assert not rig.block.reserved(1) and not rig.block.reserved(2)
    assert rig.block.may_start(1, TOKEN_B)
    rig.states[1] = "Occupied"
    assert rig.block.reserved(2)
    assert not rig.block.may_start(2, TOKEN_B)
    assert rig.block.may_start(2, TOKEN_A)
    assert rig.block.consume(2, TOKEN_A) == 21


async def test_reserving_any_evse_on_a_one_evse_station_shows_it_reserved(tmp_path: Path) -> None:
    """TC_H_08_CS note: a station with one EVSE sets it Reserved."""
    rig = Rig(tmp_path, {1: ("sType2",)})
    assert await rig.reserve(21) == "Accepted"
    assert rig.block.reserved(1)
    assert rig.block.reservation_on(1).reservation_id == 21  # type: ignore[union-attr]


async def test_reserving_any_evse_when_all_are_reserved_answers_occupied(rig: Rig) -> None:
    """TC_H_09_CS (H01.FR.11)."""
    await rig.reserve(11, evseId=1)
    await rig.reserve(12, evseId=2)
    assert await rig.reserve(21, TOKEN_B) == "Occupied"
    assert [row[0] for row in rig.rows()] == [11, 12]


async def test_reserving_any_evse_when_all_are_charging_answers_occupied(rig: Rig) -> None:
    """TC_H_10_CS (H01.FR.13)."""
    rig.states.update({1: "Occupied", 2: "Occupied"})
    assert await rig.reserve(21) == "Occupied"


async def test_reserving_any_evse_when_the_station_is_unavailable_answers_unavailable(rig: Rig) -> None:
    """TC_H_12_CS (H01.FR.14); all Faulted: Faulted (H01.FR.12)."""
    rig.states.update({1: "Unavailable", 2: "Faulted"})
    assert await rig.reserve(21) == "Unavailable"
    rig.states[1] = "Faulted"
    assert await rig.reserve(21) == "Faulted"
    assert rig.rows() == []


async def test_reserving_any_evse_is_rejected_when_non_evse_specific_is_off(rig: Rig) -> None:
    """TC_H_13_CS (H01.FR.19)."""
    rig.settings["NonEvseSpecific"] = False
    assert await rig.call("ReserveNow", {"id": 21, "expiryDateTime": at(60), "idToken": TOKEN_A}) == {
        "status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedParam"}}
    assert rig.rows() == []


async def test_as_many_reservations_as_free_evses_reserve_them_all(rig: Rig) -> None:
    """TC_H_14_CS (H01.FR.20): one reservation per EVSE, each without evseId: every EVSE shows Reserved."""
    assert await rig.reserve(21) == "Accepted"
    assert not rig.block.reserved(1)
    assert await rig.reserve(22, TOKEN_B) == "Accepted"
    assert rig.block.reserved(1) and rig.block.reserved(2)
    assert not rig.block.may_start(1, {"idToken": "CAFE0001", "type": "ISO14443"})
    assert rig.block.may_start(1, TOKEN_B) and rig.block.may_start(2, TOKEN_A)


async def test_reserving_a_connector_type_keeps_an_evse_of_that_type(tmp_path: Path) -> None:
    """TC_H_15_CS (H01.FR.06, H01.FR.09, H03.FR.02): the only EVSE with that type shows Reserved."""
    rig = Rig(tmp_path, {1: ("sType2",), 2: ("cType2",)})
    assert await rig.reserve(31, connectorType="cType2") == "Accepted"
    assert rig.block.reserved(2) and not rig.block.reserved(1)
    assert not rig.block.may_start(2, TOKEN_B) and rig.block.may_start(1, TOKEN_B)
    assert rig.block.consume(1, TOKEN_A) is None  # the reservation is for a cType2 EVSE
    assert rig.block.consume(2, TOKEN_A) == 31


async def test_reserving_a_connector_type_whose_evses_are_all_reserved_answers_occupied(tmp_path: Path) -> None:
    """TC_H_16_CS (H01.FR.11)."""
    rig = Rig(tmp_path, {1: ("sType2",), 2: ("cType2",)})
    await rig.reserve(11, evseId=2)
    assert await rig.reserve(31, TOKEN_B, connectorType="cType2") == "Occupied"


async def test_cancelling_a_reservation_frees_the_evse(rig: Rig) -> None:
    """TC_H_17_CS (H02.FR.02)."""
    await rig.reserve(11, evseId=1)
    assert await rig.call("CancelReservation", {"reservationId": 11}) == {"status": "Accepted"}
    assert not rig.block.reserved(1) and rig.rows() == [] and rig.changes == 2
    assert rig.queued() == []


async def test_cancelling_an_unknown_reservation_is_rejected(rig: Rig) -> None:
    """TC_H_18_CS (H02.FR.01)."""
    await rig.reserve(11, evseId=1)
    response = await rig.call("CancelReservation", {"reservationId": 1})
    assert response["status"] == "Rejected"
    assert [row[0] for row in rig.rows()] == [11]


async def test_a_token_of_the_reserving_group_may_use_the_reservation(rig: Rig) -> None:
    """TC_H_19_CS (H03.FR.04, H03.FR.08): another idToken whose groupIdToken matches starts and uses it."""
    assert await rig.reserve(11, evseId=1, groupIdToken=GROUP) == "Accepted"
    assert rig.block.may_start(1, TOKEN_B, GROUP)
    assert not rig.block.may_start(1, TOKEN_B, {"idToken": "OTHER", "type": "Central"})
    assert rig.block.consume(1, TOKEN_B, GROUP) == 11


async def test_reserving_any_evse_for_a_group(rig: Rig) -> None:
    """TC_H_24_CS (H03.FR.06)."""
    assert await rig.reserve(21, groupIdToken=GROUP) == "Accepted"
    rig.states[1] = "Occupied"
    assert rig.block.may_start(2, TOKEN_B, GROUP)
    assert rig.block.consume(2, TOKEN_B, GROUP) == 21


async def test_reservations_are_rejected_when_disabled(rig: Rig) -> None:
    """TC_H_22_CS (H01.FR.01): Enabled false (or not Available) → Rejected, nothing stored."""
    rig.settings["Enabled"] = False
    assert await rig.reserve(11, evseId=1) == "Rejected"
    rig.settings.update(Enabled=True, Available=False)
    assert await rig.reserve(11, evseId=1) == "Rejected"
    assert rig.rows() == []


async def test_a_reservation_with_the_same_id_replaces_the_old_one(rig: Rig) -> None:
    """TC_H_23_CS (H01.FR.02): same id, new idToken: the new token may start, the old one not."""
    await rig.reserve(11, evseId=1)
    assert await rig.reserve(11, TOKEN_B, evseId=1, expires_in_s=120) == "Accepted"
    assert len(rig.rows()) == 1
    assert rig.block.may_start(1, TOKEN_B) and not rig.block.may_start(1, TOKEN_A)
    assert rig.block.reserved(1)


# ---- bad input: the spec's answer, nothing changed ------------------------------------------------------

async def test_an_expiry_in_the_past_is_rejected_and_stores_nothing(rig: Rig) -> None:
    response = await rig.call("ReserveNow", {"id": 11, "expiryDateTime": at(-1), "evseId": 1, "idToken": TOKEN_A})
    assert response == {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}
    assert rig.rows() == [] and rig.changes == 0


async def test_an_expiry_without_time_zone_is_rejected(rig: Rig) -> None:
    response = await rig.call("ReserveNow", {"id": 11, "expiryDateTime": "2030-01-01T00:00:00", "evseId": 1,
                                             "idToken": TOKEN_A})
    assert response["status"] == "Rejected" and rig.rows() == []


async def test_an_unknown_evse_is_rejected_and_stores_nothing(rig: Rig) -> None:
    for evse_id in (0, 3, -1):
        response = await rig.call("ReserveNow", {"id": 11, "expiryDateTime": at(60), "evseId": evse_id,
                                                 "idToken": TOKEN_A})
        assert response == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    assert rig.rows() == []


async def test_a_connector_type_the_evse_lacks_is_rejected(rig: Rig) -> None:
    response = await rig.call("ReserveNow", {"id": 11, "expiryDateTime": at(60), "evseId": 1,
                                             "connectorType": "cCCS2", "idToken": TOKEN_A})
    assert response == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownConnectorType"}}
    assert rig.rows() == []


async def test_a_reservation_id_reused_for_a_busy_evse_is_refused_and_the_old_reservation_stays(rig: Rig) -> None:
    """H01.FR.02 replaces a reservation with the same id; when the new EVSE cannot take it the answer is its
    status and the old reservation is untouched."""
    await rig.reserve(11, evseId=1)
    before = rig.rows()
    rig.states[2] = "Occupied"
    assert await rig.reserve(11, TOKEN_B, evseId=2) == "Occupied"
    assert rig.rows() == before and rig.block.reserved(1)


async def test_a_reservation_id_reused_for_a_free_evse_moves_the_reservation(rig: Rig) -> None:
    """H01.FR.02: the request replaces the reservation with that id, wherever it was."""
    await rig.reserve(11, evseId=1)
    assert await rig.reserve(11, evseId=2) == "Accepted"
    assert not rig.block.reserved(1) and rig.block.reserved(2)
    assert len(rig.rows()) == 1


async def test_a_reservation_cannot_take_the_last_evse_kept_for_a_reservation_without_evse(rig: Rig) -> None:
    """H01.FR.07: with EVSE 1 charging and one reservation for any EVSE, EVSE 2 cannot be reserved by id."""
    await rig.reserve(21)
    rig.states[1] = "Occupied"
    assert await rig.reserve(12, TOKEN_B, evseId=2) == "Occupied"
    assert [row[0] for row in rig.rows()] == [21]
