"""`reonctl ocpp …` and `reonctl csms …` through click's runner (in a thread) against the ocpp service and the
development CSMS running in this event loop."""

from __future__ import annotations

import asyncio
import json
import re

from click.testing import CliRunner, Result

from reonctl.main import cli
from sim.csms import CsmsCallError
from sim.csms.control import ControlServer
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import calls, mark, wait_call


async def reonctl(station, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli, ["--config", str(station.path), *args])


async def test_disconnect_and_connect_print_the_link(ocpp, station, probe) -> None:
    result = await reonctl(station, "ocpp", "disconnect")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"CSMS ws://127.0.0.1:{station.sim.csms_port}/{station.station.id}: held down")
    result = await reonctl(station, "ocpp", "connect")
    assert result.exit_code == 0 and "registration Accepted" in result.output
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["connected"])


async def test_dead_letters_are_listed(ocpp, csms, probe, station) -> None:
    csms.set_response("SecurityEventNotification", CsmsCallError("InternalError", "full"))
    await ocpp.queue.put("SecurityEventNotification", {"type": "TamperDetectionActivated",
                                                       "timestamp": "2024-05-01T12:00:00.000Z"}, kind="security")
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["dead_letters"] == 1)
    result = await reonctl(station, "ocpp", "dead-letters")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "1 dead letter(s)" and "SecurityEventNotification (security)" in lines[1]
    assert "after 3 attempt(s)" in lines[1] and "full" in lines[1]
    doc = json.loads((await reonctl(station, "ocpp", "dead-letters", "--json")).output)
    assert doc["dead_letters"][0]["payload"]["type"] == "TamperDetectionActivated"


async def test_ocpp_commands_of_a_station_not_running_exit_1(station) -> None:
    result = await reonctl(station, "ocpp", "connect")
    assert result.exit_code == 1 and "reon-ocpp is not running" in result.output


async def test_csms_call_and_messages_through_the_control_socket(ocpp, csms, station) -> None:
    control = await ControlServer(csms, str(station.paths.run_dir / "csms.sock")).start()
    try:
        since = mark(csms, station)
        result = await reonctl(station, "csms", "call", "TriggerMessage", '{"requestedMessage": "Heartbeat"}')
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"status": "Accepted"}
        await wait_call(csms, station, "Heartbeat", since=since)
        result = await reonctl(station, "csms", "messages", "Heartbeat")
        assert result.exit_code == 0 and " call   Heartbeat {}" in result.output
        result = await reonctl(station, "csms", "call", "Reset", '{"type": "Sometime"}')
        assert result.exit_code == 1 and "Reset request breaks the schema" in result.output
        result = await reonctl(station, "csms", "call", "--no-validate", "Reset", '{"type": "Sometime"}')
        assert result.exit_code == 1 and "PropertyConstraintViolation" in result.output  # the station's answer
        result = await reonctl(station, "csms", "stations")
        assert result.output.strip() == station.station.id
        assert calls(csms, station, "Heartbeat", since)
    finally:
        await control.stop()


async def test_csms_commands_without_the_dev_csms_exit_1(station) -> None:
    result = await reonctl(station, "csms", "messages")
    assert result.exit_code == 1 and "development CSMS is not running" in result.output


async def test_certs_lists_type_subject_issuer_and_expiry(ocpp, csms, station) -> None:
    """`reonctl certs`: a root the CSMS installed, with its subject, issuer and expiry."""
    from tests.services.ocpp_client.certificates.pki_tools import issue

    root = issue("REON test manufacturer root")
    reply = await csms.call(station.station.id, "InstallCertificate",
                            {"certificateType": "ManufacturerRootCertificate", "certificate": root.pem})
    assert reply["status"] == "Accepted"
    result = await reonctl(station, "certs")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "1 certificate(s)" and lines[1] == "ManufacturerRootCertificate"
    assert lines[2].endswith("CN=REON test manufacturer root") and lines[3].endswith("CN=REON test manufacturer root")
    assert lines[4] == f"  expires {root.cert.not_valid_after_utc.isoformat()}"
    doc = json.loads((await reonctl(station, "certs", "--json")).output)
    assert doc[0]["type"] == "ManufacturerRootCertificate" and doc[0]["state"] == "active"


async def test_csms_profile_sends_a_profile_and_ocpp_profiles_shows_it_with_the_composite(
        ocpp, csms, station, evse_io) -> None:
    control = await ControlServer(csms, str(station.paths.run_dir / "csms.sock")).start()
    try:
        result = await reonctl(station, "csms", "profile", "1", "0:16,3600:10", "--id", "7")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"status": "Accepted"}
        result = await reonctl(station, "csms", "profile", "1", "0:-3")  # a negative limit: nothing stored
        assert result.exit_code == 0 and json.loads(result.output)["status"] == "Rejected"
        await ocpp.smart_charging.block.limiter.update()  # the limiter task may not have run yet
        result = await reonctl(station, "ocpp", "profiles", "1")
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "EVSE 1: 16 A (TxDefaultProfile #7)"
        assert lines[1] == "  #7 TxDefaultProfile stack 0 Absolute"
        assert re.search(r": \+0s 16 A, \+(3599|3600)s 10 A$", lines[2]), lines[2]  # from now, to the second
        assert ("set_current_limit", {"evse": 1, "amps": 16.0, "source": "smart_charging",
                                      "origin": {"purpose": "TxDefaultProfile", "profile_id": 7}}) in evse_io.calls
        result = await reonctl(station, "ocpp", "profiles", "9")
        assert result.exit_code == 1 and "EVSE 9 does not exist" in result.output
        result = await reonctl(station, "csms", "clear-profile", "7")
        assert json.loads(result.output) == {"status": "Accepted"}
    finally:
        await control.stop()
