"""reon-ocpp: the station's OCPP 2.0.1 link to the CSMS on the bus (contract.py says what it offers).

The glue splits by functional block, one module each: csms_link (Connection + Rpc from `[csms]`, fed by the
device model), boot (B01–B04, Heartbeat), provisioning (device model requests B05–B08), availability
(ChangeAvailability, StatusNotification), reset, trigger, remote (UnlockConnector, DataTransfer, ClearCache),
firmware (UpdateFirmware, GetLog, the firmware service's status stream), security (A04), queue (the durable
outbound queue). They share one OcppContext (context.py) and one SQLite
database, `<data_dir>/ocpp.db`. The transaction, authorization and meter-value modules (tx_service,
auth_service, meter_service) plug in at `plug_in_transactions`.

Bus in: `modem.state.modem` (ICCID/IMSI for BootNotification and the device model), `evse_io.state.evse.<n>`
(connector status, charging hints), the durable streams `firmware.evt.status` and `evse_io.evt.session`,
`evse_io.evt.token` (cards), `meter.evt.sample.<n>`. Bus out: `ocpp.state.csms`, `ocpp.state.transactions`,
`ocpp.state.transaction.<n>`; commands to evse_io (authorize, stop, set_current_limit, set_availability,
unlock) and firmware (update_firmware, get_log, status). Resets go through supervisord (reset.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bus import runtime
from bus.client import BusClient
from bus.envelope import Envelope
from services.ocpp_client.availability import Availability
from services.ocpp_client.boot import Boot, ModemIdentity, persist_next_reason
from services.ocpp_client.clock import StationClock
from services.ocpp_client.connection import LinkUp
from services.ocpp_client.context import OcppContext
from services.ocpp_client.contract import CONTRACT
from services.ocpp_client.csms_link import CsmsLink
from services.ocpp_client.device_model import DeviceModel
from services.ocpp_client.device_model_catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model_keys import station_seeds
from services.ocpp_client.device_model_values import InvalidValueError
from services.ocpp_client.firmware import FirmwareManagement
from services.ocpp_client.provisioning import Provisioning
from services.ocpp_client.queue import OutboundQueue
from services.ocpp_client.remote import RemoteCommands
from services.ocpp_client.reset import Reset, Restarter, SupervisorRestarter
from services.ocpp_client.security import SecurityEvents
from services.ocpp_client.store import db_path, open_store
from services.ocpp_client.trigger import Trigger
from services.ocpp_client.tx_service import TransactionService
from station.config import StationConfig
from station.host import running_firmware_version

NOMINAL_VOLTAGE_V = 230.0
LAST_MESSAGE_PUBLISH_S = 5.0
LOOP_RESTART_S = 1.0
C = "OCPPCommCtrlr"


def open_device_model(config: StationConfig, firmware: str, clock: StationClock) -> DeviceModel:
    """The device model in ocpp.db: topology from the EVSE tables, seeds from [device_model] and [station]/[csms]."""
    evses = [EvseTopology(evse.id, tuple(ConnectorTopology(c.id, c.type) for c in evse.connectors),
                          supply_phases=evse.phases,
                          max_power_w=evse.max_current_a * NOMINAL_VOLTAGE_V * evse.phases)
             for evse in config.evses]
    station = config.station
    seeds = {**config.device_model, **station_seeds(
        station_id=station.id, serial_number=station.serial_number, model=station.model, vendor=station.vendor,
        firmware_version=firmware, security_profile=config.csms.security_profile,
        basic_auth_password=config.csms.password)}
    return DeviceModel(db_path(config.paths.data_dir), evses, seeds, clock=clock.now)


# Not in the spec's list of security events, which has no entry for a SIM swap; the type is free text (≤ 50)
# and REON reports it as critical (security.CRITICAL_EVENTS).
SIM_CHANGED_EVENT = "SimCardChanged"


class OcppService(runtime.Service):
    """The CSMS link and every OCPP functional block of the station."""

    contract = CONTRACT

    def make_restarter(self) -> Restarter:
        """How resets are carried out (tests replace it)."""
        return SupervisorRestarter(self.config)

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        super().__init__(config, bus)
        self._dirty = asyncio.Event()
        data_dir = config.paths.data_dir
        self.db = open_store(data_dir)
        firmware = running_firmware_version(data_dir, config.station.firmware_version)
        self.clock = StationClock()
        self.dm = open_device_model(config, firmware, self.clock)
        self.link = CsmsLink(config, self.dm, on_up=self._link_changed, on_down=self._link_changed,
                             on_security_event=self._security_event)
        self.queue = OutboundQueue(
            self.db, self.link.rpc.call, on_change=self._state_changed, online=self.link.up.is_set,
            max_attempts=lambda: self.dm.get_int(C, "MessageAttempts", variable_instance="TransactionEvent"),
            attempt_interval_s=lambda: self.dm.get_int(C, "MessageAttemptInterval",
                                                       variable_instance="TransactionEvent"))
        self.security = SecurityEvents(self.queue, self.clock)
        self.ctx = OcppContext(config, self, self.db, self.dm, self.clock, self.link, self.queue, self.security,
                               on_change=self._state_changed)
        self.modem = ModemIdentity(config.modem.enabled)
        self.availability = Availability(self.ctx)
        self.boot = Boot(self.ctx, self.modem, firmware, on_accepted=self._accepted,
                         on_reconnected=self.availability.report_after_offline)
        self.provisioning = Provisioning(self.ctx)
        self.reset = Reset(self.ctx, self.make_restarter())
        self.trigger = Trigger(self.ctx, self.boot, self.availability)
        self.remote = RemoteCommands(self.ctx, self.availability.evse_state)
        self.firmware = FirmwareManagement(self.ctx)
        self.ctx.hooks.on_transactions_changed(self._state_changed)
        self.plug_in_transactions()
        self.ctx.refuse_unhandled()

    def plug_in_transactions(self) -> None:
        """Where the transaction, authorization and meter-value modules plug in (create them here).

        What they get:
        - CSMS CALLs: `self.ctx.register(action, handler)` (SecurityError while Rejected is done for them;
          RequestStart/StopTransaction must answer Rejected unless `ctx.accepted`, B02.FR.08); direct CALLs
          (Authorize, MeterValues): `await ctx.send(action, payload)` (None when skipped or failed).
        - TransactionEvent: `ctx.queue.put_nowait(action, payload, kind="transaction", meta={...},
          droppable=False for Started/Ended, conn=ctx.db)` inside their own SQLite transaction on ctx.db (or
          `await ctx.queue.put(...)`); `ctx.queue.register_kind("transaction", rewrite=lambda m:
          with_offline(m.payload, m.offline), on_delivered=…(m, response, conn), on_dead_letter=…)`;
          `ctx.queue.count_pending("transaction", transaction_id=…)` for GetTransactionStatus.
        - `ctx.dm`, `ctx.db` (ocpp.db: their own tables; keep transactions short, never across an await that
          waits: the device model writes through a second connection), `ctx.clock.now_text()`.
        - evse_io's durable session stream: `DurableConsumer(self.bus, self.db, "evse_io", "session", "ocpp",
          handler)`, started in `start()` (marked); evse_io's EVSE state: `self.availability.evse_state(n)`.
        - meter samples: `self.subscribe("meter.evt.sample.", …)` / `meter.state.meter.<n>`, `meter.read_now`.
        - restarts: `self.boot.start_reason` (PowerUp, RemoteReset, …) and `station.host.os_boot_id()`.
        They fill the fields of `self.ctx.hooks` (hooks.py; do not replace the object), call
        `ctx.hooks.transactions_changed()` when a transaction starts or ends, add their loops to `run()`
        (marked) and declare their bus state in contract.TRANSACTION_STATE.
        tx_service.py (with auth_service.py and meter_service.py) is that module.
        """
        self.transactions = TransactionService(self.ctx, boot=self.boot, evse_available=self._evse_available)

    # ---- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.subscribe("modem.state.modem", self._on_modem)
        self.subscribe("modem.evt.sim_changed", self._on_sim_changed)
        self.subscribe("firmware.state.install_pending", self._on_install_pending)
        self.subscribe("evse_io.state.evse.", self.availability.on_evse_io_state)
        await self.publish_state("csms", self.csms_state())
        await self.publish_state("transactions", self.transactions_state())
        await self.security.report("StartupOfTheDevice", f"boot reason {self.boot.reason}")
        self.reset.resume()
        self.firmware.start()
        await self.transactions.start()  # its durable consumer of evse_io's session stream, before the link
        await self.link.start()

    async def run(self) -> None:
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "boot": self.boot.run, "queue": self.queue.run, "status": self.availability.run,
            "state": self._publish_loop,
            **self.transactions.loops(),
        }
        async with asyncio.TaskGroup() as tasks:
            for name, loop in loops.items():
                tasks.create_task(self._keep_running(name, loop), name=f"ocpp-{name}")

    async def _keep_running(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """A loop that fails is logged and started again after LOOP_RESTART_S: one bad message from the CSMS
        must not take the other blocks down."""
        while True:
            try:
                await loop()
                return
            except Exception:
                self.log.exception("the %s loop failed; starting it again in %g s", name, LOOP_RESTART_S)
                await asyncio.sleep(LOOP_RESTART_S)

    async def stop(self) -> None:
        await self.transactions.stop()
        await self.firmware.stop()
        await self.reset.stop()
        await self.link.stop()
        self.dm.close()
        self.db.close()

    # ---- state ------------------------------------------------------------------------------------

    def csms_state(self) -> dict[str, Any]:
        return {"url": self.link.url, "connected": self.ctx.connected, "held_down": self.link.held_down,
                "registration": self.ctx.registration, "queue_depth": self.queue.depth,
                "dead_letters": self.queue.dead_letter_count, "security_profile": self.link.security_profile,
                "last_message_at": self.link.last_message_at}

    def transactions_state(self) -> dict[str, Any]:
        return {"active": self.ctx.hooks.active_transactions(None)}

    def _state_changed(self) -> None:
        self._dirty.set()

    async def _publish_loop(self) -> None:
        """Publish `csms` and `transactions` when they changed (coalesced; last_message_at every few s)."""
        published: dict[str, Any] = {}
        while True:
            try:
                async with asyncio.timeout(LAST_MESSAGE_PUBLISH_S):
                    await self._dirty.wait()
            except TimeoutError:
                pass
            self._dirty.clear()
            for name, state in (("csms", self.csms_state()), ("transactions", self.transactions_state())):
                if state != published.get(name):
                    await self.publish_state(name, state)
                    published[name] = state

    # ---- callbacks --------------------------------------------------------------------------------

    def _evse_available(self, evse_id: int) -> bool:
        """For RequestStartTransaction: operative at every level, and evse_io reports it neither Faulted nor
        Unavailable."""
        state = self.availability.evse_state(evse_id)
        return self.availability.evse_operative(evse_id) and state is not None \
            and state.get("connector_status") not in ("Faulted", "Unavailable")

    def _link_changed(self, _info: LinkUp | str) -> None:
        self.boot.link_changed()
        self.ctx.update_gate()

    async def _security_event(self, event_type: str, tech_info: str) -> None:
        await self.security.report(event_type, tech_info)

    async def _accepted(self) -> None:
        await self.availability.report_after_boot()
        self.ctx.queue_held = False
        self.ctx.update_gate()
        self.availability.poke()  # a change during the boot report

    async def _on_install_pending(self, topic: str, env: Envelope) -> None:
        body = env.body if isinstance(env.body, dict) else {}
        allow_new = self.dm.get_bool("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")
        self.availability.set_firmware_hold(body.get("pending") is True and not allow_new)

    async def _on_sim_changed(self, topic: str, env: Envelope) -> None:
        """A new SIM is a security event and new boot data: BootNotification again once the modem state has it."""
        body = env.body if isinstance(env.body, dict) else {}
        old, new = str(body.get("old_iccid"))[:20], str(body.get("new_iccid"))[:20]
        self.log.warning("SIM card changed: ICCID %s → %s", old, new)
        await self.ctx.security.report(SIM_CHANGED_EVENT, f"ICCID {old} -> {new}")
        self.boot.data_changed()

    async def _on_modem(self, topic: str, env: Envelope) -> None:
        body = env.body if isinstance(env.body, dict) else {}
        self.modem.update(body)
        for variable, value in (("ICCID", self.modem.iccid), ("IMSI", self.modem.imsi),
                                ("SignalStrength", body.get("signal_dbm"))):
            if value is not None:
                try:
                    self.dm.set("DataLink", variable, value)
                except InvalidValueError as exc:
                    self.log.warning("modem %s %r not taken into the device model: %s", variable, value, exc.message)
        if self.modem.iccid and self.ctx.accepted:
            self.boot.data_changed()  # the sim_changed event may have come before the state that carries the ICCID

    # ---- commands ---------------------------------------------------------------------------------

    async def cmd_disconnect(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.link.disconnect()
        self._state_changed()
        return self.csms_state()

    async def cmd_connect(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.link.connect()
        self._state_changed()
        return self.csms_state()

    async def cmd_dead_letters(self, args: dict[str, Any]) -> dict[str, Any]:
        limit = args.get("limit") or 100
        return {"count": self.queue.dead_letter_count, "dead_letters": self.queue.dead_letters(limit)}

    async def cmd_set_boot_reason(self, args: dict[str, Any]) -> dict[str, Any]:
        persist_next_reason(self.db, args["reason"])
        return {"reason": args["reason"]}


def main() -> int:
    return runtime.main(OcppService)


if __name__ == "__main__":
    sys.exit(main())
