"""Safety properties of ChargingControl under random sequences of MCU inputs, commands and time."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from services.evse_io.charging import (
    DUTY_RAISE_INTERVAL_S,
    FORCED_OPEN_AFTER_S,
    AllowPower,
    ChargingConfig,
    ChargingControl,
    CommandRejected,
    Lock,
    Outputs,
    SetDuty,
)
from services.evse_io.pilot import DUTY_NO_PWM, CpState, LockState, PpState, duty_to_current

REQUESTING = {"C", "D"}
TOKEN = {"idToken": "AA", "type": "ISO14443"}
FLAG_NAMES = [
    "diode_fault", "rcd_selftest_failed", "rcd_triggered", "ventilation_not_available",
    "connector_lock_failed", "cp_signal_fault", "over_current",
]
steps_s = st.sampled_from([0.0, 0.0, 0.01, 0.09, 0.5, 1.0, 2.5, 4.99, 5.0, 6.0, 12.0])
amps = st.one_of(st.none(), st.sampled_from([0.0, 3.0, 6.0, 10.0, 16.0, 20.0, 32.0, 63.0, 100.0]))


class ChargingSafety(RuleBasedStateMachine):
    """Drives one ChargingControl and checks every Outputs against the IEC 61851 safety rules."""

    @initialize(
        has_lock=st.booleans(), lock_on_plug_in=st.booleans(), has_socket=st.booleans(),
        evse_max_a=st.sampled_from([16.0, 32.0, 80.0]),
    )
    def setup(self, has_lock: bool, lock_on_plug_in: bool, has_socket: bool, evse_max_a: float) -> None:
        config = ChargingConfig(
            evse_max_current_a=evse_max_a, has_lock=has_lock, lock_on_plug_in=lock_on_plug_in,
            has_socket=has_socket,
        )
        self.config = config
        self.control = ChargingControl(1, config, lambda: datetime(2024, 1, 1, tzinfo=UTC))
        self.now = 0.0
        # what the MCU has been told, from the actions alone
        self.power_cmd = False
        self.lock_cmd: bool | None = None
        self.duty = DUTY_NO_PWM
        self.duty_changed_at = -1e9
        self.pwm_off_at = -1e9
        # what the MCU has reported
        self.relays_known_open = False
        self.session_ids_ended: set[str] = set()

    # ---- driving ---------------------------------------------------------------------------------

    def call(self, dt: float, method: str, *args: object, **kwargs: object) -> None:
        self.now += dt
        before = self.control.snapshot()
        try:
            out = getattr(self.control, method)(*args, self.now, **kwargs)
        except CommandRejected:
            assert self.control.snapshot() == before, "a rejected command changed the state"
            return
        self.check(out, before, method, args)

    @rule(dt=steps_s, state=st.sampled_from("AABBBCCCCDEF"))
    def cp_state(self, dt: float, state: CpState) -> None:
        self.call(dt, "on_cp_state", state)

    @rule(dt=steps_s, closed=st.booleans())
    def relays(self, dt: float, closed: bool) -> None:
        self.relays_known_open = not closed
        self.call(dt, "on_relays", closed)

    @rule(dt=steps_s)
    def relays_follow_command(self, dt: float) -> None:
        """The relays do what the MCU was told, as they normally do."""
        self.relays(dt, self.power_cmd)

    @rule(dt=steps_s, flags=st.just({}) | st.dictionaries(st.sampled_from(FLAG_NAMES), st.booleans()))
    def error_flags(self, dt: float, flags: dict[str, bool]) -> None:
        self.call(dt, "on_error_flags", flags)

    @rule(dt=steps_s, pp=st.sampled_from(list(PpState)))
    def pp_state(self, dt: float, pp: PpState) -> None:
        self.call(dt, "on_pp_state", pp)

    @rule(dt=steps_s, state=st.sampled_from(list(LockState)))
    def lock_state(self, dt: float, state: LockState) -> None:
        self.call(dt, "on_lock_state", state)

    @rule(dt=steps_s, up=st.sampled_from([True, True, True, False]))
    def link(self, dt: float, up: bool) -> None:
        if not up:
            self.relays_known_open = False
        self.call(dt, "on_link", up)

    @rule(dt=steps_s, max_a=st.sampled_from([10.0, 16.0, 32.0, 80.0]), min_a=st.sampled_from([6.0, 8.0]))
    def hw_caps(self, dt: float, max_a: float, min_a: float) -> None:
        self.call(dt, "on_hw_caps", max_a, min_a)

    @rule(dt=steps_s)
    def plug_authorize_and_request_power(self, dt: float) -> None:
        """The usual way to charging, one MCU report or command at a time (each checked)."""
        self.link(dt, True)
        self.error_flags(0.0, {})
        self.relays(0.0, self.power_cmd)
        self.pp_state(0.0, PpState.A32)
        self.cp_state(0.01, "B")
        self.authorize(0.1, True, None)
        self.cp_state(0.5, "C")
        self.relays(0.05, self.power_cmd)

    @rule(dt=steps_s)
    def tick(self, dt: float) -> None:
        self.call(dt, "tick")

    @rule(dt=steps_s, allowed=st.booleans(), max_a=amps)
    def authorize(self, dt: float, allowed: bool, max_a: float | None) -> None:
        self.call(dt, "authorize", allowed, max_current_a=max_a, id_token=TOKEN)

    @rule(dt=steps_s)
    def stop(self, dt: float) -> None:
        self.call(dt, "stop", "Remote")

    @rule(dt=steps_s, limit=amps)
    def current_limit(self, dt: float, limit: float | None) -> None:
        self.call(dt, "set_current_limit", limit)

    @rule(dt=steps_s, operative=st.booleans())
    def availability(self, dt: float, operative: bool) -> None:
        self.call(dt, "set_availability", operative)

    @rule(dt=steps_s, reserved=st.booleans())
    def reserve(self, dt: float, reserved: bool) -> None:
        self.call(dt, "reserve", reserved)

    @rule(dt=steps_s)
    def unlock(self, dt: float) -> None:
        self.call(dt, "unlock")

    @rule(dt=steps_s)
    def reset_rcd(self, dt: float) -> None:
        self.call(dt, "reset_rcd")

    # ---- the properties --------------------------------------------------------------------------

    def check(self, out: Outputs, before: dict, method: str, args: tuple) -> None:
        after = self.control.snapshot()
        was_powered = self.power_cmd
        for action in out.actions:
            if isinstance(action, AllowPower):
                if action.allowed:
                    self.check_power_on_allowed(after)
                self.power_cmd = action.allowed
            elif isinstance(action, Lock):
                if not action.locked:
                    assert self.relays_known_open, "Lock(False) while the relays are (or may be) closed"
                    assert not self.power_cmd, "Lock(False) while power is allowed"
                self.lock_cmd = action.locked
            elif isinstance(action, SetDuty):
                self.check_duty(action.duty)
        assert self.power_cmd == after["power_allowed"]
        if self.power_cmd:
            self.check_power_on_allowed(after)
            if self.duty == DUTY_NO_PWM:
                assert self.now < self.pwm_off_at + FORCED_OPEN_AFTER_S, "contactor not forced open after 6 s"
        if was_powered:
            self.check_immediate_power_off(out, before, after, method, args)
        self.check_events(out)

    def check_power_on_allowed(self, snap: dict) -> None:
        assert snap["session"] is not None and snap["session"]["authorized"], "power without authorization"
        assert snap["cp_state"] in REQUESTING, "power while the EV is not in C or D"
        assert not snap["faults"], "power while faulted"
        assert snap["link_up"]
        if self.config.has_lock:
            assert self.lock_cmd is True, "power before the connector is locked"

    def check_duty(self, duty: int) -> None:
        if duty == self.duty:
            return  # re-sent after a link return
        if self.duty != DUTY_NO_PWM and duty_to_current(duty) > duty_to_current(self.duty):
            assert self.now >= self.duty_changed_at + DUTY_RAISE_INTERVAL_S, "duty raised within 5 s"
        if duty == DUTY_NO_PWM:
            self.pwm_off_at = self.now
        self.duty, self.duty_changed_at = duty, self.now

    def check_immediate_power_off(
        self, out: Outputs, before: dict, after: dict, method: str, args: tuple
    ) -> None:
        stopped = method == "stop" or (method == "authorize" and not args[0])
        left_c = before["cp_state"] in REQUESTING and after["cp_state"] not in REQUESTING
        new_fault = not before["faults"] and after["faults"]
        if stopped or left_c or new_fault:
            assert AllowPower(False) in out.actions, f"no immediate power off after {method}{args}"
            assert out.actions.index(AllowPower(False)) == 0

    def check_events(self, out: Outputs) -> None:
        for event in out.events:
            if event.name == "session_ended":
                assert event.session_id not in self.session_ids_ended
                self.session_ids_ended.add(event.session_id)
            elif event.session_id is not None:
                assert event.session_id not in self.session_ids_ended, f"{event.name} after session_ended"

    @invariant()
    def faulted_iff_faults(self) -> None:
        if getattr(self, "control", None) is None:
            return
        snap = self.control.snapshot()
        assert (snap["connector_status"] == "Faulted") == bool(snap["faults"])
        assert (snap["charging_state"] == "Charging") <= (snap["relays_closed"] is True)


ChargingSafety.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_charging_safety_properties = ChargingSafety.TestCase
