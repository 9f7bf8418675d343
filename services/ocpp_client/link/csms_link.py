"""The CSMS link of the service: `Connection` + `Rpc`, set up from the `[csms]` config and fed by the device model.

At run time the device model drives the link: RetryBackOffWaitMinimum/RandomRange/RepeatTimes → the back-off,
WebSocketPingInterval → pings, MessageTimeout[Default] → the CALL timeout, SecurityProfile → reconnect with
it (never lower: Connection.apply_settings refuses), BasicAuthPassword set by the CSMS → after the
SetVariablesResponse is out, reconnect with the new password, falling back to the old one if the CSMS refuses
it (A01; the device model then gets the old value back).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from services.ocpp_client.device_model.model import DeviceModel, VariableChange
from services.ocpp_client.link.connection import Connection, ConnectionSettings, LinkUp, RetryBackOff
from services.ocpp_client.link.rpc import Rpc
from station.config import StationConfig

log = logging.getLogger("reon.ocpp.link")

C = "OCPPCommCtrlr"


def connection_settings(config: StationConfig, dm: DeviceModel) -> ConnectionSettings:
    """The link's settings: URL and certificates from `[csms]`, profile and password from the device model."""
    csms = config.csms
    return ConnectionSettings(
        csms_url=csms.url, station_id=config.station.id,
        security_profile=dm.get_int("SecurityCtrlr", "SecurityProfile"),
        basic_auth_password=dm.get("SecurityCtrlr", "BasicAuthPassword"),
        csms_root_ca_file=str(csms.ca_file) if csms.ca_file else None,
        client_cert_file=str(csms.client_cert) if csms.client_cert else None,
        client_key_file=str(csms.client_key) if csms.client_key else None,
    )


class ConnectionPlan(Protocol):
    """Where each connection attempt goes (network profiles, certificates/link_plan.py) and its outcome."""

    def settings(self) -> ConnectionSettings: ...
    def connected(self, link: LinkUp) -> None: ...
    def failed(self, reason: str) -> None: ...
    def disconnected(self, reason: str) -> None: ...


def first_settings(config: StationConfig, dm: DeviceModel, plan: ConnectionPlan | None) -> ConnectionSettings:
    """The plan's settings when it has usable ones, else those of the config (the attempt asks the plan again)."""
    if plan is not None:
        try:
            settings = plan.settings()
            settings.check()
            return settings
        except ValueError as exc:
            log.error("network profiles give no usable settings yet (%s): starting from [csms]", exc)
        return replace(connection_settings(config, dm), security_profile=config.csms.security_profile)
    return connection_settings(config, dm)


