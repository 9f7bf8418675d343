"""Boot (B01–B04) and Heartbeat: the registration of the station at the CSMS.

- BootNotification carries model/vendorName/serialNumber from `[station]`, firmwareVersion from
  `<data_dir>/firmware_version` when the firmware service wrote one (else `[station]`), and `modem {iccid,
  imsi}` from the modem's cached bus state (waited for at most MODEM_WAIT_S at the first boot; no modem: no
  field). The reason is the one persisted for this start (`set_boot_reason`, a reset) or PowerUp; it is
  consumed once that boot is Accepted.
- Accepted: clock set from currentTime, HeartbeatInterval from `interval` (when > 0), `on_accepted` (status of
  every connector, queue opens), then a Heartbeat every HeartbeatInterval.
- Pending / Rejected: the next BootNotification after `interval` (0: HeartbeatInterval), nothing else is
  sent (link/gate.py gates CSMS CALLs: SecurityError while Rejected). A TriggerMessage BootNotification in
  Pending sends one at once, reason Triggered (F06.FR.17).
- A reconnect sends no new BootNotification unless the boot data changed since the last Accepted one (e.g. the
  modem's ICCID arrived); then the reason is Unknown. Otherwise `on_reconnected(offline_s)` (B04).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from services.ocpp_client.clock import TIME_ADJUSTMENT_REPORTING_THRESHOLD_S, StationClock
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.device_model.values import InvalidValueError
from services.ocpp_client.link.csms_link import CsmsLink
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.rpc_errors import CallError, CallTimeout, NotConnected
from services.ocpp_client.security.events import SecurityEvents
from services.ocpp_client.store import kv_get, kv_set

log = logging.getLogger("reon.ocpp.boot")

MODEM_WAIT_S = 3.0
NEXT_REASON_KEY = "next_boot_reason"
ACCEPTED_DATA_KEY = "accepted_boot_data"
C = "OCPPCommCtrlr"


class StationSection(Protocol):
    """What the boot data takes from the config's [station]."""

    model: str
    vendor: str
    serial_number: str


