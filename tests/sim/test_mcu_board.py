"""The simulated MCU board on its pty, driven by a bare host end speaking the wire protocol."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from services.evse_io import mcu_pb2 as pb
from services.evse_io.mcu_framing import FrameDecoder, encode_frame
from sim.ev_model import EvModel
from sim.mcu_board import McuBoard

KEEPALIVE_S = 0.05


class HostEnd:
    """The host side of the pty without McuLink: raw frames in and out."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.decoder = FrameDecoder(pb.McuToEverest)
        self.messages: asyncio.Queue[pb.McuToEverest] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self.fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.fd)
        for message in self.decoder.feed(chunk):
            self.messages.put_nowait(message)

    def send(self, **fields: object) -> None:
        os.write(self.fd, encode_frame(pb.EverestToMcu(**fields)))

    async def expect(
        self,
        kind: str,
        value: object = None,
        timeout: float = 2.0,
        where: Callable[[Any], bool] | None = None,
    ) -> pb.McuToEverest:
        """The next message of ``kind`` (with ``value``, or whose field satisfies ``where``)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.messages.get()
                if message.WhichOneof("payload") != kind:
                    continue
                field = getattr(message, kind)
                if (value is None or field == value) and (where is None or where(field)):
                    return message

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[McuBoard]:
    mcu = McuBoard(1, tmp_path, keepalive_interval_s=KEEPALIVE_S, ev=EvModel(ev_max_current_a=16))
    await mcu.start()
    yield mcu
    await mcu.stop()


@pytest.fixture
async def host(board: McuBoard) -> AsyncIterator[HostEnd]:
    end = HostEnd(board.path)
    yield end
    end.close()


def device_gone(fd: int) -> bool:
    """What the host sees reading a vanished device: end of file or EIO (after any data still queued)."""
    for _ in range(100):
        try:
            if not os.read(fd, 4096):
                return True
        except BlockingIOError:
            return False
        except OSError:
            return True
    return False


async def skip_older_reports(board: McuBoard, host: HostEnd) -> None:
    """Let the host read past everything the board sent so far, up to a marker frame."""
    board.send_frame(pb.McuToEverest(telemetry=pb.Telemetry(cp_voltage_hi=1)))
    await host.expect("telemetry")


async def charging(board: McuBoard, host: HostEnd, duty_0_01pct: int = 1000) -> None:
    board.plug()
    host.send(pwm_duty_cycle=duty_0_01pct)
    host.send(allow_power_on=True)
    await board.wait_for(lambda s: s.relays_closed)


async def test_stable_path_points_at_the_pty(board: McuBoard) -> None:
    assert board.path.name == "mcu1" and board.path.is_symlink()
    assert os.readlink(board.path).startswith("/dev/pts/")


async def test_board_sends_keepalive_with_hardware_capabilities(host: HostEnd) -> None:
    keepalive = (await host.expect("keep_alive")).keep_alive
    assert keepalive.hwcap_max_current == 32.0 and keepalive.hwcap_min_current == 6.0
    assert keepalive.hwcap_max_phase_count == 3 and keepalive.hwcap_min_phase_count == 1


async def test_plug_reports_state_b_and_the_cable(board: McuBoard, host: HostEnd) -> None:
    board.plug(cable_rating_a=20)
    await host.expect("cp_state", pb.STATE_B)
    await host.expect("pp_state", pb.STATE_20A)


async def test_relays_close_only_when_power_on_allowed_and_ev_requests(
    board: McuBoard, host: HostEnd
) -> None:
    board.plug()
    host.send(allow_power_on=True)
    await board.wait_for(lambda s: s.allow_power_on)
    assert not board.state.relays_closed  # EV in B: no PWM offered yet
    host.send(pwm_duty_cycle=1000)
    await host.expect("cp_state", pb.STATE_C)
    await host.expect("relais_state", True)
    assert board.state.current_a == pytest.approx(6.0)


async def test_relays_open_when_power_on_is_withdrawn(board: McuBoard, host: HostEnd) -> None:
    await charging(board, host)
    host.send(allow_power_on=False)
    state = await board.wait_for(lambda s: not s.relays_closed)
    assert state.current_a == 0.0
    assert state.changed_at["allow_power_on"] <= state.reported_at["relais_state"]


async def test_ev_pause_reports_b_on_the_wire_with_its_timestamp(board: McuBoard, host: HostEnd) -> None:
    await charging(board, host)
    board.ev_pause()
    last_two = [entry[1:] for entry in list(board.state.sent_log)[-2:]]
    assert last_two == [("cp_state", pb.STATE_B), ("relais_state", False)]
    assert not board.state.relays_closed  # MCU-side safety: EV no longer requests
    await host.expect("cp_state", pb.STATE_B)
    board.ev_resume()
    await host.expect("relais_state", True)


async def test_c_to_b_on_the_wire_to_power_off_is_measurable(board: McuBoard, host: HostEnd) -> None:
    await charging(board, host)
    board.ev_pause()
    await host.expect("cp_state", pb.STATE_B)
    host.send(allow_power_on=False)
    state = await board.wait_for(lambda s: s.allow_power_on is False)
    b_on_wire_at = state.reported_at["cp_state"]
    assert 0 < state.changed_at["allow_power_on"] - b_on_wire_at < 1.0
    await host.expect("keep_alive")
    await host.expect("keep_alive")  # periodic repeats of state B do not move its time
    assert board.state.reported_at["cp_state"] == b_on_wire_at


async def test_current_follows_the_offered_duty_up_to_the_ev_maximum(board: McuBoard, host: HostEnd) -> None:
    await charging(board, host, duty_0_01pct=1600)
    assert board.state.current_a == pytest.approx(9.6)
    host.send(pwm_duty_cycle=5000)
    await board.wait_for(lambda s: s.current_a == 16)
    board.set_ev_max_current(10)
    assert board.state.current_a == 10


async def test_duty_zero_is_reported_as_state_f(board: McuBoard, host: HostEnd) -> None:
    board.plug()
    host.send(pwm_duty_cycle=0)
    await host.expect("cp_state", pb.STATE_F)


@pytest.mark.parametrize(
    ("kind", "flag"),
    [
        ("rcd", "rcd_triggered"),
        ("diode", "diode_fault"),
        ("rcd_selftest", "rcd_selftest_failed"),
        ("cp_signal", "cp_signal_fault"),
        ("over_current", "over_current"),
    ],
)
async def test_fault_sets_its_flag_and_opens_the_relays(
    board: McuBoard, host: HostEnd, kind: str, flag: str
) -> None:
    await charging(board, host)
    await skip_older_reports(board, host)
    board.fault(kind)
    await host.expect("error_flags", where=lambda flags: getattr(flags, flag))
    await host.expect("relais_state", False)
    board.clear_fault()
    await host.expect("relais_state", True)


async def test_lock_follows_commands(board: McuBoard, host: HostEnd) -> None:
    host.send(connector_lock=True)
    await host.expect("lock_state", pb.LOCKED)
    host.send(connector_lock=False)
    await host.expect("lock_state", pb.UNLOCKED)


async def test_lock_failure_reports_connector_lock_failed(board: McuBoard, host: HostEnd) -> None:
    board.fault("lock_failure")
    host.send(connector_lock=True)
    await host.expect("error_flags", where=lambda flags: flags.connector_lock_failed)
    assert board.state.lock_state == pb.UNLOCKED


async def test_welded_relays_stay_reported_closed_after_power_off(board: McuBoard, host: HostEnd) -> None:
    await charging(board, host)
    board.fault("welded")
    host.send(allow_power_on=False)
    await board.wait_for(lambda s: s.allow_power_on is False)
    assert board.state.relays_closed
    await skip_older_reports(board, host)
    assert (await host.expect("relais_state")).relais_state


async def test_ventilation_fault_puts_ev_in_d_and_keeps_relays_open(board: McuBoard, host: HostEnd) -> None:
    board.fault("ventilation")
    board.plug()
    host.send(pwm_duty_cycle=1000)
    host.send(allow_power_on=True)
    await host.expect("cp_state", pb.STATE_D)
    await host.expect("error_flags", where=lambda flags: flags.ventilation_not_available)
    await board.wait_for(lambda s: s.allow_power_on)
    assert not board.state.relays_closed


async def test_silent_board_sends_nothing_but_still_records_commands(board: McuBoard, host: HostEnd) -> None:
    await host.expect("keep_alive")
    board.go_silent()
    await skip_older_reports(board, host)
    host.send(pwm_duty_cycle=2000)
    await board.wait_for(lambda s: s.pwm_duty_0_01pct == 2000)
    with pytest.raises(TimeoutError):
        await host.expect("keep_alive", timeout=4 * KEEPALIVE_S)
    board.resume_talking()
    await host.expect("keep_alive")


async def test_reset_reports_reset_and_withdraws_power(board: McuBoard, host: HostEnd) -> None:
    await charging(board, host)
    host.send(reset=True)
    assert (await host.expect("reset")).reset == pb.USER
    state = await board.wait_for(lambda s: s.resets == 1)
    assert not state.allow_power_on and not state.relays_closed and state.pwm_duty_0_01pct == 10000


async def test_vanish_removes_the_path_and_reappear_restores_it(board: McuBoard, host: HostEnd) -> None:
    old_target = os.readlink(board.path)
    board.vanish()
    assert not board.path.exists()
    assert device_gone(host.fd)
    board.reappear()
    assert board.path.is_symlink()
    new_host = HostEnd(board.path)
    try:
        new_host.send(keep_alive=pb.KeepAlive())
        await new_host.expect("keep_alive")
        await new_host.expect("cp_state")
    finally:
        new_host.close()
    assert old_target.startswith("/dev/pts/")


async def test_host_commands_are_logged_with_times(board: McuBoard, host: HostEnd) -> None:
    host.send(pwm_duty_cycle=1000)
    host.send(allow_power_on=True)
    host.send(allow_power_on=False)
    state = await board.wait_for(lambda s: len(s.host_log) == 3)
    assert [entry[1:] for entry in state.host_log] == [
        ("pwm_duty_cycle", 1000),
        ("allow_power_on", True),
        ("allow_power_on", False),
    ]
    times = [entry[0] for entry in state.host_log]
    assert times == sorted(times)
    assert state.changed_at["allow_power_on"] == times[2]


async def test_garbage_from_the_host_is_counted_by_the_board(board: McuBoard, host: HostEnd) -> None:
    os.write(host.fd, b"\x05\x01\x00" + os.urandom(50) + b"\x00")
    host.send(pwm_duty_cycle=3000)
    await board.wait_for(lambda s: s.pwm_duty_0_01pct == 3000)
    assert board.decoder_stats.frames_bad >= 1


async def test_wait_for_times_out_when_the_condition_never_holds(board: McuBoard) -> None:
    with pytest.raises(TimeoutError):
        await board.wait_for(lambda s: s.relays_closed, timeout=0.05)


async def test_unknown_fault_is_refused(board: McuBoard) -> None:
    with pytest.raises(ValueError):
        board.fault("gremlins")
