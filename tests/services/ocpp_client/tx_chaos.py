"""One property-test example's whole station, built and torn down inside the test body (no fixtures, so one
per hypothesis example): the real broker in a thread, a probe, the development CSMS, a modem stand-in, and
reon-sim, reon-evse-io, reon-meter and reon-ocpp in this event loop — each of the last three closed and
opened again in-process by `restart`. `step` carries out one generated step and awaits its visible effect;
`settle` ends every session and waits until the outbound queue is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from bus.client import BusClient
from bus.envelope import Envelope
from bus.harness import BrokerThread, Probe, remove_run_dir
from bus.rpc import RpcError
from bus.runtime import Service, running
from services.evse_io.service import EvseIoService
from services.meter.service import MeterService
from sim.csms import CsmsCallError, DevCsms
from sim.main import SimService
from station.config import StationConfig
from tests.services.ocpp_client.service_harness import ICCID, IMSI, TestOcppService
from tests.services.ocpp_client.tx_world import CARD, sim_station

WAIT_S = 5.0
DRAIN_S = 10.0  # a message refused just before the end waits MessageAttemptInterval × attempts first
EVSES = (1, 2)
SERVICES: dict[str, type[Service]] = {"sim": SimService, "evse_io": EvseIoService, "meter": MeterService,
                                      "ocpp": TestOcppService}
CARD_REPEAT_S = 2.5  # evse_io's RFID reader drops the same UID seen again within 2 s of its last sighting
REFUSAL = CsmsCallError("InternalError", "the CSMS refuses TransactionEvent for a while")

#: ("plug" | "unplug" | "swipe" | "ev_pause" | "ev_resume" | "session" (plug, swipe), evse), ("wait", samples),
#: ("disconnect",), ("connect",), ("callerror_on",), ("callerror_off",), ("restart", service, world step | None)
Step = tuple[Any, ...]


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
        self._swiped_at = dict.fromkeys(EVSES, -CARD_REPEAT_S)  # monotonic s of the last card seen by evse_io
        self._swiped_unread: set[int] = set()  # EVSEs whose card was presented while evse_io was down
        self.reported: set[str] = set()  # every transaction id the ocpp service published as open
        self._tokens_seen = dict.fromkeys(EVSES, 0)  # evse_io.evt.token events per EVSE
        self._token_arrived = asyncio.Event()

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
        self.probe.subscribe("ocpp.state.transaction.", self._on_transaction_state)
        # one subscription for the whole example: a fresh one can miss an event published at once after it
        self.probe.subscribe("evse_io.evt.token", self._on_token)
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
            # a new reader forgets the cards it saw; one presented while evse_io was down may be read now
            self._swiped_at = {evse: time.monotonic() if evse in self._swiped_unread else -CARD_REPEAT_S
                               for evse in EVSES}
            self._swiped_unread.clear()
        elif name == "meter":
            for evse in EVSES:
                await self.wait_state(f"meter.state.meter.{evse}", lambda b: b["sample"] is not None, session)
        elif name == "ocpp":
            await self.wait_state("ocpp.state.csms", lambda b: b["connected"] and b["registration"] == "Accepted",
                                  session)

    def _on_token(self, topic: str, env: Envelope) -> None:
        self._tokens_seen[env.body["evse"]] += 1
        self._token_arrived.set()

    def _on_transaction_state(self, topic: str, env: Envelope) -> None:
        if env.body["transaction_id"] is not None:
            self.reported.add(env.body["transaction_id"])

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
                await self.step(step[2])
            await self.open(step[1])
        elif action in ("disconnect", "connect"):
            await self.probe.call("ocpp", action, {})
            await self.wait_state("ocpp.state.csms", lambda b: b["connected"] == (action == "connect"),
                                  self.sessions["ocpp"])
        elif action == "session":
            await self._world_action(("plug", step[1]))
            await self._world_action(("swipe", step[1]))
        elif action == "wait":
            await self._samples(step[1])
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
            # evse_io drops the same card seen again within its repeat window: then there is nothing to await
            expect_token = evse_io is not None and time.monotonic() - self._swiped_at[evse] > CARD_REPEAT_S
            self._swiped_at[evse] = time.monotonic()
            if evse_io is None:
                self._swiped_unread.add(evse)
            seen = self._tokens_seen[evse]
            await self.probe.call("sim", "swipe", {"evse": evse, "token": CARD["idToken"]})
            if expect_token:
                async with asyncio.timeout(WAIT_S):
                    while self._tokens_seen[evse] == seen:
                        self._token_arrived.clear()
                        await self._token_arrived.wait()
            return
        try:
            await self.probe.call("sim", action, {"evse": evse})
        except RpcError as exc:
            assert exc.code == "not_plugged", exc  # pause / resume without an EV
            return
        if evse_io is None:
            return
        # a resumed EV draws only while PWM is offered, which a session ending meanwhile takes away: B or C
        cp_wanted = {"unplug": ("A",), "ev_pause": ("B",)}.get(action, ("B", "C"))
        await self.wait_state(f"evse_io.state.evse.{evse}", lambda b: b["cp_state"] in cp_wanted, evse_io)

    async def _samples(self, count: int) -> None:
        """Let the world run for `count` meter samples of EVSE 1 (POLL_S apart)."""
        samples = self.probe.subscribe("meter.evt.sample.1")
        try:
            async with asyncio.timeout(WAIT_S):
                for _ in range(count):
                    await samples.get()
        finally:
            samples.close()

    # ---- the end of an example --------------------------------------------------------------------

    async def settle(self) -> Envelope:
        """CSMS answering and connected, every EV out, in (a transaction opens; an authorization without a
        cable charges) and out again, every transaction ended; then the `ocpp.state.csms` that says the queue is empty,
        published after the last transaction ended. Returns that state."""
        self.refuse(False)
        await self.step(("connect",))
        ocpp = self.sessions["ocpp"]
        for evse in EVSES:  # an EV may still be plugged in after its card ended the transaction: out, in
            await self.step(("unplug", evse))
            await self.step(("plug", evse))
            await self.wait_state(f"ocpp.state.transaction.{evse}", lambda b: b["transaction_id"] is not None, ocpp)
        for evse in EVSES:
            await self.step(("unplug", evse))
        ended = [await self.wait_state(f"ocpp.state.transaction.{evse}", lambda b: b["transaction_id"] is None,
                                       ocpp) for evse in EVSES]
        after = max(env.seq for env in ended)
        _, env = await self.probe.wait_for(
            "ocpp.state.csms", lambda e: e.session == ocpp and e.seq > after and e.body["queue_depth"] == 0,
            DRAIN_S)
        return env
