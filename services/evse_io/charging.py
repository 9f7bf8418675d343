"""IEC 61851-1 charging control of one EVSE: a deterministic object, no I/O and no clock of its own.

Every input and command takes ``now`` (monotonic seconds) and returns ``Outputs``: the actions the service
must send to the pilot MCU, in order, and the session events for the durable stream. After each call the
desired outputs are recomputed from the whole state and only the changes are emitted, so a power-off
(C -> B, de-authorization, fault) is always in the same call that caused it (IEC 61851-1 Table A.6: 100 ms):
charging_decisions.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from services.evse_io.charging_decisions import DUTY_RAISE_INTERVAL_S, FORCED_OPEN_AFTER_S, ChargingDecisions
from services.evse_io.charging_types import (
    RCD_FAULT_FLAGS,
    AllowPower,
    ChargingConfig,
    CommandRejected,
    ErrorFlags,
    Fault,
    Lock,
    Outputs,
    SetDuty,
)
from services.evse_io.pilot import EV_PLUGGED_STATES, MIN_CURRENT_A, CpState, LockState, PpState

__all__ = ["DUTY_RAISE_INTERVAL_S", "FORCED_OPEN_AFTER_S", "AllowPower", "ChargingConfig", "ChargingControl",
           "CommandRejected", "ErrorFlags", "Fault", "Lock", "Outputs", "SetDuty"]


class ChargingControl(ChargingDecisions):
    """Charging control of one EVSE: CP/PP/relay/lock/fault inputs and commands in, MCU actions out (the
    state and the decisions: charging_decisions.py)."""

    # ---- inputs from the MCU -------------------------------------------------------------------------

    def on_cp_state(self, state: CpState | str, now: float) -> Outputs:
        """CP state measured by the MCU. A <-> B/C/D is plug-in/unplug; E and F are CP signal faults."""
        self._cp = CpState(state)
        if self._cp in EV_PLUGGED_STATES and not self._plugged:
            self._plugged = True
            self._unlock_requested = False
            self._sessions.plug_in()
        elif self._cp is CpState.A and self._plugged:
            self._plugged = False
            self._unlock_requested = False
            self._sessions.unplug()
        return self._reconcile(now)

    def on_relays(self, closed: bool, now: float) -> Outputs:
        """Relay state reported by the MCU; the session's power_on/power_off facts follow it."""
        closed = bool(closed)
        if closed != self._relays_reported:
            self._sessions.relays_changed(closed, self._offered_a)
        self._relays_closed = self._relays_reported = closed
        return self._reconcile(now)

    def on_error_flags(self, flags: ErrorFlags | Mapping[str, Any], now: float) -> Outputs:
        """The MCU's error flags; an RCD flag latches until reset_rcd()."""
        if not isinstance(flags, ErrorFlags):
            flags = ErrorFlags.from_mapping(flags)
        self._flags = flags
        self._rcd_latched |= {fault for name, fault in RCD_FAULT_FLAGS.items() if getattr(flags, name)}
        return self._reconcile(now)

    def on_pp_state(self, pp: PpState | str, now: float) -> Outputs:
        """Proximity pilot coding of the plugged cable."""
        self._pp = PpState(pp)
        return self._reconcile(now)

    def on_lock_state(self, state: LockState | str, now: float) -> Outputs:
        """Lock feedback (shown in the snapshot; a lock failure comes as the connector_lock_failed flag)."""
        self._lock_state = LockState(state)
        return self._reconcile(now)

    def on_link(self, up: bool, now: float) -> Outputs:
        """MCU link up/down. Lost: Faulted, power off, CP and relay states unknown until reported again
        (the plug is still assumed). Back up: every output is sent again."""
        if up and not self._link_up:
            self._resync = True
            self._link_was_up = True
        elif not up:
            if self._relays_reported:
                # Power off is commanded and the relays can no longer be confirmed closed: the session's
                # power_off fact says so, so that no reader (the CSMS included) goes on seeing Charging.
                self._sessions.relays_changed(False, self._offered_a)
                self._relays_reported = False
            self._cp, self._relays_closed = None, None
        self._link_up = bool(up)
        return self._reconcile(now)

    def on_hw_caps(self, max_a: float, min_a: float, now: float) -> Outputs:
        """Hardware current capability from the MCU keep-alive; nonsense values are ignored."""
        if _valid_amps(max_a) and max_a > 0:
            self._hw_max_a = float(max_a)
        if _valid_amps(min_a):
            self._hw_min_a = max(MIN_CURRENT_A, float(min_a))
        return self._reconcile(now)

    def tick(self, now: float) -> Outputs:
        """Apply the timers: deferred duty raises, the 6 s forced open, welded-contactor detection."""
        return self._reconcile(now)

    def resync(self, now: float) -> Outputs:
        """Send every output again (e.g. after the MCU reported a reset)."""
        self._resync = True
        return self._reconcile(now)

    # ---- commands ------------------------------------------------------------------------------------

    def authorize(
        self,
        allowed: bool,
        now: float,
        max_current_a: float | None = None,
        id_token: dict[str, Any] | None = None,
    ) -> Outputs:
        """Authorize charging (before or after plug-in), optionally capped; allowed=False de-authorizes."""
        if not allowed:
            return self.stop("DeAuthorized", now)
        if max_current_a is not None and not (_valid_amps(max_current_a) and max_current_a >= 0):
            raise CommandRejected(f"max_current_a must be a non-negative number, got {max_current_a!r}")
        if not self._operative_requested and not self._sessions.authorized:
            raise CommandRejected("EVSE is Inoperative")
        if self._sessions.ending:
            raise CommandRejected("the previous session is still ending (relays not yet open)")
        self._unlock_requested = False
        self._sessions.authorize(id_token, None if max_current_a is None else float(max_current_a))
        return self._reconcile(now)

    def stop(self, reason: str, now: float) -> Outputs:
        """End the session: power off at once, unlock once the relays are open. No session: no-op."""
        self._sessions.end(reason)
        return self._reconcile(now)

    def set_current_limit(self, amps: float | None, now: float, source: str = "default") -> Outputs:
        """External limit in A from `source`; None removes that source's limit. The lowest of all sources
        applies; below 6 A pauses charging (no PWM)."""
        if amps is not None and not (_valid_amps(amps) and amps >= 0):
            raise CommandRejected(f"current limit must be a non-negative number or None, got {amps!r}")
        if amps is None:
            self._external_limits_a.pop(source, None)
        else:
            self._external_limits_a[source] = float(amps)
        return self._reconcile(now)

    def set_availability(self, operative: bool, now: float) -> Outputs:
        """Operative/Inoperative. Inoperative waits for an authorized session to end."""
        self._operative_requested = bool(operative)
        return self._reconcile(now)

    def reserve(self, reserved: bool, now: float) -> Outputs:
        """Show the connector as Reserved while it would otherwise be Available (no reservation logic)."""
        self._reserved = bool(reserved)
        return self._reconcile(now)

    def unlock(self, now: float) -> Outputs:
        """Unlock the connector; it stays unlocked (and unpowered) until unplug or a new authorization."""
        if self._relays_closed is not False or self._power_cmd:
            raise CommandRejected("relays are closed or not known to be open: the connector stays locked")
        self._unlock_requested = True
        outputs = self._reconcile(now)
        if self._cfg.has_lock and Lock(False) not in outputs.actions:
            self._lock_cmd = False
            outputs.actions.append(Lock(False))  # sent even when believed unlocked: the user asks
        return outputs

    def reset_rcd(self, now: float) -> Outputs:
        """Clear a latched RCD fault; rejected while the MCU still reports it."""
        still = [name for name in RCD_FAULT_FLAGS if getattr(self._flags, name)]
        if still:
            raise CommandRejected(f"RCD still reported by the MCU: {', '.join(still)}")
        self._rcd_latched.clear()
        return self._reconcile(now)

    # ---- what it looks like --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The EVSE's state as the service publishes it."""
        session = self._sessions.current
        return {
            "evse_id": self.evse_id,
            "connector_status": self.connector_status,
            "charging_state": self.charging_state,
            "cp_state": self._cp.value if self._cp is not None else None,
            "relays_closed": self._relays_closed,
            "power_allowed": self._power_cmd,
            "lock": self._lock_state.value,
            "lock_commanded": self._lock_cmd,
            "pp_ampacity_a": self._pp_ampacity_a(),
            "offered_current_a": self._offered_a,
            "duty": self._duty,
            "faults": sorted(self._faults),
            "availability": "Operative" if self._operative else "Inoperative",
            "availability_requested": "Operative" if self._operative_requested else "Inoperative",
            "reserved": self._reserved,
            "link_up": self._link_up,
            "session": session.as_dict() if session is not None else None,
        }

    @property
    def connector_status(self) -> str:
        """OCPP ConnectorStatusEnumType."""
        if self._faults:
            return "Faulted"
        if not self._link_was_up or not self._operative:
            return "Unavailable"
        if self._plugged:
            return "Occupied"
        return "Reserved" if self._reserved else "Available"

    @property
    def charging_state(self) -> str:
        """OCPP ChargingStateEnumType."""
        if not self._plugged:
            return "Idle"
        if self._relays_closed is True and self._power_cmd:
            return "Charging"
        if self._sessions.authorized:
            return "SuspendedEV" if self._offered_a > 0 else "SuspendedEVSE"
        return "EVConnected"


def _valid_amps(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
