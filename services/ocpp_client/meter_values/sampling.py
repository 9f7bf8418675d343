"""Meter samples → OCPP 2.0.1 MeterValue objects, and when the next periodic / clock-aligned sample is due.

Plain code, no bus. A *sample* is the meter service's dict (services/meter/contract.py SAMPLE): totals and
per-phase lists (L1, L2, L3; empty where the model has none, None where the meter said "not available") and
`read_at`, the UTC second the meter answered. Only values the meter really read become sampledValues, and a
MeterValue carries the time they were read (J01/J02: the configured measurands "must be measured at" the
interval; the station never invents or re-dates a reading). Every sampledValue names its measurand,
unit, location Outlet and context, so a reader needs no defaults.

Which measurands go where (appendix 3, SampledDataCtrlr / AlignedDataCtrlr):
- TransactionEvent Started: TxStartedMeasurands, context Transaction.Begin (J02.FR.01, TC_J_07).
- TransactionEvent Updated every TxUpdatedInterval s from the transaction start: TxUpdatedMeasurands,
  Sample.Periodic, triggerReason MeterValuePeriodic (TC_J_09).
- TransactionEvent Ended: TxEndedMeasurands every TxEndedInterval s from the start (Sample.Periodic) plus
  the final Transaction.End reading, and AlignedDataCtrlr.TxEndedMeasurands every TxEndedInterval s on the
  clock (Sample.Clock) (TC_J_03, TC_J_10).
- Clock-aligned every AlignedDataCtrlr.Interval s counted from UTC midnight: Measurands, Sample.Clock, in
  MeterValuesRequest for an idle EVSE and in TransactionEvent (MeterValueClock) for an EVSE with a
  transaction; none at all while a transaction is ongoing when SendDuringIdle is true (TC_J_01/02/06).
An interval of 0 switches that kind of sample off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"
VOLTAGE = "Voltage"
FREQUENCY = "Frequency"
#: Measurands REON can fill from its meters (Current.Offered only when the sample carries current_offered_a).
SUPPORTED_MEASURANDS = (ENERGY, POWER, CURRENT, CURRENT_OFFERED, VOLTAGE, FREQUENCY)

TRANSACTION_BEGIN = "Transaction.Begin"
TRANSACTION_END = "Transaction.End"
SAMPLE_PERIODIC = "Sample.Periodic"
SAMPLE_CLOCK = "Sample.Clock"
TRIGGER = "Trigger"

LOCATION = "Outlet"
LINE_PHASES = ("L1", "L2", "L3")
VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N")
DAY_S = 86400

Sample = Mapping[str, Any]


@dataclass(frozen=True)
class SamplingSettings:
    """The SampledDataCtrlr and AlignedDataCtrlr variables, read once per use (values may change at any time)."""

    sampled_enabled: bool = True
    tx_started_measurands: tuple[str, ...] = (ENERGY,)
    tx_updated_measurands: tuple[str, ...] = (ENERGY, POWER)
    tx_updated_interval_s: int = 60
    tx_ended_measurands: tuple[str, ...] = (ENERGY,)
    tx_ended_interval_s: int = 0
    register_values_without_phases: bool = True
    aligned_enabled: bool = True
    aligned_measurands: tuple[str, ...] = (ENERGY,)
    aligned_interval_s: int = 900
    aligned_send_during_idle: bool = False
    aligned_tx_ended_measurands: tuple[str, ...] = (ENERGY,)
    aligned_tx_ended_interval_s: int = 0

    @classmethod
    def from_device_model(cls, dm: Any) -> SamplingSettings:
        """Read the settings from a DeviceModel; a variable it does not declare keeps REON's default."""
        d = cls()
        s, a = "SampledDataCtrlr", "AlignedDataCtrlr"
        return cls(
            sampled_enabled=read_setting(dm.get_bool, s, "Enabled", d.sampled_enabled),
            tx_started_measurands=tuple(read_setting(dm.get_list, s, "TxStartedMeasurands",
                                                     d.tx_started_measurands)),
            tx_updated_measurands=tuple(read_setting(dm.get_list, s, "TxUpdatedMeasurands",
                                                     d.tx_updated_measurands)),
            tx_updated_interval_s=read_setting(dm.get_int, s, "TxUpdatedInterval", d.tx_updated_interval_s),
            tx_ended_measurands=tuple(read_setting(dm.get_list, s, "TxEndedMeasurands", d.tx_ended_measurands)),
            tx_ended_interval_s=read_setting(dm.get_int, s, "TxEndedInterval", d.tx_ended_interval_s),
            register_values_without_phases=read_setting(dm.get_bool, s, "RegisterValuesWithoutPhases",
                                                        d.register_values_without_phases),
            aligned_enabled=read_setting(dm.get_bool, a, "Enabled", d.aligned_enabled),
            aligned_measurands=tuple(read_setting(dm.get_list, a, "Measurands", d.aligned_measurands)),
            aligned_interval_s=read_setting(dm.get_int, a, "Interval", d.aligned_interval_s),
            aligned_send_during_idle=read_setting(dm.get_bool, a, "SendDuringIdle", d.aligned_send_during_idle),
            aligned_tx_ended_measurands=tuple(read_setting(dm.get_list, a, "TxEndedMeasurands",
                                                           d.aligned_tx_ended_measurands)),
            aligned_tx_ended_interval_s=read_setting(dm.get_int, a, "TxEndedInterval",
                                                     d.aligned_tx_ended_interval_s),
        )


