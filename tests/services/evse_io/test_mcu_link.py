"""The MCU link against the simulated board on a pty: keep-alive, commands, bad bytes, a vanishing port."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.evse_io import mcu_pb2 as pb
from services.evse_io.mcu_link import McuLink
from sim.mcu_board import McuBoard

KEEPALIVE_S = 0.1
TIMEOUT_S = 0.5


class Recorder:
    """Collects what the link reports; lets a test await the next matching report."""

    def __init__(self) -> None:
        self.links: asyncio.Queue[bool] = asyncio.Queue()
        self.messages: asyncio.Queue[pb.McuToEverest] = asyncio.Queue()
        self.sent: list[tuple[pb.EverestToMcu, float]] = []

    def on_link(self, up: bool) -> None:
        self.links.put_nowait(up)

    def on_message(self, message: pb.McuToEverest) -> None:
        self.messages.put_nowait(message)

    def on_sent(self, message: pb.EverestToMcu, sent_at: float) -> None:
        self.sent.append((message, sent_at))

    async def link(self, up: bool, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while await self.links.get() is not up:
                pass

    async def message(self, kind: str, value: object = None, timeout: float = 2.0) -> pb.McuToEverest:
        async with asyncio.timeout(timeout):
            while True:
                message = await self.messages.get()
                if message.WhichOneof("payload") == kind and (
                    value is None or getattr(message, kind) == value
                ):
                    return message


def make_link(path: Path, recorder: Recorder, **kwargs: object) -> McuLink:
    options: dict = {
        "on_message": recorder.on_message,
        "on_link": recorder.on_link,
        "on_sent": recorder.on_sent,
        "keepalive_interval_s": KEEPALIVE_S,
        "keepalive_timeout_s": TIMEOUT_S,
        "reopen_min_s": 0.05,
        "reopen_max_s": 0.4,
    }
    options.update(kwargs)
    return McuLink(1, str(path), **options)


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[McuBoard]:
    mcu = McuBoard(1, tmp_path, keepalive_interval_s=KEEPALIVE_S)
    await mcu.start()
    yield mcu
    await mcu.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def link(board: McuBoard, recorder: Recorder) -> AsyncIterator[McuLink]:
    mcu_link = make_link(board.path, recorder)
    await mcu_link.start()
    await recorder.link(True)
    yield mcu_link
    await mcu_link.stop()


async def test_link_comes_up_when_the_mcu_keepalive_arrives(board: McuBoard, recorder: Recorder) -> None:
    link = make_link(board.path, recorder)
    assert not link.link_up
    await link.start()
    try:
        await recorder.link(True)
        assert link.link_up and link.port_open
        assert link.mcu_keepalive is not None
        assert link.mcu_keepalive.hwcap_max_current == 32.0
        assert link.mcu_keepalive.hwcap_min_current == 6.0
    finally:
        await link.stop()


async def test_board_state_is_reported_after_link_opens(link: McuLink, recorder: Recorder) -> None:
    assert (await recorder.message("cp_state")).cp_state == pb.STATE_A
    assert (await recorder.message("lock_state")).lock_state == pb.UNLOCKED


async def test_link_goes_down_after_keepalive_silence(
    link: McuLink, board: McuBoard, recorder: Recorder
) -> None:
    silent_at = time.monotonic()
    board.go_silent()
    await recorder.link(False)
    silence_s = time.monotonic() - silent_at
    assert TIMEOUT_S - KEEPALIVE_S - 0.05 <= silence_s <= TIMEOUT_S + 0.3
    assert not link.link_up and link.port_open


async def test_link_comes_back_when_the_keepalive_resumes(
    board: McuBoard, link: McuLink, recorder: Recorder
) -> None:
    board.go_silent()
    await recorder.link(False)
    board.resume_talking()
    await recorder.link(True)
    assert link.link_up


async def test_host_keepalive_is_sent_every_interval(
    link: McuLink, board: McuBoard, recorder: Recorder
) -> None:
    def keepalive_times() -> list[float]:
        return [t for m, t in recorder.sent if m.WhichOneof("payload") == "keep_alive"]

    await board.wait_for(lambda s: len(keepalive_times()) >= 4, timeout=1.0)
    times = keepalive_times()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(KEEPALIVE_S * 0.5 <= gap <= KEEPALIVE_S * 3 for gap in gaps[-3:])


async def test_commands_reach_the_mcu(link: McuLink, board: McuBoard, recorder: Recorder) -> None:
    assert link.set_pwm_duty(1000)
    assert link.allow_power_on(True)
    assert link.lock(True)
    assert link.set_phases(False)
    state = await board.wait_for(
        lambda s: s.pwm_duty_0_01pct == 1000 and s.allow_power_on and s.lock_commanded and not s.three_phase
    )
    assert state.lock_state == pb.LOCKED
    kinds = [m.WhichOneof("payload") for m, _ in recorder.sent]
    assert {"pwm_duty_cycle", "allow_power_on", "connector_lock", "set_number_of_phases"} <= set(kinds)
    sent_at = {m.WhichOneof("payload"): t for m, t in recorder.sent}
    assert sent_at["allow_power_on"] <= state.changed_at["allow_power_on"]


async def test_reset_is_answered_with_a_reset_report(
    link: McuLink, board: McuBoard, recorder: Recorder
) -> None:
    link.set_pwm_duty(1000)
    await board.wait_for(lambda s: s.pwm_duty_0_01pct == 1000)
    assert link.reset()
    assert (await recorder.message("reset")).reset == pb.USER
    assert board.state.resets == 1 and board.state.pwm_duty_0_01pct == 10000


async def test_charging_round_trip_reports_states(link: McuLink, board: McuBoard, recorder: Recorder) -> None:
    board.plug()
    await recorder.message("cp_state", pb.STATE_B)
    link.set_pwm_duty(1600)  # 16 % = 9.6 A
    await recorder.message("cp_state", pb.STATE_C)
    link.allow_power_on(True)
    await recorder.message("relais_state", True)
    assert board.state.current_a == pytest.approx(9.6)
    board.ev_pause()
    await recorder.message("cp_state", pb.STATE_B)
    link.allow_power_on(False)
    await board.wait_for(lambda s: s.allow_power_on is False)


async def test_link_reopens_when_the_device_vanishes_and_reappears(
    link: McuLink, board: McuBoard, recorder: Recorder
) -> None:
    board.vanish()
    await recorder.link(False)
    assert not link.port_open
    assert not link.allow_power_on(False)  # nothing to write to
    board.reappear()
    await recorder.link(True)
    assert link.port_open
    assert link.stats.port_losses == 1 and link.stats.port_opens == 2
    board.plug()
    await recorder.message("cp_state", pb.STATE_B)
    link.set_pwm_duty(2000)
    await board.wait_for(lambda s: s.pwm_duty_0_01pct == 2000)


async def test_link_keeps_retrying_until_the_port_exists(tmp_path: Path, recorder: Recorder) -> None:
    board = McuBoard(7, tmp_path, keepalive_interval_s=KEEPALIVE_S)
    link = make_link(board.path, recorder)
    await link.start()
    try:
        await asyncio.sleep(0.2)  # let a few opening attempts fail: the port does not exist yet
        assert not link.port_open
        await board.start()
        await recorder.link(True)
    finally:
        await link.stop()
        await board.stop()


async def test_a_path_that_is_not_a_tty_is_retried_without_raising(
    tmp_path: Path, recorder: Recorder
) -> None:
    path = tmp_path / "not-a-tty"
    path.write_bytes(b"")
    link = make_link(path, recorder)
    await link.start()
    await asyncio.sleep(0.2)  # several failing attempts
    assert not link.port_open
    await link.stop()


async def test_garbage_from_the_mcu_is_counted_and_skipped(
    link: McuLink, board: McuBoard, recorder: Recorder
) -> None:
    board.send_garbage(os.urandom(300) + b"\x00")
    board.send_corrupt_crc_frame()
    board.send_partial_frame()
    board.send_frame(pb.McuToEverest(pp_state=pb.STATE_13A))  # spoilt by the partial frame
    board.send_frame(pb.McuToEverest(pp_state=pb.STATE_20A))
    await recorder.message("pp_state", pb.STATE_20A)
    assert link.frame_stats.bad_crc >= 1
    assert link.frame_stats.frames_bad >= 2
    assert link.link_up


async def test_a_raising_callback_does_not_stop_the_link(board: McuBoard, recorder: Recorder) -> None:
    def bad_callback(message: pb.McuToEverest) -> None:
        raise RuntimeError("callback bug")

    link = make_link(board.path, recorder, on_message=bad_callback)
    await link.start()
    try:
        await recorder.link(True)
        board.go_silent()
        await recorder.link(False)
        board.resume_talking()
        await recorder.link(True)
    finally:
        await link.stop()


async def test_pwm_duty_out_of_range_is_refused() -> None:
    link = McuLink(1, "/nonexistent")
    with pytest.raises(ValueError):
        link.set_pwm_duty(10001)
    assert not link.set_pwm_duty(500)  # port closed
    assert link.stats.frames_dropped_tx == 1
