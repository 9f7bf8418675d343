"""Smart charging end to end: the development CSMS sends charging profiles to the ocpp service, which drives the
REAL evse_io; the PWM duty is read back from the simulated MCU boards on their pseudo-terminals (reon-sim's
`evse.<n>` state: what the board decoded from the wire). evse_io's 5 s raise rule is shortened (it is tested
on its own in tests/services/evse_io/test_charging.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus.harness import Probe, remove_run_dir
from services.evse_io import charging_decisions
from sim.csms import DevCsms
from station.config import StationConfig
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import (
    CARD,
    SEEDS,
    WAIT_S,
    Drive,
    booted,
    sim_station,
    start_ocpp,
    wait_call,
)

SOURCE = {"source": "smart_charging"}
SEEDS_OFFERED = SEEDS + '"SampledDataCtrlr.TxUpdatedMeasurands" = "Energy.Active.Import.Register,Current.Offered"\n'


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationConfig]:
    config = sim_station(tmp_path, SEEDS_OFFERED)
    yield config
    remove_run_dir(config.paths.run_dir)


@pytest.fixture(autouse=True)
def fast_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charging_decisions, "DUTY_RAISE_INTERVAL_S", 0.0)


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile(profile_id: int, purpose: str, periods: list[tuple[float, float]], *, stack_level: int = 0,
            transaction_id: str | None = None, start: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute" if start else "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": int(s), "limit": limit} for s, limit in periods]}]}
    if start:
        body["chargingSchedule"][0]["startSchedule"] = utc(start)
    if transaction_id:
        body["transactionId"] = transaction_id
    return body


async def set_profile(csms: DevCsms, station: StationConfig, evse_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return await csms.call(station.station.id, "SetChargingProfile", {"evseId": evse_id, "chargingProfile": body})


async def pwm_offers(probe: Probe, evse_id: int, current_a: float) -> dict[str, Any]:
    """The simulated MCU board decoded a PWM duty that offers `current_a` (0: no PWM)."""
    _, env = await probe.wait_for(f"sim.state.evse.{evse_id}",
                                  lambda e: abs(e.body["offered_current_a"] - current_a) < 0.15, WAIT_S)
    return env.body


async def evse_limit(probe: Probe, evse_id: int, predicate: Any) -> dict[str, Any]:
    _, env = await probe.wait_for(f"evse_io.state.evse.{evse_id}", lambda e: predicate(e.body), WAIT_S)
    return env.body


async def test_tx_profile_32_10_16_a_the_pwm_follows_each_period_boundary_k01_k10(
        ocpp, csms, station, drive: Drive, probe) -> None:
    """K01 TxProfile, Absolute periods 2 s apart: the duty on the MCU wire follows at each boundary with no
    message in between; evse_io names the source; Current.Offered reports it; ClearChargingProfile (K10) lifts it."""
    transaction_id = await drive.charging(1)
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    body = profile(1, "TxProfile", [(0, 32.0), (2, 10.0), (4, 16.0)], transaction_id=transaction_id, start=start)
    since = drive.mark()
    assert await set_profile(csms, station, 1, body) == {"status": "Accepted"}
    await pwm_offers(probe, 1, 10.0)
    state = await evse_limit(probe, 1, lambda b: b["current_limit_a"] == 10.0)
    assert state["current_limit_source"] == {**SOURCE, "purpose": "TxProfile", "profile_id": 1}
    await pwm_offers(probe, 1, 16.0)
    event = await drive.event(lambda e: any(v["measurand"] == "Current.Offered" and abs(v["value"] - 16.0) < 0.15
                                            for mv in e.get("meterValue", []) for v in mv["sampledValue"]),
                              since, timeout=WAIT_S)
    assert event["transactionInfo"]["transactionId"] == transaction_id
    assert await csms.call(station.station.id, "ClearChargingProfile", {"chargingProfileId": 1}) == {
        "status": "Accepted"}
    await evse_limit(probe, 1, lambda b: "smart_charging" not in (b["current_limits"] or {}))
    await pwm_offers(probe, 1, 32.0)
    assert await csms.call(station.station.id, "ClearChargingProfile", {"chargingProfileId": 1}) == {
        "status": "Unknown"}


async def test_two_evses_share_a_32_a_station_cap_and_one_gets_it_all_back_when_the_other_leaves(
        ocpp, csms, station, drive: Drive, probe) -> None:
    cap = profile(9, "ChargingStationMaxProfile", [(0, 32.0)], start=datetime.now(UTC) - timedelta(hours=1))
    assert await set_profile(csms, station, 0, cap) == {"status": "Accepted"}
    await drive.charging(1)
    await pwm_offers(probe, 1, 32.0)
    await drive.plug(2)
    await drive.swipe(evse=2)  # held at 0 A until re-balanced, then both get half
    await pwm_offers(probe, 2, 16.0)
    await pwm_offers(probe, 1, 16.0)
    state = await evse_limit(probe, 2, lambda b: b["current_limit_a"] == 16.0)
    assert state["current_limit_source"] == {**SOURCE, "purpose": "LoadManagement", "profile_id": 9}
    await drive.unplug(2)
    await pwm_offers(probe, 1, 32.0)


async def test_request_start_transaction_with_a_tx_profile_limits_that_transaction_tc_k_37(
        ocpp, csms, station, drive: Drive, probe) -> None:
    """F01/K05: the chargingProfile becomes the TxProfile of the transaction the remote start opens."""
    since = drive.mark()
    answer = await csms.call(station.station.id, "RequestStartTransaction", {
        "idToken": CARD, "remoteStartId": 7, "evseId": 1, "chargingProfile": profile(5, "TxProfile", [(0, 10.0)])})
    assert answer["status"] == "Accepted"
    await drive.plug(1)
    started = await drive.event(lambda e: e["eventType"] == "Started", since)
    await pwm_offers(probe, 1, 10.0)
    reply = await csms.call(station.station.id, "GetCompositeSchedule", {"evseId": 1, "duration": 600})
    assert reply["status"] == "Accepted"
    assert reply["schedule"]["chargingSchedulePeriod"][0]["limit"] == 10.0
    report_from = drive.mark()
    assert (await csms.call(station.station.id, "GetChargingProfiles", {
        "requestId": 3, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}}))["status"] == "Accepted"
    report = await wait_call(csms, station, "ReportChargingProfiles", since=report_from)
    assert [p["transactionId"] for p in report.payload["chargingProfile"]] == [
        started["transactionInfo"]["transactionId"]]
    await drive.unplug(1)  # the transaction ends, its TxProfile goes with it
    await evse_limit(probe, 1, lambda b: "smart_charging" not in (b["current_limits"] or {}))
    assert (await csms.call(station.station.id, "GetChargingProfiles", {"requestId": 4, "chargingProfile": {}})
            )["status"] == "NoProfiles"


async def test_request_start_transaction_with_a_bad_profile_is_rejected_with_its_reason(ocpp, csms, station) -> None:
    answer = await csms.call(station.station.id, "RequestStartTransaction", {
        "idToken": CARD, "remoteStartId": 8, "evseId": 1,
        "chargingProfile": profile(6, "TxDefaultProfile", [(0, 10.0)])})
    assert answer["status"] == "Rejected"
    assert answer["statusInfo"]["reasonCode"] == "InvalidProfile"


async def test_request_start_profile_is_ignored_while_smart_charging_is_disabled_tc_k_38(
        ocpp, csms, station, drive: Drive, probe) -> None:
    """F01.FR.12: with SmartChargingCtrlr.Enabled false the profile is ignored, K CALLs refused."""
    set_result = await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
    assert set_result["setVariableResult"][0]["attributeStatus"] == "Accepted"
    answer = await csms.call(station.station.id, "RequestStartTransaction", {
        "idToken": CARD, "remoteStartId": 9, "evseId": 1, "chargingProfile": profile(5, "TxProfile", [(0, 10.0)])})
    assert answer["status"] == "Accepted"
    await drive.plug(1)
    await pwm_offers(probe, 1, 32.0)


async def test_composite_schedule_of_an_unknown_evse_is_rejected_and_entries_counts_profiles_k08(
        ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "GetCompositeSchedule", {"evseId": 9, "duration": 60})
    assert reply["status"] == "Rejected" and reply["statusInfo"]["reasonCode"] == "UnknownEvse"
    assert await set_profile(csms, station, 2, profile(3, "TxDefaultProfile", [(0, 20.0)],
                                                       start=datetime.now(UTC))) == {"status": "Accepted"}
    got = await csms.call(station.station.id, "GetVariables", {"getVariableData": [
        {"component": {"name": "SmartChargingCtrlr"},
         "variable": {"name": "Entries", "instance": "ChargingProfiles"}}]})
    assert got["getVariableResult"][0]["attributeValue"] == "1"


async def test_profiles_survive_a_restart_of_the_ocpp_service_and_apply_while_offline_k06_k07(
        station, csms, world, modem, probe, drive: Drive) -> None:
    """A TxDefaultProfile set online is in ocpp.db; the service restarts without a CSMS (refused password) and
    the limit is on the wire again (evse_io had lost it meanwhile); `profiles` shows it."""
    async with start_ocpp(station):
        await booted(csms, station, probe)
        body = profile(4, "TxDefaultProfile", [(0, 12.0)], start=datetime.now(UTC) - timedelta(minutes=1))
        assert await set_profile(csms, station, 1, body) == {"status": "Accepted"}
        await drive.charging(1)
        await pwm_offers(probe, 1, 12.0)
    csms.set_password("not-the-station-password")
    await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": None, "source": "smart_charging"})
    await pwm_offers(probe, 1, 32.0)
    async with start_ocpp(station):
        await pwm_offers(probe, 1, 12.0)
        state = await evse_limit(probe, 1, lambda b: b["current_limit_a"] == 12.0)
        assert state["current_limit_source"] == {**SOURCE, "purpose": "TxDefaultProfile", "profile_id": 4}
        shown = await probe.call("ocpp", "profiles", {"evse": 1})
        assert [p["id"] for p in shown["evses"][0]["profiles"]] == [4]
        async with asyncio.timeout(WAIT_S):  # the limiter records the limit once evse_io's reply is in, which
            while shown["evses"][0]["limit"] is None:  # may come after evse_io's state reached the probe
                shown = await probe.call("ocpp", "profiles", {"evse": 1})
        assert shown["evses"][0]["limit"]["current_a"] == 12.0
        assert shown["evses"][0]["composite"]["chargingSchedulePeriod"][0]["limit"] == 12.0
