"""How reservations end (H04 expiry, Removed on a fault or Inoperative) and survive restarts (TC_B_24)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.services.ocpp_client.reservation.reservation_rig import TOKEN_A, TOKEN_B, Rig


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


@contextlib.asynccontextmanager
async def timer(rig: Rig) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(rig.block.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_unused_reservation_expires_with_reservation_status_update_expired(rig: Rig) -> None:
    """TC_H_07_CS (H04.FR.01, H04.FR.02): at expiryDateTime the EVSE is free again and Expired is queued."""
    await rig.reserve(11, evseId=1, expires_in_s=60)
    async with timer(rig):
        await asyncio.sleep(0)
        rig.advance(59)
        rig.block.poke()
        await asyncio.sleep(0)
        assert rig.block.reserved(1) and rig.queued() == []
        rig.advance(1)
        rig.block.poke()
        await asyncio.wait_for(rig.queued_event.wait(), 5)
    assert rig.queued() == [("ReservationStatusUpdate", {"reservationId": 11, "reservationUpdateStatus": "Expired"})]
    assert not rig.block.reserved(1)
    assert rig.block.may_start(1, TOKEN_B)


async def test_the_expiry_timer_fires_on_its_own_at_the_next_expiry(tmp_path: Path) -> None:
    """One timer to the next expiry, nothing polls: a reservation 0.3 s long expires without any poke."""
    rig = Rig(tmp_path)
    rig.block._now = lambda: datetime.now(UTC)  # the real clock
    rig.moment = datetime.now(UTC)
    async with timer(rig):
        assert await rig.reserve(11, evseId=1, expires_in_s=30) == "Accepted"
        rig.moment = datetime.now(UTC)
        assert await rig.reserve(12, TOKEN_B, evseId=2, expires_in_s=0.3) == "Accepted"
        await asyncio.wait_for(rig.queued_event.wait(), 5)
    assert rig.queued() == [("ReservationStatusUpdate", {"reservationId": 12, "reservationUpdateStatus": "Expired"})]
    assert [row[0] for row in rig.rows()] == [11]


async def test_an_inoperative_evse_ends_its_reservation_with_removed(rig: Rig) -> None:
    """TC_H_21_CS (H01.FR.17): ChangeAvailability Inoperative on a reserved EVSE → Removed; Operative again →
    anyone may start."""
    await rig.reserve(11, evseId=1)
    rig.states[1] = "Unavailable"
    assert rig.block.evse_changed(1) == [11]
    assert rig.queued() == [("ReservationStatusUpdate", {"reservationId": 11, "reservationUpdateStatus": "Removed"})]
    rig.states[1] = "Available"
    assert rig.block.evse_changed(1) == []
    assert not rig.block.reserved(1) and rig.block.may_start(1, TOKEN_B)


async def test_a_faulted_evse_ends_its_reservation_with_removed(rig: Rig) -> None:
    await rig.reserve(11, evseId=1)
    rig.states[1] = "Faulted"
    assert rig.block.evse_changed(1) == [11]
    assert rig.rows() == []


async def test_a_plug_in_on_the_reserved_evse_does_not_end_the_reservation(rig: Rig) -> None:
    """The reserving driver plugs in first (errata G01.FR.09): the reservation stays until the token comes."""
    await rig.reserve(11, evseId=1)
    rig.states[1] = "Occupied"
    assert rig.block.evse_changed(1) == []
    assert rig.block.reserved(1) and rig.block.may_start(1, TOKEN_A) and not rig.block.may_start(1, TOKEN_B)


async def test_reservations_without_evse_that_lose_their_evses_are_removed_newest_first(rig: Rig) -> None:
    await rig.reserve(21)
    await rig.reserve(22, TOKEN_B)
    rig.states[2] = "Faulted"
    assert rig.block.evse_changed(2) == [22]
    assert [row[0] for row in rig.rows()] == [21]
    assert rig.block.reserved(1)


async def test_a_reservation_survives_a_restart_of_the_service(rig: Rig) -> None:
    """TC_B_24_CS (B11.FR.01…05): after the restart (Reset, kill -9 or power loss: ocpp.db is all there is),
    the EVSE is still Reserved for the same token until the same expiry."""
    await rig.reserve(11, evseId=1, expires_in_s=600, groupIdToken={"idToken": "G", "type": "Central"})
    rig.restart()
    assert rig.block.reserved(1) and not rig.block.reserved(2)
    held = rig.block.reservation_on(1)
    assert held is not None and held.id_token == TOKEN_A
    assert held.expires_at == rig.moment + timedelta(seconds=600)
    assert rig.block.may_start(1, {"idToken": "X", "type": "Local"}, {"idToken": "G", "type": "Central"})


async def test_a_reservation_that_expired_while_the_station_was_off_expires_at_start(rig: Rig) -> None:
    """H04 after a power loss: the timer's first look ends what expired meanwhile, with Expired."""
    await rig.reserve(11, evseId=1, expires_in_s=60)
    rig.restart()
    rig.advance(3600)
    async with timer(rig):
        await asyncio.wait_for(rig.queued_event.wait(), 5)
    assert rig.queued() == [("ReservationStatusUpdate", {"reservationId": 11, "reservationUpdateStatus": "Expired"})]
    assert rig.rows() == []


async def test_an_expiry_whose_message_cannot_be_queued_leaves_the_reservation_in_place(rig: Rig) -> None:
    """The removal and its ReservationStatusUpdate commit together: a failed queue write undoes both."""
    await rig.reserve(11, evseId=1)

    def broken_put(action: str, payload: dict) -> None:
        raise OSError("disk full")

    rig.block._queue_put = broken_put
    rig.advance(120)
    with pytest.raises(OSError):
        rig.block.expire_due()
    assert [row[0] for row in rig.rows()] == [11]


async def test_the_expired_message_is_in_the_durable_queue_after_a_restart(rig: Rig) -> None:
    """ReservationStatusUpdate goes through the durable queue: it survives a restart before delivery."""
    await rig.reserve(11, evseId=1)
    rig.advance(61)
    assert rig.block.expire_due() == [11]
    rig.restart()
    assert rig.queued() == [("ReservationStatusUpdate", {"reservationId": 11, "reservationUpdateStatus": "Expired"})]
