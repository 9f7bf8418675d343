"""reon-sim: the simulated world outside the station as one service on the bus (development only).

The glue between sim/world.py (the devices on pseudo-terminals and the physics between them) and the bus:
commands drive the world, its state is published at start, on every change and each second while energy flows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bus import runtime
from bus.rpc import RpcError
from sim.contract import CONTRACT
from sim.firmware_images import ImageError
from sim.world import EvseWorld, World, WorldError

PUBLISH_PERIOD_S = 1.0  # how often the energy of a charging EV is re-published


class SimService(runtime.Service):
    contract = CONTRACT

    world: World | None = None

    async def start(self) -> None:
        if not self.config.sim.enabled:
            self.log.warning("[sim] enabled = false: the services open the configured ports, not these")
        self._published: dict[int, dict[str, Any]] = {}
        try:
            world = World(self.config, on_change=self._on_change, period_s=PUBLISH_PERIOD_S)
        except WorldError as exc:
            self.log.error("cannot simulate this station: %s", exc.message)
            self.failed.set()
            return
        self.world = world  # before start: its observer tasks publish through it
        await world.start()
        await self.publish_state("world", {"sim_dir": str(world.sim_dir), "evses": list(world.evses),
                                           "devices": world.devices(), "images_url": world.firmware.url})
        for evse_id in world.evses:
            await self._publish_evse(evse_id)
        await self._publish_modem()

    async def stop(self) -> None:
        if self.world is not None:
            await self.world.stop()

    # ---- publishing ----

    async def _on_change(self, evse_id: int, _changed: bool) -> None:
        await self._publish_evse(evse_id)

    async def _publish_evse(self, evse_id: int) -> dict[str, Any]:
        """Publish the EVSE's world when it differs from the last one published; return it."""
        body = self._world().evse(evse_id).snapshot()
        if self._published.get(evse_id) != body:
            self._published[evse_id] = body
            await self.publish_state(f"evse.{evse_id}", body)
        return body

    async def _publish_modem(self) -> dict[str, Any] | None:
        body = self._world().modem_snapshot()
        if body is not None:
            await self.publish_state("modem", body)
        return body

    # ---- commands ----

    def _world(self) -> World:
        if self.world is None:
            raise RpcError("not_ready", "the simulated world is not running")
        return self.world

    async def _on_evse(self, command: str, args: dict[str, Any],
                       action: Callable[[EvseWorld], object]) -> dict[str, Any]:
        """Apply one control to an EVSE's world; answer with (and publish) its new state."""
        try:
            evse = self._world().evse(args["evse"])
            action(evse)
        except WorldError as exc:
            raise RpcError(exc.code, exc.message) from None
        self.log.info("evse %d: %s", evse.evse_id, " ".join((command, _describe(args))).strip())
        return await self._publish_evse(evse.evse_id)

    async def cmd_plug(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("plug", args, lambda evse: evse.plug(args.get("cable_a")))

    async def cmd_unplug(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("unplug", args, EvseWorld.unplug)

    async def cmd_ev_pause(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("ev_pause", args, EvseWorld.ev_pause)

    async def cmd_ev_resume(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("ev_resume", args, EvseWorld.ev_resume)

    async def cmd_set_ev_max_current(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("set_ev_max_current", args, lambda evse: evse.set_ev_max_current(args["amps"]))

    async def cmd_fault(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("fault", args, lambda evse: evse.fault(args["kind"]))

    async def cmd_clear_fault(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("clear_fault", args, lambda evse: evse.clear_fault(args.get("kind")))

    async def cmd_meter_offline(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("meter_offline", args, EvseWorld.meter_offline)

    async def cmd_meter_online(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._on_evse("meter_online", args, EvseWorld.meter_online)

    async def cmd_swipe(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            evse = self._world().evse(args["evse"])
            delivered = evse.swipe(args["token"])
        except WorldError as exc:
            raise RpcError(exc.code, exc.message) from None
        self.log.info("evse %d: card %s presented%s", evse.evse_id, args["token"],
                      "" if delivered else " (not delivered: reader buffer full or gone)")
        result = {"evse": evse.evse_id, "token": args["token"], "delivered": delivered}
        await self.publish_event("swiped", result)
        return result

    async def cmd_modem(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            self._world().modem_action(args["action"], args.get("rssi"))
        except WorldError as exc:
            raise RpcError(exc.code, exc.message) from None
        self.log.info("modem: %s", _describe(args))
        body = await self._publish_modem()
        assert body is not None  # modem_action refuses without a modem
        return body

    async def cmd_firmware_image(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            image = self._world().firmware.make(args["version"], fault=args.get("fault") or "none",
                                                signed=args.get("signed") is not False)
        except ImageError as exc:
            raise RpcError("bad_args", str(exc)) from None
        self.log.info("firmware image %s (%s)", image["location"], "signed" if "signature" in image else "unsigned")
        return image

    async def cmd_state(self, _args: dict[str, Any]) -> dict[str, Any]:
        return self._world().snapshot()


def _describe(args: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in args.items() if key != "evse" and value is not None)


def main(argv: list[str] | None = None) -> int:
    return runtime.main(SimService, argv)


if __name__ == "__main__":
    sys.exit(main())
