"""Meter values (J01, J02, F06 MeterValues) on the bus: the meter service's samples into the transactions.

Each `meter.evt.sample.<n>` (and the sample in `meter.state.meter.<n>`, so a restart starts with the last
one) goes to the transaction state machine, once per reading (by read_at), with read_at shifted onto the
station's OCPP clock. Transaction.Begin / Transaction.End values are the latest sample when the transaction
starts / ends — at most one poll interval (the meter's poll_s, 1 s by default) old and stamped with the time
it was read; an End value only when read during the transaction (transactions/core.py `read_during`).
REON does not call `meter.read_now` for them (it would make the unit of work wait on the meter).
Clock-aligned MeterValues of idle EVSEs (TxOutput.meter_values) and a triggered MeterValues
(AlignedDataCtrlr.Measurands, context Trigger) are direct CALLs: skipped while the CSMS is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bus.envelope import Envelope
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import Send
from services.ocpp_client.meter_values.sampling import TRIGGER, SamplingSettings, meter_value, meter_values_request
from services.ocpp_client.transactions.activity import TriggerWork

log = logging.getLogger("reon.ocpp.meter_values")


class SampleInputs(Protocol):
    """What this block hands samples to (transactions/manager.py `TransactionManager`)."""

    evses: Mapping[int, int]
    samples: Mapping[int, Mapping[str, Any]]

    def on_meter_sample(self, evse_id: int, sample: Mapping[str, Any], now: float) -> Any: ...


class MeterService:
    """Meter samples in, MeterValues out (MeterTrigger of activity.py)."""

    def __init__(self, dm: DeviceModel, send: Send, machine: SampleInputs, *, apply: Callable[..., None],
                 now: Callable[[], float], station_time: Callable[[float], float],
                 subscribe: Callable[..., Any],
                 offered_current_a: Callable[[int], float | None] = lambda _evse: None) -> None:
        """`send`: a direct CALL (link/gate.py); `machine`: the transaction state machine; `apply(output,
        recheck_timers=…)`: to the transactions block's runners; `now()` / `station_time(system_s)`: the
        station's OCPP clock; `subscribe(prefix, callback)`: the bus; `offered_current_a(evse)`: the current the
        EVSE offers the EV now (evse_io's PWM offer: every limit in force, smart charging's included), added to
        each sample as Current.Offered when the meter did not give it."""
        self.dm = dm
        self._send = send
        self.machine = machine
        self.apply = apply
        self.now = now
        self.station_time = station_time
        self._subscribe = subscribe
        self.offered_current_a = offered_current_a
        self._read_at: dict[int, float] = {}  # the last reading taken per EVSE (meter's clock)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._subscribe("meter.evt.sample.", self._on_sample)
        self._subscribe("meter.state.meter.", self._on_meter_state)

    async def _on_sample(self, topic: str, env: Envelope) -> None:
        if isinstance(env.body, dict):
            self._take(env.body.get("evse"), env.body)

    async def _on_meter_state(self, topic: str, env: Envelope) -> None:
        body = env.body if isinstance(env.body, dict) else {}
        sample = body.get("sample")
        if isinstance(sample, dict):
            self._take(sample.get("evse"), sample)

    def _take(self, evse_id: Any, sample: Mapping[str, Any]) -> None:
        read_at = sample.get("read_at")
        if evse_id not in self.machine.evses or not isinstance(read_at, (int, float)):
            return
        if read_at <= self._read_at.get(evse_id, float("-inf")):
            return  # the same reading again (state after the event) or an older one
        self._read_at[evse_id] = read_at
        shifted = {**sample, "read_at": self.station_time(read_at)}
        if shifted.get("current_offered_a") is None:
            shifted["current_offered_a"] = self.offered_current_a(evse_id)
        self.apply(self.machine.on_meter_sample(evse_id, shifted, self.now()), recheck_timers=False, sample_of=evse_id)

    # ---- MeterValuesRequest -----------------------------------------------------------------------

    def send(self, requests: list[dict[str, Any]], *, in_pending: bool = False) -> None:
        """Send MeterValuesRequests in order, in a task of their own (a slow CSMS holds up nothing else)."""
        task = asyncio.ensure_future(self._send_all(list(requests), in_pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_all(self, requests: list[dict[str, Any]], in_pending: bool) -> None:
        for request in requests:
            await self._send("MeterValues", request, in_pending=in_pending)

    def trigger_meter_values(self, evse_id: int | None) -> TriggerWork | None:
        """TriggerMessage MeterValues: the latest sample of the EVSE (each EVSE without evse_id) with the
        AlignedDataCtrlr.Measurands; Rejected when no EVSE in scope has a sample."""
        targets = [evse_id] if evse_id is not None else sorted(self.machine.evses)
        sampling = SamplingSettings.from_device_model(self.dm)
        requests = []
        for target in targets:
            value = meter_value(self.machine.samples.get(target), sampling.aligned_measurands, TRIGGER,
                                register_values_without_phases=sampling.register_values_without_phases)
            if value is not None:
                requests.append(meter_values_request(target, [value]))
        if not requests:
            return None

        async def send() -> None:
            await self._send_all(requests, in_pending=True)

        return send
