"""The AT driver against the modem simulator on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from services.modem.at_modem import AtModem, Link, ModemError
from services.modem.at_parser import Registration, SimStatus, parse_registration
from sim.modem_sim import GENERIC, PROFILES, QUECTEL_EC25, ModemProfile, ModemSim

COMMAND_TIMEOUT_S = 0.3


@dataclasses.dataclass
class Rig:
    sim: ModemSim
    modem: AtModem
    urcs: asyncio.Queue[str]
    links: asyncio.Queue[bool]

    async def next_urc(self, prefix: str, timeout_s: float = 1.0) -> str:
        async with asyncio.timeout(timeout_s):
            while not (line := await self.urcs.get()).startswith(prefix):
                pass
        return line

    async def link_change(self, timeout_s: float = 1.0) -> bool:
        return await asyncio.wait_for(self.links.get(), timeout_s)

    def sent(self, command: str) -> bool:
        return any(sent == command for _, sent in self.sim.commands)


OpenRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def open_rig(tmp_path: Path) -> AsyncIterator[OpenRig]:
    rigs: list[Rig] = []

    async def factory(
        profile: ModemProfile = QUECTEL_EC25, *, registration_stat: int = 1, start_sim: bool = True
    ) -> Rig:
        sim = ModemSim(tmp_path, profile, registration_stat=registration_stat)
        if start_sim:
            sim.start()
        urcs: asyncio.Queue[str] = asyncio.Queue()
        links: asyncio.Queue[bool] = asyncio.Queue()
        modem = AtModem(
            str(sim.path),
            command_timeout_s=COMMAND_TIMEOUT_S,
            on_urc=urcs.put_nowait,
            on_link=links.put_nowait,
        )
        rig = Rig(sim, modem, urcs, links)
        rigs.append(rig)
        await modem.start()
        if start_sim:
            await modem.wait_ready(2.0)
            assert await rig.link_change() is True
        return rig

    yield factory
    for rig in rigs:
        await rig.modem.close()
        rig.sim.close()


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
async def test_each_vendor_reports_identity_and_iccid_as_the_sim_gives_it(
    open_rig: OpenRig, profile: ModemProfile
) -> None:
    rig = await open_rig(profile)
    info = await rig.modem.snapshot()
    assert info.link is Link.OK
    assert info.iccid == profile.iccid
    assert info.imei is not None and info.imei in profile.imei_line
    assert info.imsi == profile.imsi
    assert info.manufacturer is not None and info.model is not None and info.revision is not None
    assert info.sim_status is SimStatus.READY
    assert (info.registration, info.operator) == (Registration.HOME, "REWATT Mobile")
    assert info.access_technology == "LTE"
    assert info.signal_dbm == -73
    assert rig.sent(profile.iccid_command or "AT+CRSM=176,12258,0,0,10")


async def test_generic_modem_iccid_is_read_from_ef_iccid_with_crsm(open_rig: OpenRig) -> None:
    rig = await open_rig(GENERIC)
    info = await rig.modem.snapshot()
    assert info.iccid == "8931440400012345670F"
    assert not rig.sent("AT+QCCID") and rig.sent("AT+CRSM=176,12258,0,0,10")


async def test_vendor_iccid_command_refused_falls_back_to_crsm(open_rig: OpenRig) -> None:
    rig = await open_rig(dataclasses.replace(QUECTEL_EC25, iccid_command=None))
    info = await rig.modem.snapshot()
    assert rig.sent("AT+QCCID")
    assert info.iccid == QUECTEL_EC25.iccid


async def test_no_sim_gives_link_no_sim_without_iccid_or_imsi(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.set_sim_present(False)
    info = await rig.modem.snapshot()
    assert (info.link, info.sim_status) == (Link.NO_SIM, SimStatus.NOT_INSERTED)
    assert (info.iccid, info.imsi) == (None, None)
    assert info.registration is Registration.NOT_REGISTERED
    assert info.model == "EC25"


async def test_error_reply_raises_modem_error_with_the_cme_code(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.set_sim_present(False)
    with pytest.raises(ModemError) as caught:
        await rig.modem.command("AT+CIMI")
    assert caught.value.final is not None and caught.value.final.code == 10
    assert rig.modem.ready


async def test_pin_required_keeps_iccid_and_entering_pin_brings_imsi(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.require_pin("1234")
    locked = await rig.modem.snapshot()
    assert (locked.link, locked.sim_status) == (Link.NO_SIM, SimStatus.PIN_REQUIRED)
    assert (locked.iccid, locked.imsi) == (QUECTEL_EC25.iccid, None)
    await rig.modem.command('AT+CPIN="1234"')
    unlocked = await rig.modem.snapshot()
    assert (unlocked.link, unlocked.imsi) == (Link.OK, QUECTEL_EC25.imsi)


async def test_not_registered_then_registered_is_announced_by_urc(open_rig: OpenRig) -> None:
    rig = await open_rig(registration_stat=0)
    before = await rig.modem.snapshot()
    assert (before.link, before.registration) == (Link.OFFLINE, Registration.NOT_REGISTERED)
    assert before.operator is None
    rig.sim.set_registration(1)
    assert parse_registration(await rig.next_urc("+CEREG:")).registration is Registration.HOME
    after = await rig.modem.snapshot()
    assert (after.link, after.registration, after.operator) == (Link.OK, Registration.HOME, "REWATT Mobile")
    rig.sim.set_registration(5)
    assert parse_registration(await rig.next_urc("+CEREG:")).registration is Registration.ROAMING


async def test_urc_in_the_middle_of_a_reply_goes_to_the_callback_and_the_reply_stays_whole(
    open_rig: OpenRig,
) -> None:
    rig = await open_rig()
    rig.sim.inject_urc_in_next_reply("+QIND: SMS DONE")
    lines = await rig.modem.command("ATI", expect=("+GCAP:",))
    assert lines == list(QUECTEL_EC25.ati_lines)
    assert await rig.next_urc("+QIND:") == "+QIND: SMS DONE"


async def test_registration_urc_inside_a_registration_read_is_not_taken_as_the_reply(
    open_rig: OpenRig,
) -> None:
    rig = await open_rig()
    rig.sim.inject_urc_in_next_reply("+CEREG: 5")
    assert await rig.modem.command("AT+CEREG?", expect=("+CEREG:",)) == ["+CEREG: 1,1"]
    assert await rig.next_urc("+CEREG:") == "+CEREG: 5"


async def test_echo_left_on_is_tolerated(open_rig: OpenRig) -> None:
    rig = await open_rig()
    quiet = await rig.modem.snapshot()
    rig.sim.set_echo(True)
    assert await rig.modem.snapshot() == quiet
    assert rig.modem.stats.unexpected_lines == 0


async def test_garbage_and_over_long_lines_are_counted_and_skipped(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.send_raw(b"\xff\xfe\x00\x13\r\n")
    rig.sim.inject_in_next_reply(b"\r\n" + b"X" * 3000 + b"\r\n")
    rig.sim.inject_in_next_reply(b"\x80\x81garbage\r\n")
    assert await rig.modem.command("AT+CSQ", expect=("+CSQ:",)) == ["+CSQ: 20,99"]
    assert (rig.modem.stats.garbage_lines, rig.modem.stats.overlong_lines) == (2, 1)
    assert rig.modem.ready


async def test_commands_run_one_at_a_time(open_rig: OpenRig) -> None:
    rig = await open_rig()
    csq, cgsn, cops = await asyncio.gather(
        rig.modem.command("AT+CSQ", expect=("+CSQ:",)),
        rig.modem.command("AT+CGSN", expect=("+CGSN:",)),
        rig.modem.command("AT+COPS?", expect=("+COPS:",)),
    )
    assert (csq, cgsn, cops) == (["+CSQ: 20,99"], ["866758040123456"], ['+COPS: 0,0,"REWATT Mobile",7'])


async def test_unknown_signal_is_none(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.set_signal(99)
    assert (await rig.modem.snapshot()).signal_dbm is None


async def test_silent_modem_times_out_and_the_driver_recovers_when_it_answers(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.go_silent()
    with pytest.raises(ModemError) as caught:
        await rig.modem.command("AT")
    assert caught.value.final is None
    assert await rig.link_change() is False
    assert (await rig.modem.snapshot()).link is Link.ABSENT
    rig.sim.go_silent(False)
    await rig.modem.wait_ready(3.0)
    assert (await rig.modem.snapshot()).link is Link.OK
    assert rig.modem.stats.timeouts >= 1 and rig.modem.stats.reopens >= 1


async def test_port_that_vanishes_and_comes_back_is_reopened(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.vanish()
    assert await rig.link_change() is False
    assert (await rig.modem.snapshot()).link is Link.ABSENT
    rig.sim.reappear()
    await rig.modem.wait_ready(3.0)
    info = await rig.modem.snapshot()
    assert (info.link, info.iccid) == (Link.OK, QUECTEL_EC25.iccid)
    assert rig.modem.stats.reopens >= 1
    assert not rig.sim.echo and rig.sim.cmee == 2


async def test_port_absent_at_start_is_retried_and_opened_when_it_appears(open_rig: OpenRig) -> None:
    rig = await open_rig(start_sim=False)
    assert (await rig.modem.snapshot()).link is Link.ABSENT
    await asyncio.sleep(0.5)  # the scenario: no device for a while (first try, then 0.2 s and 0.4 s back-off)
    assert rig.modem.stats.open_failures >= 2
    rig.sim.start()
    await rig.modem.wait_ready(3.0)
    assert (await rig.modem.snapshot()).link is Link.OK


async def test_modem_reset_reruns_echo_off_and_verbose_errors(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.reset()
    assert await rig.next_urc("RDY") == "RDY"
    await rig.sim.wait_until(lambda: not rig.sim.echo and rig.sim.cmee == 2 and rig.sim.cereg_n == 1, 2.0)
    assert rig.modem.stats.resets == 1
    assert rig.modem.ready
    assert (await rig.modem.snapshot()).link is Link.OK


async def test_reset_during_a_command_fails_it_at_once_and_sets_the_modem_up_again(
    open_rig: OpenRig,
) -> None:
    rig = await open_rig()
    rig.sim.go_silent()
    pending = asyncio.create_task(rig.modem.command("AT+CSQ", expect=("+CSQ:",), timeout_s=5.0))
    await rig.sim.wait_until(lambda: rig.sent("AT+CSQ"), 1.0)
    rig.sim.go_silent(False)
    rig.sim.reset()
    with pytest.raises(ModemError, match="reset"):
        await asyncio.wait_for(pending, 1.0)
    await rig.sim.wait_until(lambda: not rig.sim.echo and rig.sim.cmee == 2, 2.0)
    assert await rig.modem.command("AT+CSQ", expect=("+CSQ:",)) == ["+CSQ: 20,99"]
    assert rig.modem.stats.timeouts == 0


async def test_failing_urc_callback_does_not_break_the_driver(tmp_path: Path) -> None:
    sim = ModemSim(tmp_path)
    sim.start()

    def broken_callback(line: str) -> None:
        raise RuntimeError(line)

    modem = AtModem(str(sim.path), command_timeout_s=COMMAND_TIMEOUT_S, on_urc=broken_callback)
    try:
        await modem.start()
        await modem.wait_ready(2.0)
        sim.inject_urc_in_next_reply("+QIND: SMS DONE")
        assert await modem.command("AT+CSQ", expect=("+CSQ:",)) == ["+CSQ: 20,99"]
    finally:
        await modem.close()
        sim.close()