class CsmsLink:
    """One Connection and its Rpc; `up` is set while the WebSocket is open. With a `plan`, each attempt takes
    its settings from it (SecurityProfile then follows the plan instead of driving the link)."""

    def __init__(self, config: StationConfig, dm: DeviceModel, *,
                 on_up: Callable[[LinkUp], Any], on_down: Callable[[str], Any],
                 on_security_event: Callable[[str, str], Awaitable[Any]],
                 plan: ConnectionPlan | None = None,
                 rng: Callable[[], float] = random.random) -> None:
        self.dm = dm
        self._plan = plan
        self._on_up = on_up
        self._on_down = on_down
        self.up = asyncio.Event()
        self.held_down = False
        self._tasks: set[asyncio.Future[None]] = set()
        self.last_message_at: float | None = None
        self.down_since: float | None = time.monotonic()
        self._password_fallback: str | None = None
        self._password_pending: str | None = None
        self.rpc = Rpc(self._send_text, message_timeout_s=self._message_timeout_s())
        self.rpc.secret_variables |= dm.write_only_variable_names()
        self.connection = Connection(
            first_settings(config, dm, plan), self._on_message, back_off=self._back_off(),
            ping_interval_s=dm.get_int(C, "WebSocketPingInterval"), on_connected=self._connected,
            on_disconnected=self._disconnected, on_security_event=on_security_event,
            on_password_result=self._password_result, rng=rng,
            on_connect_failed=plan.failed if plan is not None else None,
            settings_source=plan.settings if plan is not None else None, on_reply=self._on_reply)
        for variable in ("RetryBackOffWaitMinimum", "RetryBackOffRandomRange", "RetryBackOffRepeatTimes"):
            dm.on_change(C, variable, lambda _c: self._apply_back_off())
        dm.on_change(C, "WebSocketPingInterval", self._ping_interval_changed)
        dm.on_change(C, "MessageTimeout", lambda _c: setattr(self.rpc, "message_timeout_s", self._message_timeout_s()))
        dm.on_change("SecurityCtrlr", "BasicAuthPassword", self._password_changed)
        dm.on_change("SecurityCtrlr", "SecurityProfile", self._profile_changed)

    @property
    def url(self) -> str:
        return self.connection.url

    @property
    def security_profile(self) -> int:
        return self.connection.settings.security_profile

    async def start(self) -> None:
        await self.connection.start()

    async def disconnect(self) -> None:
        """Drop the link and hold it down until `connect()`."""
        self.held_down = True
        await self.connection.disconnect()

    async def connect(self) -> None:
        self.held_down = False
        await self.connection.connect()

    async def stop(self) -> None:
        await self.rpc.close()
        await self.connection.stop()

    async def apply_pending_password(self) -> None:
        """Reconnect with a BasicAuthPassword the CSMS just set (run after the SetVariablesResponse is sent)."""
        new, self._password_pending = self._password_pending, None
        if new is not None:
            await self.connection.set_password(new)

    # ---- Connection callbacks ---------------------------------------------------------------------

    async def _send_text(self, text: str) -> None:
        await self.connection.send_text(text)

    async def _on_message(self, data: str | bytes) -> None:
        self.last_message_at = time.time()
        await self.rpc.receive(data)

    def _on_reply(self, text: str) -> bool:
        if self.rpc.receive_reply(text):
            self.last_message_at = time.time()
            return True
        return False

    def _connected(self, link: LinkUp) -> Any:
        if self._plan is not None:
            self._plan.connected(link)
        self.up.set()
        return self._on_up(link)

    def _disconnected(self, reason: str) -> Any:
        self.up.clear()
        if self._plan is not None:
            self._plan.disconnected(reason)
        self.down_since = time.monotonic()
        self.rpc.connection_lost()
        return self._on_down(reason)

    def _password_result(self, accepted: bool) -> None:
        old, self._password_fallback = self._password_fallback, None
        if not accepted and old is not None:
            self.dm.set("SecurityCtrlr", "BasicAuthPassword", old)  # the CSMS kept the old one (A01.FR.12)

    # ---- device-model listeners -------------------------------------------------------------------

    def _message_timeout_s(self) -> float:
        return float(self.dm.get_int(C, "MessageTimeout", variable_instance="Default"))

    def retry_delay_s(self, retry_index: int) -> float:
        """The wait before retry `retry_index` (0 = the first after a failure) by the RetryBackOff variables, as
        a reconnect waits (part 4 §5.3): used for a BootNotification that failed too."""
        return self._back_off().delay_s(retry_index, random.random)

    def _back_off(self) -> RetryBackOff:
        dm = self.dm
        return RetryBackOff(wait_minimum_s=dm.get_int(C, "RetryBackOffWaitMinimum"),
                            random_range_s=dm.get_int(C, "RetryBackOffRandomRange"),
                            repeat_times=dm.get_int(C, "RetryBackOffRepeatTimes"))

    def _apply_back_off(self) -> None:
        fresh = self._back_off()
        back_off = self.connection.back_off
        back_off.wait_minimum_s, back_off.random_range_s = fresh.wait_minimum_s, fresh.random_range_s
        back_off.repeat_times = fresh.repeat_times

    def _ping_interval_changed(self, change: VariableChange) -> None:
        self.connection.set_ping_interval(self.dm.get_int(C, "WebSocketPingInterval"))

    def _password_changed(self, change: VariableChange) -> None:
        if change.source != "csms" or not change.new_value:
            return
        self._password_fallback = change.old_value
        self._password_pending = change.new_value
        log.info("new BasicAuthPassword from the CSMS: reconnecting with it once the response is sent")

    def _profile_changed(self, change: VariableChange) -> None:
        if self._plan is not None:
            return  # the plan sets SecurityProfile from the profile it connected with
        profile = int(change.new_value or 0)
        settings = replace(self.connection.settings, security_profile=profile)
        task = asyncio.ensure_future(self._apply(settings))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, settings: ConnectionSettings) -> None:
        try:
            await self.connection.apply_settings(settings)
        except ValueError as exc:
            log.error("connection settings not applied: %s", exc)
