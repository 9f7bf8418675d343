"""The K CALLs step by step as the part-6 test cases send them, against a real SQLite store.

Every request and every response/ReportChargingProfiles is checked against the OCPP JSON schemas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.ocpp_client.link.payload_schema import request_violation, response_violation
from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.link.rpc_errors import CallError
from services.ocpp_client.smart_charging.handlers import REPORT_PAGE_PROFILES, SmartChargingHandlers
from services.ocpp_client.smart_charging.station import EvseConfig, StationView
from services.ocpp_client.smart_charging.store import ProfileStore
from services.ocpp_client.smart_charging.variables import Settings
from tests.services.ocpp_client.smart_charging.builders import T0, at, open_db, profile_payload


class Rig:
    """The handlers over a real database, with a clock, settings and a recording `send`."""

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        self.path = path
        self.settings = settings or Settings()
        self.clock = T0
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.changes = 0
        self.station = StationView([EvseConfig(1, 32.0), EvseConfig(2, 32.0)])
        self.open()

    def open(self) -> None:
        self.store = ProfileStore(open_db(self.path))
        self.block = SmartChargingHandlers(self.store, self.station, lambda: self.settings, lambda: self.clock,
                                           self._send, self._changed)

    def _changed(self) -> None:
        self.changes += 1

    async def _send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert request_violation(action, payload) is None, payload
        self.sent.append((action, payload))
        return {}

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert request_violation(action, payload) is None, payload
        answer = await self.block.handlers()[action](payload)
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        assert response_violation(action, reply.payload) is None, reply.payload
        if reply.after_sent is not None:
            await reply.after_sent()
        return reply.payload

    async def set(self, evse_id: int, **kw: Any) -> dict[str, Any]:
        return await self.call("SetChargingProfile", {"evseId": evse_id, "chargingProfile": profile_payload(**kw)})

    async def reports(self, request_id: int = 1, **request: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self.sent.clear()
        answer = await self.call("GetChargingProfiles", {"requestId": request_id, **request})
        return answer, [p for a, p in self.sent if a == "ReportChargingProfiles"]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "ocpp.db")


async def test_tx_default_profile_is_accepted_and_reported_as_sent(rig: Rig) -> None:
    """TC_K_01_CS (specific EVSE) and TC_K_10_CS (evseId 0: one page, tbc false)."""
    for evse_id, profile_id in ((1, 11), (0, 12)):
        sent = profile_payload(profile_id, duration_s=300, periods=[(0, 6.0)], number_phases=3)
        assert await rig.call("SetChargingProfile", {"evseId": evse_id, "chargingProfile": sent}) == {
            "status": "Accepted"}
        answer, pages = await rig.reports(7, chargingProfile={"chargingProfileId": [profile_id]})
        assert answer == {"status": "Accepted"}
        assert pages == [{"requestId": 7, "chargingLimitSource": "CSO", "evseId": evse_id,
                          "chargingProfile": [sent], "tbc": False}]
    assert rig.changes == 2


async def test_tx_profile_without_transaction_is_rejected_and_not_stored(rig: Rig) -> None:
    """TC_K_02_CS, TC_K_16_CS."""
    answer = await rig.set(1, purpose="TxProfile", transaction_id="UNKNOWN-TRANSACTION-ID")
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "TxNotFound"
    assert len(rig.store) == 0 and rig.changes == 0


async def test_station_max_profile_on_evse_0_is_accepted_and_reported(rig: Rig) -> None:
    """TC_K_03_CS."""
    assert (await rig.set(0, profile_id=3, purpose="ChargingStationMaxProfile", duration_s=300))["status"] == (
        "Accepted")
    _, pages = await rig.reports(chargingProfile={"chargingProfileId": [3]})
    assert pages[0]["evseId"] == 0


async def test_same_id_replaces_the_profile(rig: Rig) -> None:
    """TC_K_04_CS (K01.FR.05): limit 6 then 10 under the same id."""
    await rig.set(1, profile_id=4, periods=[(0, 6.0)])
    assert (await rig.set(1, profile_id=4, periods=[(0, 10.0)]))["status"] == "Accepted"
    _, pages = await rig.reports(chargingProfile={"chargingProfileId": [4]})
    assert [p["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
            for p in pages] == [10.0]


async def test_clear_by_id_then_get_answers_no_profiles(rig: Rig) -> None:
    """TC_K_05_CS (K10.FR.03)."""
    await rig.set(1, profile_id=5)
    assert await rig.call("ClearChargingProfile", {"chargingProfileId": 5}) == {"status": "Accepted"}
    answer, pages = await rig.reports(chargingProfile={"chargingProfileId": [5]})
    assert answer == {"status": "NoProfiles"} and pages == []


async def test_clear_by_purpose_and_stack_level(rig: Rig) -> None:
    """TC_K_06_CS (one profile) and TC_K_24_CS (several: on EVSE 1 and 2) (K10.FR.04)."""
    await rig.set(1, profile_id=1, stack_level=2)
    await rig.set(2, profile_id=2, stack_level=2)
    await rig.set(1, profile_id=3, stack_level=1)
    criteria = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}
    assert await rig.call("ClearChargingProfile", {"chargingProfileCriteria": criteria}) == {"status": "Accepted"}
    assert (await rig.reports(chargingProfile=criteria))[0] == {"status": "NoProfiles"}
    assert [p.profile_id for p in rig.store.all()] == [3]


async def test_clear_with_unknown_criteria_or_nothing_installed_answers_unknown(rig: Rig) -> None:
    """TC_K_07_CS and TC_K_08_CS (K10.FR.01)."""
    assert await rig.call("ClearChargingProfile", {"chargingProfileId": 99}) == {"status": "Unknown"}
    await rig.set(1, profile_id=1, stack_level=1)
    criteria = {"chargingProfilePurpose": "ChargingStationMaxProfile", "stackLevel": 0}
    assert await rig.call("ClearChargingProfile", {"chargingProfileCriteria": criteria}) == {"status": "Unknown"}
    assert len(rig.store) == 1


async def test_clearing_the_tx_default_with_a_transaction_returns_to_the_local_limit(rig: Rig) -> None:
    """TC_K_09_CS (K10.FR.07): the composite is 6 A, then no longer 6 A once cleared."""
    rig.block.transaction_started(1, "TX-1", T0)
    await rig.set(1, profile_id=9, periods=[(0, 6.0)])
    ask = {"evseId": 1, "duration": 300, "chargingRateUnit": "A"}
    before = await rig.call("GetCompositeSchedule", ask)
    assert before["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}]
    assert (await rig.call("ClearChargingProfile", {"chargingProfileId": 9}))["status"] == "Accepted"
    after = await rig.call("GetCompositeSchedule", ask)
    assert after["schedule"]["chargingSchedulePeriod"][0]["limit"] != 6.0


async def test_tx_profile_on_all_evses_is_rejected(rig: Rig) -> None:
    """TC_K_11_CS."""
    answer = await rig.set(0, purpose="TxProfile", transaction_id="TX-1")
    assert answer["status"] == "Rejected"


async def test_unsupported_rate_unit_is_rejected(tmp_path: Path) -> None:
    """TC_K_12_CS (K01.FR.26) and TC_K_42_CS (K08.FR.07), on a station configured for A only."""
    rig = Rig(tmp_path / "ocpp.db", Settings(rate_units=("A",)))
    answer = await rig.set(1, unit="W", periods=[(0, 6000.0)])
    assert answer["statusInfo"]["reasonCode"] == "UnsupportedRateUnit"
    composite = await rig.call("GetCompositeSchedule", {"evseId": 0, "duration": 300, "chargingRateUnit": "W"})
    assert composite["status"] == "Rejected" and "schedule" not in composite


async def test_profiles_persist_over_a_reboot(rig: Rig) -> None:
    """TC_K_13_CS (K01.FR.27): the database is closed and opened again."""
    sent = profile_payload(13, duration_s=300, number_phases=3)
    await rig.call("SetChargingProfile", {"evseId": 1, "chargingProfile": sent})
    rig.store.db.close()
    rig.open()
    _, pages = await rig.reports(chargingProfile={"chargingProfileId": [13]})
    assert pages[0]["chargingProfile"] == [sent] and pages[0]["evseId"] == 1


async def test_unknown_evse_is_rejected(rig: Rig) -> None:
    """TC_K_14_CS (K01.FR.28) and TC_K_47_CS (K08.FR.05)."""
    assert (await rig.set(3))["statusInfo"]["reasonCode"] == "UnknownEvse"
    answer = await rig.call("GetCompositeSchedule", {"evseId": 3, "duration": 300})
    assert answer["status"] == "Rejected"


async def test_every_k_call_is_not_supported_while_smart_charging_is_disabled(tmp_path: Path) -> None:
    """TC_K_15_CS (K01.FR.29): CALLERROR NotSupported."""
    rig = Rig(tmp_path / "ocpp.db", Settings(enabled=False))
    for action, payload in (("SetChargingProfile", {"evseId": 1, "chargingProfile": profile_payload()}),
                            ("ClearChargingProfile", {}),
                            ("GetChargingProfiles", {"requestId": 1, "chargingProfile": {}}),
                            ("GetCompositeSchedule", {"evseId": 1, "duration": 60})):
        with pytest.raises(CallError) as caught:
            await rig.call(action, payload)
        assert caught.value.code == "NotSupported"


async def test_recurring_profile_is_accepted(rig: Rig) -> None:
    """TC_K_19_CS."""
    answer = await rig.set(1, kind="Recurring", recurrency="Daily", start=T0)
    assert answer == {"status": "Accepted"}


async def test_valid_from_valid_to_and_start_schedule_show_in_the_composite(rig: Rig) -> None:
    """TC_K_21_CS, TC_K_22_CS, TC_K_23_CS."""
    await rig.set(1, profile_id=1, stack_level=1, periods=[(0, 8.0)], start=T0, valid_from=at(100),
                  valid_to=at(200))
    await rig.set(1, profile_id=2, stack_level=0, periods=[(0, 10.0)], start=at(250), duration_s=30)
    answer = await rig.call("GetCompositeSchedule", {"evseId": 1, "duration": 300, "chargingRateUnit": "A"})
    assert [(p["startPeriod"], p["limit"]) for p in answer["schedule"]["chargingSchedulePeriod"]] == [
        (0, 32.0), (100, 8.0), (200, 32.0), (250, 10.0), (280, 32.0)]


async def test_tx_default_set_during_a_transaction_applies_to_it(rig: Rig) -> None:
    """TC_K_28_CS (K01.FR.32)."""
    rig.block.transaction_started(1, "TX-1", T0)
    await rig.set(1, periods=[(0, 6.0)])
    answer = await rig.call("GetCompositeSchedule", {"evseId": 1, "duration": 300, "chargingRateUnit": "A"})
    assert answer["schedule"]["chargingSchedulePeriod"][0]["limit"] == 6.0


async def _install_spread(rig: Rig) -> None:
    await rig.set(0, profile_id=1, purpose="ChargingStationMaxProfile")
    await rig.set(0, profile_id=2)
    await rig.set(1, profile_id=3, stack_level=0)
    await rig.set(1, profile_id=4, stack_level=1)
    await rig.set(2, profile_id=5, stack_level=1)


async def test_get_charging_profiles_by_evse(rig: Rig) -> None:
    """TC_K_29_CS (evseId 0: station-wide only, K09.FR.05), TC_K_30_CS (evseId > 0, K09.FR.04),
    TC_K_31_CS (no evseId: all, K09.FR.06), TC_K_32_CS (by id, K09.FR.01)."""
    await _install_spread(rig)

    def ids(pages: list[dict[str, Any]]) -> list[int]:
        return sorted(p["id"] for page in pages for p in page["chargingProfile"])

    assert ids((await rig.reports(evseId=0, chargingProfile={}))[1]) == [1, 2]
    assert ids((await rig.reports(evseId=1, chargingProfile={}))[1]) == [3, 4]
    every = (await rig.reports(chargingProfile={}))[1]
    assert ids(every) == [1, 2, 3, 4, 5] and [p["tbc"] for p in every] == [True, True, False]
    assert ids((await rig.reports(chargingProfile={"chargingProfileId": [4, 5]}))[1]) == [4, 5]


async def test_get_charging_profiles_by_criteria(rig: Rig) -> None:
    """TC_K_33_CS (+stackLevel), TC_K_34_CS (+chargingLimitSource), TC_K_35_CS (+purpose), TC_K_36_CS (both)."""
    await _install_spread(rig)

    async def ids(**wanted: Any) -> list[int]:
        answer, pages = await rig.reports(evseId=1, chargingProfile=wanted)
        return sorted(p["id"] for page in pages for p in page["chargingProfile"]) if answer["status"] == (
            "Accepted") else []

    assert await ids(stackLevel=1) == [4]
    assert await ids(chargingLimitSource=["CSO"]) == [3, 4]
    assert await ids(chargingLimitSource=["EMS"]) == []
    assert await ids(chargingProfilePurpose="TxDefaultProfile") == [3, 4]
    assert await ids(chargingProfilePurpose="TxDefaultProfile", stackLevel=0) == [3]


async def test_reports_are_paged(rig: Rig) -> None:
    for profile_id in range(1, 2 * REPORT_PAGE_PROFILES + 2):
        await rig.set(1, profile_id=profile_id, stack_level=profile_id % 9,
                      valid_from=at(profile_id * 1000), valid_to=at(profile_id * 1000 + 500))
    _, pages = await rig.reports(chargingProfile={})
    assert [len(p["chargingProfile"]) for p in pages] == [4, 4, 1]
    assert [p["tbc"] for p in pages] == [True, True, False]


async def test_tx_profile_for_the_running_transaction_is_accepted_and_goes_with_it(rig: Rig) -> None:
    """TC_K_60_CS; the TxProfile is removed when its transaction ends."""
    rig.block.transaction_started(1, "TX-1", T0)
    answer = await rig.set(1, profile_id=60, purpose="TxProfile", transaction_id="TX-1", kind="Relative",
                           number_phases=3)
    assert answer == {"status": "Accepted"}
    assert (await rig.reports(chargingProfile={"chargingProfileId": [60]}))[0] == {"status": "Accepted"}
    rig.block.transaction_ended(1, "TX-1")
    assert len(rig.store) == 0


async def test_remote_start_profile_becomes_the_tx_profile_of_the_transaction(rig: Rig) -> None:
    """TC_K_37_CS (K05.FR.03): stored once the transaction id is known, reported with it."""
    sent = profile_payload(37, purpose="TxProfile", kind="Relative", number_phases=3)
    assert rig.block.remote_start_profile(1, sent) is None
    assert len(rig.store) == 0
    rig.block.transaction_started(1, "TX-37", T0)
    _, pages = await rig.reports(chargingProfile={"chargingProfileId": [37]})
    assert pages[0]["chargingProfile"] == [{**sent, "transactionId": "TX-37"}]


async def test_remote_start_profile_is_ignored_when_smart_charging_is_disabled(tmp_path: Path) -> None:
    """TC_K_38_CS (F01.FR.12)."""
    rig = Rig(tmp_path / "ocpp.db", Settings(enabled=False))
    assert rig.block.remote_start_profile(1, profile_payload(38, purpose="TxProfile", kind="Relative")) is None
    rig.block.transaction_started(1, "TX-38", T0)
    assert len(rig.store) == 0


async def test_invalid_remote_start_profile_gives_the_reason_to_reject_the_start(rig: Rig) -> None:
    status_info = rig.block.remote_start_profile(1, profile_payload(purpose="TxProfile", periods=[(5, 6.0)]))
    assert status_info is not None and status_info["reasonCode"] == "InvalidSchedule"


async def test_composite_without_profiles_and_with_stacks(rig: Rig) -> None:
    """TC_K_39_CS (evseId 0, no profile), TC_K_40_CS (stacking), TC_K_41_CS (purposes), in A and W."""
    empty = await rig.call("GetCompositeSchedule", {"evseId": 0, "duration": 300, "chargingRateUnit": "A"})
    assert empty["status"] == "Accepted"
    assert empty["schedule"]["evseId"] == 0 and empty["schedule"]["duration"] == 300
    assert empty["schedule"]["chargingSchedulePeriod"][0]["startPeriod"] == 0
    await rig.set(1, profile_id=1, stack_level=0, periods=[(0, 6.0), (100, 8.0), (200, 10.0)], duration_s=400,
                  start=T0, valid_from=T0, valid_to=at(401))
    await rig.set(1, profile_id=2, stack_level=1, periods=[(0, 7.0), (100, 9.0)], duration_s=150, start=T0,
                  valid_from=T0, valid_to=at(401))
    rig.clock = at(10)
    answer = await rig.call("GetCompositeSchedule", {"evseId": 1, "duration": 350, "chargingRateUnit": "W"})
    schedule = answer["schedule"]
    assert schedule["chargingRateUnit"] == "W" and schedule["duration"] == 350
    assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
        (0, 7 * 690.0), (90, 9 * 690.0), (140, 8 * 690.0), (190, 10 * 690.0)]


async def test_expired_profiles_are_gone_before_a_request_is_answered(rig: Rig) -> None:
    await rig.set(1, profile_id=1, valid_to=at(60))
    rig.clock = at(61)
    assert (await rig.reports(chargingProfile={}))[0] == {"status": "NoProfiles"}