class ModemIdentity:
    """ICCID and IMSI from `modem.state.modem` (kept up to date by the service's subscription)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.iccid: str | None = None
        self.imsi: str | None = None
        self.seen = asyncio.Event()

    def update(self, body: dict[str, Any]) -> None:
        self.iccid = _text(body.get("iccid"), 20)
        self.imsi = _text(body.get("imsi"), 20)
        self.seen.set()

    async def wait(self, timeout_s: float) -> None:
        if self.enabled and not self.seen.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self.seen.wait()

    def field(self) -> dict[str, str] | None:
        modem = {key: value for key, value in (("iccid", self.iccid), ("imsi", self.imsi)) if value}
        return modem or None


def _text(value: Any, max_len: int) -> str | None:
    return str(value)[:max_len] if isinstance(value, (str, int)) and str(value) else None


class Boot:
    """The BootNotification / Heartbeat loop (one task)."""

    def __init__(self, db: sqlite3.Connection, dm: DeviceModel, clock: StationClock, gate: CallGate,
                 link: CsmsLink, security: SecurityEvents, station: StationSection, modem: ModemIdentity,
                 firmware: str, *, on_accepted: Callable[[], Awaitable[None]],
                 on_reconnected: Callable[[float], Awaitable[None]]) -> None:
        """`station`: the config's [station] (model, vendor, serial number for the boot data)."""
        self.db = db
        self.dm = dm
        self.clock = clock
        self.gate = gate
        self.link = link
        self.security = security
        self.station = station
        self.modem = modem
        self.firmware = firmware
        self._on_accepted = on_accepted
        self._on_reconnected = on_reconnected
        self.reason: str = kv_get(db, NEXT_REASON_KEY, "PowerUp")
        #: Why this process started (the transaction module tells a power loss from a requested restart by it).
        self.start_reason = self.reason
        self._wake = asyncio.Event()
        self._triggered = False
        self._next_boot_at = 0.0  # monotonic; Pending/Rejected wait until then
        self._first = True
        self._recheck = False
        dm.on_change(C, "HeartbeatInterval", lambda _change: self._wake.set())

    # ---- triggers ---------------------------------------------------------------------------------

    def trigger(self) -> None:
        """TriggerMessage BootNotification (not Accepted yet): send one now, reason Triggered."""
        self._triggered = True
        self._wake.set()

    def link_changed(self) -> None:
        self._wake.set()

    def data_changed(self) -> None:
        """The boot data may have changed while connected (a new SIM): BootNotification again if it did."""
        self._recheck = True
        self._wake.set()

    async def heartbeat(self) -> dict[str, Any] | None:
        """Send a Heartbeat now; the reply sets the clock."""
        response = await self.gate.send("Heartbeat", {}, in_pending=True)
        if response is not None:
            await self._set_clock(response["currentTime"])
        return response

    # ---- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        link = self.link
        handled_connection = 0  # the connection whose start was handled (boot or B04 report)
        while True:
            await link.up.wait()
            connection = link.connection.stats.connects
            offline_s = time.monotonic() - (link.down_since or time.monotonic())
            if self._needs_boot():
                await self._boot()
                if not self.gate.accepted:
                    continue
            elif connection != handled_connection:
                await self._on_reconnected(offline_s)
            handled_connection = connection
            await self._heartbeats()

    def _needs_boot(self) -> bool:
        if self.gate.registration != "Accepted":
            return True
        accepted = kv_get(self.db, ACCEPTED_DATA_KEY)
        if accepted != self._boot_data():
            log.info("boot data changed since the last accepted BootNotification: booting again")
            self.reason = "Unknown"
            self.gate.set_registration("Unknown")
            return True
        return False

    def _boot_data(self) -> dict[str, Any]:
        station = self.station
        data: dict[str, Any] = {"model": station.model[:20], "vendorName": station.vendor[:50],
                                "serialNumber": station.serial_number, "firmwareVersion": self.firmware}
        modem = self.modem.field()
        if modem:
            data["modem"] = modem
        return data

    async def _boot(self) -> None:
        wait_s = self._next_boot_at - time.monotonic()
        if wait_s > 0 and not self._triggered:
            await self._sleep(wait_s)
            return
        if self._first:
            await self.modem.wait(MODEM_WAIT_S)
            self._first = False
        reason = "Triggered" if self._triggered else self.reason
        self._triggered = False
        payload = {"reason": reason, "chargingStation": self._boot_data()}
        log.info("BootNotificationRequest shifted from queue and send reason: %r", reason)
        try:
            response = await self.gate.rpc.call("BootNotification", payload)
        except NotConnected:
            return  # the loop waits for the link
        except (CallTimeout, CallError) as exc:
            retry_s = float(self.dm.get_int(C, "RetryBackOffWaitMinimum")) or 1.0
            log.warning("BootNotification failed (%s): next one in %g s", exc, retry_s)
            self._next_boot_at = time.monotonic() + retry_s
            return
        status, interval_s = response["status"], int(response["interval"])
        await self._set_clock(response["currentTime"])
        log.info("BootNotification %s (interval %d s)", status, interval_s)
        if status == "Accepted":
            self._accepted(payload["chargingStation"], interval_s)
            self.gate.set_registration("Accepted")
            await self._on_accepted()
            return
        self.gate.set_registration(status)
        wait_s = interval_s if interval_s > 0 else self.dm.get_int(C, "HeartbeatInterval")
        self._next_boot_at = time.monotonic() + wait_s

    def _accepted(self, boot_data: dict[str, Any], interval_s: int) -> None:
        kv_set(self.db, ACCEPTED_DATA_KEY, boot_data)
        kv_set(self.db, NEXT_REASON_KEY, None)
        if interval_s > 0:
            try:
                self.dm.set(C, "HeartbeatInterval", interval_s)
            except InvalidValueError as exc:
                log.warning("HeartbeatInterval %d from the CSMS not taken: %s", interval_s, exc.message)

    async def _heartbeats(self) -> None:
        """Heartbeat every HeartbeatInterval while this connection is up and the boot Accepted."""
        link = self.link
        connection = link.connection.stats.connects
        while link.up.is_set() and self.gate.accepted and link.connection.stats.connects == connection:
            if await self._sleep(self.dm.get_int(C, "HeartbeatInterval")):
                if self._recheck:
                    self._recheck = False
                    if self._needs_boot():
                        return  # the run loop sends the new BootNotification
                continue  # woken: interval changed or link changed; look again
            if link.up.is_set():
                await self.heartbeat()

    async def _sleep(self, seconds: float | None) -> bool:
        """Sleep; True when woken early (trigger, link change, interval change)."""
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True

    async def _set_clock(self, current_time: str) -> None:
        was_synced = self.clock.synced
        correction = self.clock.adjust(current_time)
        if was_synced and abs(correction) > TIME_ADJUSTMENT_REPORTING_THRESHOLD_S:
            await self.security.report("SettingSystemTime", f"clock corrected by {correction:+.0f} s")


def persist_next_reason(db: Any, reason: str) -> None:
    """Store the BootNotification reason for the next start (a reset, a firmware update)."""
    kv_set(db, NEXT_REASON_KEY, reason)
