"""One property-test example's whole station, built and torn down inside the test body (no fixtures, so one
per hypothesis example): the real broker in a thread, a probe, the development CSMS, a modem stand-in, and
reon-sim, reon-evse-io, reon-meter and reon-ocpp in this event loop — each of the last three closed and
opened again in-process by `restart`. `step` carries out one generated step and awaits its visible effect;
`settle` ends every session and waits until the outbound queue is empty.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from bus.client import BusClient
from bus.config import StationConfig
from bus.envelope import Envelope
from bus.harness import BrokerThread, Probe, remove_run_dir
from bus.rpc import RpcError
from bus.runtime import Service, running
from services.evse_io.service import EvseIoService
from services.meter.service import MeterService
from sim.csms import CsmsCallError, DevCsms
from sim.main import SimService
from tests.services.ocpp_client.service_harness import ICCID, IMSI, TestOcppService
from tests.services.ocpp_client.tx_world import CARD, sim_station

WAIT_S = 5.0
EVSES = (1, 2)
SERVICES: dict[str, type[Service]] = {"sim": SimService, "evse_io": EvseIoService, "meter": MeterService,
                                      "ocpp": TestOcppService}
REFUSAL = CsmsCallError("InternalError", "the CSMS refuses TransactionEvent for a while")

Step = tuple[Any, ...]  # ("plug", evse) … ("callerror_on",), ("restart", service, meanwhile step | None)


class ChaosWorld:
    """The station of one example (see the module docstring)."""

    def __init__(self, directory: Path, seeds: str) -> None:
        self.station: StationConfig = sim_station(directory, seeds)
        self.broker = BrokerThread(self.station.paths.run_dir, heartbeat_s=0.2)
        self.probe = Probe(self.station.paths.run_dir)
        self.csms = DevCsms(password=self.station.csms.password, port=self.station.sim.csms_port)
        self.modem = BusClient(self.station.paths.run_dir, "modem")
        self.sessions: dict[str, str] = {}  # service -> bus session of its running instance
        self.refused: list[range] = []  # CSMS message indexes answered with CALLERROR (refusal windows)
        self._refusing_since: int | None = None
        self._running: dict[str, contextlib.AsyncExitStack] = {}

    @property
    def station_id(self) -> str:
        return self.station.station.id

    # ---- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.broker.start()
        await self.probe.start()
        await self.csms.start()
        await self.modem.start()
        await self.modem.publish_state("modem", {"iccid": ICCID, "imsi": IMSI, "imei": "356938035643809",
                                                 "operator": "REWATT Mobile", "registration": "home",
                                                 "signal_dbm": -71, "link": "ok"})
        for name in SERVICES:
            await self.open(name)

    async def close(self) -> None:
        for name in reversed(list(self._running)):
            await self.shut(name)
        await self.modem.close()
        await self.csms.stop()
        await self.probe.close()
        self.broker.stop()
        remove_run_dir(self.station.paths.run_dir)

    async def open(self, name: str) -> None:
        """Start a service in-process and wait until it is up (links read, boot Accepted)."""
        stack = contextlib.AsyncExitStack()
        service = await stack.enter_async_context(running(SERVICES[name], self.station))
        self._running[name] = stack
        session = self.sessions[name] = service.bus.stamper.session
        if name == "evse_io":
            for evse in EVSES:
                await self.wait_state(f"evse_io.state.evse.{evse}", lambda b: b["link_up"], session)
        elif name == "meter":
            for evse in EVSES:
                await self.wait_state(f"meter.state.meter.{evse}", lambda b: b["sample"] is not None, session)
        elif name == "ocpp":
            await self.wait_state("ocpp.state.csms", lambda b: b["connected"] and b["registration"] == "Accepted",
                                  session)

    async def shut(self, name: str) -> None:
        await self._running.pop(name).aclose()

    async def wait_state(self, topic: str, predicate: Any, session: str | None = None) -> Envelope:
        """The first `topic` state (cached one included) of that service instance for which predicate holds."""
        _, env = await self.probe.wait_for(
            topic, lambda e: (session is None or e.session == session) and predicate(e.body), WAIT_S)
        return env

    # ---- steps ------------------------------------------------------------------------------------

    async def step(self, step: Step) -> None:
        """Carry out one step and await what it visibly causes."""
        action = step[0]
        if action == "restart":
            await self.shut(step[1])
            if step[2] is not None:
                await self._world_action(step[2])
            await self.open(step[1])
        elif action in ("disconnect", "connect"):
            await self.probe.call("ocpp", action, {})
            await self.wait_state("ocpp.state.csms", lambda b: b["connected"] == (action == "connect"),
                                  self.sessions["ocpp"])
        elif action == "callerror_on":
            self.refuse(True)
        elif action == "callerror_off":
            self.refuse(False)
        else:
            await self._world_action(step)

    def refuse(self, on: bool) -> None:
        """The CSMS answers TransactionEvent with CALLERROR (on) or normally again; the indexes of the messages
        it receives meanwhile are kept in `refused` (recording and answering happen in one step of the loop)."""
        index = len(self.csms.messages(self.station_id))
        if on and self._refusing_since is None:
            self.csms.set_response("TransactionEvent", REFUSAL)
            self._refusing_since = index
        elif not on and self._refusing_since is not None:
            self.csms.set_response("TransactionEvent", None)
            self.refused.append(range(self._refusing_since, index))
            self._refusing_since = None

    async def _world_action(self, step: Step) -> None:
        """plug / unplug / ev_pause / ev_resume / swipe on reon-sim; while evse_io runs, await its view."""
        action, evse = step[0], step[1]
        evse_io = self.sessions["evse_io"] if "evse_io" in self._running else None
        if action == "swipe":
            tokens = self.probe.subscribe("evse_io.evt.token")
            try:
                await self.probe.call("sim", "swipe", {"evse": evse, "token": CARD["idToken"]})
                if evse_io is not None:
                    async with _timeout():
                        while (await tokens.get())[1].body["evse"] != evse:
                            pass
            finally:
                tokens.close()
            return
        try:
            world = await self.probe.call("sim", action, {"evse": evse})
        except RpcError as exc:
            assert exc.code == "not_plugged", exc  # pause / resume without an EV
            return
        if evse_io is None:
            return
        cp_wanted = {"plug": "BC", "unplug": "A", "ev_pause": "B"}.get(action, world["cp_state"])
        await self.wait_state(f"evse_io.state.evse.{evse}", lambda b: b["cp_state"] in cp_wanted, evse_io)

    # ---- the end of an example --------------------------------------------------------------------

    async def settle(self) -> Envelope:
        """CSMS answering and connected, every EV plugged in (an authorization without a cable then charges)
        and out again, every transaction ended; then the `ocpp.state.csms` that says the queue is empty,
        published after the last transaction ended. Returns that state."""
        self.refuse(False)
        await self.step(("connect",))
        for evse in EVSES:
            await self.step(("plug", evse))
        for evse in EVSES:
            await self.step(("unplug", evse))
        ocpp = self.sessions["ocpp"]
        ended = [await self.wait_state(f"ocpp.state.transaction.{evse}", lambda b: b["transaction_id"] is None,
                                       ocpp) for evse in EVSES]
        after = max(env.seq for env in ended)
        _, env = await self.probe.wait_for(
            "ocpp.state.csms", lambda e: e.session == ocpp and e.seq > after and e.body["queue_depth"] == 0,
            WAIT_S + 3 * self.station.device_model_int("x", 0) if False else 3 * WAIT_S)
        return env


def _timeout() -> Any:
    import asyncio
    return asyncio.timeout(WAIT_S)
