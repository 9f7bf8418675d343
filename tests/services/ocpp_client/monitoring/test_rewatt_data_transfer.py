"""DataTransfer vendorId REWATT (P01): Health and Problems messages, unknown vendor and message ids."""

from __future__ import annotations

from tests.services.ocpp_client.monitoring.rig import Rig


async def test_health_returns_the_station_status_document(rig: Rig) -> None:
    response = await rig.block.calls.data_transfer({"vendorId": "REWATT", "messageId": "Health"})
    assert response == {"status": "Accepted", "data": rig.health}


async def test_health_from_an_async_source_is_awaited(rig: Rig) -> None:
    async def health() -> dict:
        return {"services": {}}

    rig.block.calls._health = health
    assert (await rig.block.calls.rewatt_data_transfer({"vendorId": "REWATT", "messageId": "Health"}))["data"] == {
        "services": {}}


async def test_a_failing_health_source_is_rejected_not_crashed(rig: Rig) -> None:
    def broken() -> dict:
        raise OSError("supervisord socket gone")

    rig.block.calls._health = broken
    response = await rig.block.calls.data_transfer({"vendorId": "REWATT", "messageId": "Health"})
    assert response["status"] == "Rejected" and "supervisord" in response["statusInfo"]["additionalInfo"]


async def test_problems_lists_what_is_reported_now(rig: Rig) -> None:
    rig.block.on_evse_state(1, {"faults": ["rcd_triggered"], "link_up": True})
    response = await rig.block.calls.data_transfer({"vendorId": "REWATT", "messageId": "Problems"})
    assert response["status"] == "Accepted"
    [(key, codes)] = response["data"]["problems"].items()
    assert "RCD" in key and codes == ["rcd_triggered"]
    assert response["data"]["events_dropped_offline"] == 0


async def test_unknown_message_and_vendor_ids_are_answered_as_the_spec_says(rig: Rig) -> None:
    calls = rig.block.calls
    assert await calls.data_transfer({"vendorId": "REWATT", "messageId": "Reboot"}) == {"status": "UnknownMessageId"}
    assert await calls.data_transfer({"vendorId": "REWATT"}) == {"status": "UnknownMessageId"}
    assert await calls.data_transfer({"vendorId": "OtherCo", "messageId": "Health"}) == {"status": "UnknownVendorId"}
