"""reon-evse-io: the glue between each EVSE's pilot MCU and RFID reader and the bus (contract.py says what).

Per EVSE an `EvseChannel` (MCU link → ChargingControl → MCU, no bus) and an `RfidReader`. What the channels
report is handed to one outbox: session events are appended, in order, to the durable `session` stream
(DurableProducer, in `<data_dir>/evse_io.db`), then changed EVSE states are published as `evse.<n>`. A
command's reply waits until the events it caused are committed. Every use of the database runs in one writer
thread (station/sqlite_writer.py): the loop that reads the MCUs and sends their outputs never waits for the
disk, so a C → B power-off is not held up by a journal commit stuck behind other processes' writes.

Restart (decided): ChargingControl starts empty, so every session evse_io knew is over. On a clean stop the
MCUs get power-off and PWM-off (nobody would honour C → B within 100 ms while evse_io is down) and the
relays' opening is still recorded (power_off); at start the first MCU report re-sends every output, power
off. The first CP report after each start appends `evse_io_started` {ev_plugged, cp_state, session_id} to
the stream; an EV still plugged gets a new session (plugged_in) and no power until `authorize` is called
again — the ocpp side re-authorizes from its transaction record. Availability survives restarts
(store.py); current limit and reservation do not.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

from bus import runtime
from bus.client import BusClient
from bus.contract import ContractViolation, validate
from bus.durable import DurableProducer
from bus.rpc import RpcError
from services.evse_io.charging_types import CommandRejected, Outputs, SessionEvent
from services.evse_io.contract import (
    CONTRACT,
    ID_TOKEN,
    ID_TOKEN_MAX_CHARS,
    ID_TOKEN_TYPES,
    SESSION_CONSUMERS,
    SESSION_STREAM,
)
from services.evse_io.evse_channel import EvseChannel
from services.evse_io.rfid import RfidReader
from services.evse_io.store import EvseIoStore, open_store_db
from station.config import StationConfig
from station.sqlite_writer import SqliteWriter

RETRY_MIN_S = 0.1
RETRY_MAX_S = 5.0


class EvseIoService(runtime.Service):
    """Charging control of every EVSE of the station, on the bus."""

    contract = CONTRACT
    # MCU link timing (docs/hardware.md §1); tests shorten them
    keepalive_interval_s = 1.0
    keepalive_timeout_s = 5.0
    reopen_max_s = 5.0

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        super().__init__(config, bus)
        self._db = SqliteWriter(open_store_db(config.paths.data_dir), "evse_io-db")
        self._store = EvseIoStore(self._db)
        self._producer = DurableProducer(bus, self._db, {SESSION_STREAM: SESSION_CONSUMERS})
        self.extra_handlers = self._producer.handlers()
        self._channels: dict[int, EvseChannel] = {}
        self.rfid_readers: dict[int, RfidReader] = {}
        self._pending: deque[SessionEvent] = deque()  # reported, not yet journaled
        self._dirty: set[int] = set()  # EVSEs whose state may have changed
        self._published: dict[int, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._token_lock = asyncio.Lock()  # tokens go on the bus in the order presented

    # ---- life ----

    async def start(self) -> None:
        link_options = {"keepalive_interval_s": self.keepalive_interval_s,
                        "keepalive_timeout_s": self.keepalive_timeout_s, "reopen_max_s": self.reopen_max_s}
        for evse in self.config.evses:
            port = self.config.device_port(evse.mcu_port, f"mcu{evse.id}")
            if port is None:
                self.log.error("EVSE %d: no mcu_port configured: it stays Unavailable", evse.id)
            self._channels[evse.id] = EvseChannel(
                evse, port, on_events=self._on_events, on_change=self._on_change,
                operative=self._store.operative(evse.id), link_options=link_options)
        await self._flush()  # every state once, before any device speaks
        await self._producer.publish_heads()
        for channel in self._channels.values():
            await channel.start()
        for evse in self.config.evses:
            port = self.config.device_port(evse.rfid_port, f"rfid{evse.id}")
            if port is not None:
                reader = RfidReader(port, functools.partial(self._on_token, evse.id))
                self.rfid_readers[evse.id] = reader
                await reader.start()

    async def run(self) -> None:
        """The outbox: publish changed states, journal session events; a failure is retried with back-off."""
        backoff_s = RETRY_MIN_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
                backoff_s = RETRY_MIN_S
            except Exception:
                self.log.exception("publishing/journaling failed; %d session events wait, retrying in %.1f s",
                                   len(self._pending), backoff_s)
                await asyncio.sleep(backoff_s)  # back-off, not synchronisation
                backoff_s = min(backoff_s * 2, RETRY_MAX_S)
                self._wake.set()

    async def stop(self) -> None:
        for reader in self.rfid_readers.values():
            await reader.stop()
        await asyncio.gather(*(channel.stop() for channel in self._channels.values()))
        try:
            await self._flush()
        except Exception:
            self.log.exception("%d session events could not be journaled at stop", len(self._pending))
        self._db.close()

    # ---- commands ----

    async def cmd_authorize(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        id_token = args.get("id_token")
        if id_token is not None:
            try:
                validate(ID_TOKEN, id_token, "args.id_token")
            except ContractViolation as exc:
                raise RpcError("bad_args", str(exc)) from None
        allowed, max_a = args["allowed"], args.get("max_current_a")
        return await self._command(channel, lambda now: channel.control.authorize(
            allowed, now, max_current_a=max_a, id_token=id_token))

    async def cmd_stop(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        return await self._command(channel, lambda now: channel.control.stop(args["reason"], now))

    async def cmd_present_token(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        id_token = args["id_token"]
        try:
            validate(ID_TOKEN, id_token, "args.id_token")
        except ContractViolation as exc:
            raise RpcError("bad_args", str(exc)) from None
        if id_token["type"] not in ID_TOKEN_TYPES:
            raise RpcError("bad_args", f"type {id_token['type']!r} is not one of {', '.join(ID_TOKEN_TYPES)}")
        if not 0 < len(id_token["idToken"]) <= ID_TOKEN_MAX_CHARS or not id_token["idToken"].isprintable():
            raise RpcError("bad_args", f"idToken must be 1..{ID_TOKEN_MAX_CHARS} printable characters")
        token = {"idToken": id_token["idToken"], "type": id_token["type"]}
        await self._on_token(channel.evse_id, token)
        return {"evse": channel.evse_id, "id_token": token}

    async def cmd_set_current_limit(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        source, origin = args.get("source") or "default", args.get("origin")
        return await self._run(channel, lambda: channel.set_current_limit(args.get("amps"), source, origin))

    async def cmd_set_availability(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        operative = args["availability"] == "Operative"
        try:
            await self._store.set_operative(channel.evse_id, operative)  # committed first: survives a crash
        except sqlite3.Error as exc:
            raise RpcError("storage_failed", f"availability not persisted: {exc}") from None
        return await self._command(channel, lambda now: channel.control.set_availability(operative, now))

    async def cmd_unlock(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        return await self._command(channel, channel.control.unlock)

    async def cmd_reset_rcd(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        return await self._command(channel, channel.control.reset_rcd)

    async def cmd_reserve(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        return await self._command(channel, lambda now: channel.control.reserve(args["reserved"], now))

    def _channel(self, args: dict[str, Any]) -> EvseChannel:
        channel = self._channels.get(args["evse"])
        if channel is None:
            raise RpcError("unknown_evse", f"no EVSE {args['evse']!r}; this station has {sorted(self._channels)}")
        return channel

    async def _command(self, channel: EvseChannel, apply: Callable[[float], Outputs]) -> dict[str, Any]:
        return await self._run(channel, lambda: channel.command(apply))

    async def _run(self, channel: EvseChannel, action: Callable[[], None]) -> dict[str, Any]:
        """Carry out a command, wait until its session events are committed, reply with the EVSE's state."""
        try:
            action()
        except CommandRejected as exc:
            raise RpcError("rejected", f"EVSE {channel.evse_id}: {exc}") from None
        try:
            await self._flush()
        except Exception as exc:
            self._wake.set()  # the outbox keeps retrying
            raise RpcError("journal_failed", f"done, but its session events are not yet journaled: {exc}") from None
        return channel.snapshot()

    # ---- from the channels and readers ----

    def _on_events(self, events: list[SessionEvent]) -> None:
        for event in events:
            self.log.info("EVSE %d: %s (session %s)", event.evse_id, event.name, event.session_id)
        self._pending.extend(events)
        self._wake.set()

    def _on_change(self, evse_id: int) -> None:
        self._dirty.add(evse_id)
        self._wake.set()

    async def _on_token(self, evse_id: int, id_token: dict[str, str]) -> None:
        """Publish a presented token after what the EVSEs reported before it (plug-in, then card), in order."""
        self.log.info("EVSE %d: token %s (%s) presented", evse_id, id_token["idToken"], id_token["type"])
        async with self._token_lock:
            try:
                await self._flush()
            except Exception:
                self._wake.set()  # the outbox retries; a failing journal does not hold the token back
            await self.publish_event("token", {"evse": evse_id, "id_token": id_token})

    async def _flush(self) -> None:
        """Journal the pending session events in order, then publish the states that changed.

        Journal first: a state on the bus is never ahead of the session stream (a consumer that saw Charging
        finds power_on in the stream, even if evse_io is killed right after): a state is read for publishing
        only while no event waits to be journaled. The commits run in the writer thread; the work is shielded,
        so a cancelled caller (a command's deadline, stop) neither loses track of a commit nor journals twice.
        """
        await asyncio.shield(self._flush_once())

    async def _flush_once(self) -> None:
        async with self._flush_lock:
            while self._pending or self._dirty:
                if self._pending:
                    batch = list(self._pending)
                    await self._producer.append_all(SESSION_STREAM, [(e.name, e.as_dict()) for e in batch])
                    for _ in batch:
                        self._pending.popleft()
                    continue
                evse_id = min(self._dirty)
                self._dirty.discard(evse_id)
                body = self._channels[evse_id].snapshot()
                if body != self._published.get(evse_id):
                    await self.publish_state(f"evse.{evse_id}", body)
                    self._published[evse_id] = body


def main() -> int:
    return runtime.main(EvseIoService)


if __name__ == "__main__":
    sys.exit(main())