def read_setting(getter: Callable[[str, str], Any], component: str, variable: str, default: Any) -> Any:
    """`getter(component, variable)`, or `default` when the device model lacks the variable or its value."""
    try:
        return getter(component, variable)
    except Exception:  # UnknownVariableError, DeviceModelError (no value), a value of the wrong kind
        return default


# ----- time ----------------------------------------------------------------------------------------------


def utc_text(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds and a Z (the form REON sends)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> float:
    """UTC seconds of an ISO 8601 time (a trailing Z or an offset); raise ValueError when it is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def next_periodic_at(anchor_s: float, interval_s: float, now_s: float) -> float | None:
    """The first time `anchor + k*interval` (k >= 1) strictly after now; None when the interval is off."""
    if interval_s <= 0:
        return None
    steps = max(1, math.floor((now_s - anchor_s) / interval_s) + 1)
    return anchor_s + steps * interval_s


def next_aligned_at(interval_s: float, now_s: float) -> float | None:
    """The first clock-aligned time strictly after now: UTC midnight + k*interval, restarting each midnight."""
    if interval_s <= 0:
        return None
    midnight = math.floor(now_s / DAY_S) * DAY_S
    steps = math.floor((now_s - midnight) / interval_s) + 1
    slot = midnight + steps * interval_s
    return min(slot, midnight + DAY_S)


def is_fresh(sample: Sample | None, now_s: float, max_age_s: float) -> bool:
    """Whether the sample was read at most `max_age_s` before now (a stale reading is not a new sample)."""
    if not sample:
        return False
    read_at = _number(sample.get("read_at"))
    return read_at is not None and now_s - read_at <= max_age_s


# ----- MeterValue building -------------------------------------------------------------------------------


def sampled_values(sample: Sample, measurands: Iterable[str], context: str, *,
                   register_values_without_phases: bool = True) -> list[dict[str, Any]]:
    """The sampledValue list for the configured measurands, with only what the meter read."""
    values: list[dict[str, Any]] = []
    for measurand in dict.fromkeys(measurands):  # keep order, drop repeats
        if measurand == ENERGY:
            values += _entry(measurand, "Wh", context, sample.get("energy_import_wh"))
            if not register_values_without_phases:
                values += _phases(measurand, "Wh", context, sample.get("energy_import_wh_per_phase"), LINE_PHASES)
        elif measurand == POWER:
            total = _entry(measurand, "W", context, sample.get("power_w"))
            values += total or _phases(measurand, "W", context, sample.get("power_w_per_phase"), LINE_PHASES)
        elif measurand == CURRENT:
            values += _phases(measurand, "A", context, sample.get("current_a_per_phase"), LINE_PHASES)
        elif measurand == CURRENT_OFFERED:
            values += _entry(measurand, "A", context, sample.get("current_offered_a"))
        elif measurand == VOLTAGE:
            values += _phases(measurand, "V", context, sample.get("voltage_v_per_phase"), VOLTAGE_PHASES)
        elif measurand == FREQUENCY:
            values += _entry(measurand, "Hz", context, sample.get("frequency_hz"))
    return values


def meter_value(sample: Sample | None, measurands: Iterable[str], context: str, *,
                register_values_without_phases: bool = True) -> dict[str, Any] | None:
    """One MeterValue (timestamp = when the meter read it), or None when nothing configured was read."""
    if not sample:
        return None
    read_at = _number(sample.get("read_at"))
    if read_at is None:
        return None
    values = sampled_values(sample, measurands, context,
                            register_values_without_phases=register_values_without_phases)
    if not values:
        return None
    return {"timestamp": utc_text(read_at), "sampledValue": values}


def meter_values_request(evse_id: int, meter_values: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A MeterValuesRequest payload (evseId 0 is the station's main meter)."""
    return {"evseId": evse_id, "meterValue": [dict(value) for value in meter_values]}


def energy_wh(sample: Sample | None) -> float | None:
    """The import energy register of a sample, or None."""
    return _number(sample.get("energy_import_wh")) if sample else None


def phases_in_use(sample: Sample | None, threshold_a: float = 1.0) -> int | None:
    """How many phases carry at least `threshold_a`, or None when the meter gave no per-phase current."""
    if not sample:
        return None
    currents = [_number(value) for value in sample.get("current_a_per_phase") or ()]
    known = [value for value in currents if value is not None]
    if not known:
        return None
    return sum(1 for value in known if abs(value) >= threshold_a)


def _entry(measurand: str, unit: str, context: str, raw: Any, phase: str | None = None) -> list[dict[str, Any]]:
    value = _number(raw)
    if value is None:
        return []
    entry: dict[str, Any] = {"value": value, "context": context, "measurand": measurand}
    if phase is not None:
        entry["phase"] = phase
    entry["location"] = LOCATION
    entry["unitOfMeasure"] = {"unit": unit}
    return [entry]


def _phases(measurand: str, unit: str, context: str, raw: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, (list, tuple)):
        return []
    values: list[dict[str, Any]] = []
    for phase, value in zip(names, raw, strict=False):
        values += _entry(measurand, unit, context, value, phase)
    return values


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None
