"""reon-ocpp: the station's OCPP 2.0.1 link to the CSMS on the bus (contract.py says what it offers).

A thin assembly of the functional blocks, one sub-package each: link (OCPP-J, RPC, connection, TLS, the
durable outbound queue, the registration gate), device_model, provisioning (boot, variables, reset, trigger,
remote commands), authorization, transactions, availability, reservation, diagnostics (customer information),
meter_values, smart_charging, security, certificates, firmware, monitoring (NotifyEvent, variable monitoring,
DataTransfer REWATT). Each block gets the narrow things it uses (the gate to register CALL handlers and send
CALLs, the queue, the db connection to `<data_dir>/ocpp.db`, the device model, the clock, `Peers` for bus
RPC, `subscribe`); the transactions block is handed to availability, reset, trigger and remote as a
`TransactionActivity` (transactions/activity.py).

Bus in: `modem.state.modem` (ICCID/IMSI for BootNotification and the device model), `evse_io.state.evse.<n>`
(connector status, charging hints), the durable streams `firmware.evt.status` and `evse_io.evt.session`,
`evse_io.evt.token` (cards), `meter.evt.sample.<n>`, `meter.state.meter.<n>` and `bus.state.services`
(monitoring: problems, EVSE.Power, the REWATT health summary). Bus out: `ocpp.state.csms`,
`ocpp.state.transactions`, `ocpp.state.transaction.<n>`, `ocpp.state.reservations`; commands to evse_io
(authorize, stop, set_current_limit, set_availability, unlock, reserve) and firmware (update_firmware, get_log,
status). Resets go through supervisord (provisioning/reset.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bus import runtime
from bus.client import BusClient
from bus.envelope import Envelope
from bus.rpc import RpcError
from services.ocpp_client.availability.status import Availability
from services.ocpp_client.availability.switch import AvailabilitySwitch
from services.ocpp_client.certificates.block import Certificates
from services.ocpp_client.clock import StationClock
from services.ocpp_client.contract import CONTRACT
from services.ocpp_client.device_model.keys import DeviceModelKeyError
from services.ocpp_client.device_model.values import InvalidValueError
from services.ocpp_client.diagnostics.station_records import customer_information, station_records
from services.ocpp_client.firmware.management import FirmwareManagement
from services.ocpp_client.link.connection import LinkUp
from services.ocpp_client.link.csms_link import CsmsLink
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.monitoring.glue import MonitoringGlue
from services.ocpp_client.peers import Connectors, Peers
from services.ocpp_client.provisioning.boot import Boot, ModemIdentity, persist_next_reason
from services.ocpp_client.provisioning.remote import RemoteCommands
from services.ocpp_client.provisioning.reset import Reset, Restarter, SupervisorRestarter
from services.ocpp_client.provisioning.station_file import config_key, open_device_model
from services.ocpp_client.provisioning.trigger import Trigger
from services.ocpp_client.provisioning.variables import Provisioning
from services.ocpp_client.reservation.block import ReservationBlock
from services.ocpp_client.security.events import SecurityEvents
from services.ocpp_client.smart_charging.service import SmartChargingService
from services.ocpp_client.store import open_store
from services.ocpp_client.transactions.service import TransactionService
from station import health
from station.config import ConfigError, StationConfig
from station.host import os_boot_id, running_firmware_version

MAX_DEAD_LETTERS_LISTED = 10_000
LAST_MESSAGE_PUBLISH_S = 5.0
LOOP_RESTART_S = 1.0
C = "OCPPCommCtrlr"


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
        """Assemble the blocks; each gets the narrow things it uses (docs/architecture.md says how)."""
        super().__init__(config, bus)
        self._dirty = asyncio.Event()
        data_dir = config.paths.data_dir
        self.db = open_store(data_dir)
        firmware = running_firmware_version(data_dir, config.station.firmware_version)
        self.clock = StationClock()
        try:
            self.dm = open_device_model(config, firmware, self.clock)
        except DeviceModelKeyError as exc:
            self.db.close()
            raise ConfigError(config_key(exc.key), exc.problem) from None
        self.certificates = Certificates(
            self.db, data_dir, self.dm, self.clock.now, csms=config.csms,
            manufacturer_root=config.firmware.manufacturer_root, station_id=config.station.id,
            serial_number=config.station.serial_number, report_event=self._security_event)
        self.link = CsmsLink(config, self.dm, on_up=self._link_changed, on_down=self._link_changed,
                             on_security_event=self._security_event, plan=self.certificates.plan)
        self.queue = OutboundQueue(
            self.db, self.link.rpc.call, on_change=self._state_changed, online=self.link.up.is_set,
            max_attempts=lambda: self.dm.get_int(C, "MessageAttempts", variable_instance="TransactionEvent"),
            attempt_interval_s=lambda: self.dm.get_int(C, "MessageAttemptInterval",
                                                       variable_instance="TransactionEvent"))
        self.gate = CallGate(self.link.rpc, self.queue, self.link.up.is_set, on_change=self._state_changed)
        self.security = SecurityEvents(self.queue, self.clock)
        connectors = Connectors.of(config.evses)
        peers = Peers(config.paths.run_dir, self.call)
        self.modem = ModemIdentity(config.modem.enabled)
        self.boot = Boot(self.db, self.dm, self.clock, self.gate, self.link, self.security, config.station,
                         self.modem, firmware, on_accepted=self._accepted, on_reconnected=self._reconnected)
        self.transactions = TransactionService(
            db=self.db, dm=self.dm, clock=self.clock, gate=self.gate, queue=self.queue, bus=bus, peers=peers,
            evses={evse.id: evse.connectors[0].id if evse.connectors else 1 for evse in config.evses},
            subscribe=self.subscribe, publish_state=self.publish_state, boot_id=os_boot_id(),
            start_reason=self.boot.start_reason, evse_available=self._evse_available,
            room_for_records=lambda: health.check_disk(data_dir))
        self.availability = Availability(self.db, self.dm, self.clock, self.gate, connectors, peers,
                                         self.transactions)
        self.transactions.use_status_order(self.availability)  # status changes before the events (E02/E03)
        self.provisioning = Provisioning(self.dm, self.gate, self.link.apply_pending_password)
        self.switch = AvailabilitySwitch(self.dm, self.gate, self.provisioning.set_variables,
                                         self.availability.change_availability, self.availability.evse_level_operative,
                                         connectors.evse_ids)
        self.reservation = ReservationBlock(
            self.db, self.dm, self.clock, self.gate, self.queue,
            {evse.id: [c.type for c in evse.connectors] for evse in config.evses},
            self.availability.reservation_status)
        self.reservation.on_change(self.availability.reservations_changed)
        self.reservation.on_change(self._state_changed)
        self.availability.use_reservations(self.reservation.reservations.reserved,
                                           self.reservation.reservations.evse_changed)
        self.transactions.use_reservations(self.reservation.reservations)
        self.customer_information = customer_information(self.gate.register, self.gate.send, self.clock.now,
                                                         station_records(self.transactions.auth.authorizer.store,
                                                                         self.transactions.tx.core.store, self.queue,
                                                                         self.reservation.reservations,
                                                                         connectors.evse_ids))
        self.reset = Reset(self.db, self.dm, self.gate, self.queue, self.security, connectors, self.transactions,
                           self.make_restarter())
        self.trigger = Trigger(self.gate, connectors, peers, self.boot, self.availability, self.transactions,
                               self.transactions.meter, sign_certificate=self.certificates.trigger)
        self.certificates.register(self.gate.register, self.gate.send, lambda: self.gate.accepted)
        self.remote = RemoteCommands(self.dm, self.gate, connectors, peers, self.transactions,
                                     self.transactions.auth, self.availability.evse_state)
        self.firmware = FirmwareManagement(bus, self.db, self.gate, self.queue, self.security, peers,
                                           manufacturer_roots=self.certificates.manufacturer_roots)
        station = config.station
        self.monitoring = MonitoringGlue(
            db=self.db, dm=self.dm, clock=self.clock, gate=self.gate, queue=self.queue,
            topology={evse.id: [c.id for c in evse.connectors] for evse in config.evses},
            has_modem=config.modem.enabled, subscribe=self.subscribe, register_vendor=self.remote.register_vendor,
            station={"id": station.id, "serial_number": station.serial_number, "model": station.model,
                     "vendor": station.vendor, "firmware_version": firmware},
            transaction_of=self._transaction_id, csms_state=self.csms_state)
        self.smart_charging = SmartChargingService(db=self.db, dm=self.dm, clock=self.clock, gate=self.gate,
                                                   peers=peers, evses=config.evses, transactions=self.transactions,
                                                   subscribe=self.subscribe,
                                                   grid_limit_a=config.station.grid_limit_a)
        self.transactions.on_change(self._state_changed)
        self.gate.refuse_unhandled()

    # ---- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.subscribe("modem.state.modem", self._on_modem)
        self.subscribe("modem.evt.sim_changed", self._on_sim_changed)
        self.subscribe("firmware.state.install_pending", self._on_install_pending)
        self.subscribe("evse_io.evt.session", self.availability.on_session_fact)  # before the state it changes
        self.subscribe("evse_io.state.evse.", self.availability.on_evse_io_state)
        await self.publish_state("csms", self.csms_state())
        await self.publish_state("transactions", self.transactions_state())
        await self.publish_state("reservations", self.reservation.state())
        await self.security.report("StartupOfTheDevice", f"boot reason {self.boot.reason}")
        self.reset.resume()
        self.firmware.start()
        self.monitoring.start()
        self.smart_charging.start()
        await self.transactions.start()  # its durable consumer of evse_io's session stream, before the link
        await self.link.start()

    async def run(self) -> None:
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "boot": self.boot.run, "queue": self.queue.run, "status": self.availability.run,
            "state": self._publish_loop, "certificates": self.certificates.run,
            **self.transactions.loops(), **self.monitoring.loops(), **self.reservation.loops(),
            **self.smart_charging.loops(),
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
        return {"url": self.link.url, "connected": self.gate.connected, "held_down": self.link.held_down,
                "registration": self.gate.registration, "queue_depth": self.queue.depth,
                "dead_letters": self.queue.dead_letter_count, "security_profile": self.link.security_profile,
                "last_message_at": self.link.last_message_at, "link": self._link_stats()}

    def _link_stats(self) -> dict[str, Any]:
        connection = self.link.connection.stats
        return {**self.link.rpc.stats.snapshot(), "reconnects": max(connection.connects - 1, 0),
                "failed_attempts": connection.failed_attempts}

    def transactions_state(self) -> dict[str, Any]:
        return {"active": self.transactions.active_transactions(None), **self.transactions.counts.snapshot()}

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
            for name, state in (("csms", self.csms_state()), ("transactions", self.transactions_state()),
                                ("reservations", self.reservation.state())):
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

    def _transaction_id(self, evse_id: int | None) -> str | None:
        """The transaction running on that EVSE (for NotifyEvent eventData.transactionId)."""
        if evse_id is None or evse_id not in {evse.id for evse in self.config.evses}:
            return None
        return self.transactions.state_of(evse_id)["transaction_id"]

    async def _reconnected(self, offline_s: float) -> None:
        await self.availability.report_after_offline(offline_s)

    def _link_changed(self, _info: LinkUp | str) -> None:
        self.boot.link_changed()
        self.gate.update_gate()

    async def _security_event(self, event_type: str, tech_info: str) -> None:
        await self.security.report(event_type, tech_info)

    async def _accepted(self) -> None:
        await self.availability.report_after_boot()
        self.gate.queue_held = False
        self.gate.update_gate()
        self.availability.poke()  # a change during the boot report
        self.reservation.reservations.poke()  # the clock may have been set: expiry timer again

    async def _on_install_pending(self, topic: str, env: Envelope) -> None:
        body = env.body if isinstance(env.body, dict) else {}
        allow_new = self.dm.get_bool("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")
        self.availability.set_firmware_hold(body.get("pending") is True and not allow_new)

    async def _on_sim_changed(self, topic: str, env: Envelope) -> None:
        """A new SIM is a security event and new boot data: BootNotification again once the modem state has it."""
        body = env.body if isinstance(env.body, dict) else {}
        old, new = str(body.get("old_iccid"))[:20], str(body.get("new_iccid"))[:20]
        self.log.warning("SIM card changed: ICCID %s → %s", old, new)
        await self.security.report(SIM_CHANGED_EVENT, f"ICCID {old} -> {new}")
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
        if self.modem.iccid and self.gate.accepted:
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
        limit = min(max(int(args.get("limit") or 100), 1), MAX_DEAD_LETTERS_LISTED)
        return {"count": self.queue.dead_letter_count, "dead_letters": self.queue.dead_letters(limit)}

    async def cmd_certificates(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"certificates": self.certificates.installed()}

    async def cmd_profiles(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.smart_charging.profiles(args.get("evse"))
        except ValueError as exc:
            raise RpcError("unknown_evse", str(exc)) from None

    async def cmd_set_boot_reason(self, args: dict[str, Any]) -> dict[str, Any]:
        persist_next_reason(self.db, args["reason"])
        return {"reason": args["reason"]}


def main() -> int:
    return runtime.main(OcppService)


if __name__ == "__main__":
    sys.exit(main())
