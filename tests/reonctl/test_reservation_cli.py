"""`reonctl csms reserve` / `cancel-reservation` through the development CSMS's control socket, and
`reonctl status` showing the reserved EVSE, for whom and until when (ocpp service in this event loop)."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner, Result

from reonctl.main import cli
from sim.csms.control import ControlServer
from tests.services.ocpp_client.service_harness import *  # noqa: F403


async def reonctl(station, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli, ["--config", str(station.path), *args])


async def test_reserve_shows_in_status_and_cancel_ends_it(ocpp, csms, station, probe) -> None:
    control = await ControlServer(csms, str(station.paths.run_dir / "csms.sock")).start()
    try:
        result = await reonctl(station, "csms", "reserve", "04A1B2C3", "--evse", "2", "--minutes", "30",
                               "--id", "41")
        assert result.exit_code == 0, result.output
        assert result.output.startswith("reservation 41 for 04A1B2C3 on EVSE 2 until ")
        assert result.output.rstrip().endswith(": Accepted")
        await probe.wait_for("ocpp.state.reservations", lambda e: len(e.body["reservations"]) == 1)
        doc = json.loads((await reonctl(station, "status", "--json")).output)
        reservation = doc["evses"]["2"]["reservation"]
        assert (reservation["id"], reservation["id_token"]) == (41, "04A1B2C3")
        assert reservation["until"].endswith("Z") and doc["evses"]["1"]["reservation"] is None
        text = (await reonctl(station, "status")).output
        assert f"EVSE 2  reserved for 04A1B2C3 until {reservation['until']}  (reservation 41)" in text
        result = await reonctl(station, "csms", "reserve", "0BADCAFE", "--evse", "2")
        assert result.exit_code == 1 and ": Occupied" in result.output  # EVSE 2 is taken
        result = await reonctl(station, "csms", "cancel-reservation", "41")
        assert result.exit_code == 0 and result.output.strip() == "reservation 41: Accepted"
        await probe.wait_for("ocpp.state.reservations", lambda e: e.body["reservations"] == [])
        result = await reonctl(station, "csms", "cancel-reservation", "41")
        assert result.exit_code == 1 and "Rejected" in result.output
    finally:
        await control.stop()
