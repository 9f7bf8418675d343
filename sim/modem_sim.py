"""A cellular modem on a pseudo-terminal, answering AT commands as Quectel, SIMCom, u-blox or a generic modem.

The host opens `<dir>/modem`, a symlink to the pty slave. A USB re-enumeration is simulated by removing
the link and closing the pty (`vanish`), then creating a fresh pty behind the same link (`reappear`).
After power-up and `reset()` the modem echoes commands until ATE0 and answers a bare ERROR until AT+CMEE.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sim.pty_port import PtyPort

_ERROR_TEXTS = {
    3: "operation not allowed",
    10: "SIM not inserted",
    11: "SIM PIN required",
    16: "incorrect password",
}


@dataclass(frozen=True)
class ModemProfile:
    """What one modem model says about itself, and the command it answers with the ICCID."""

    name: str
    ati_lines: tuple[str, ...]
    cgmr_lines: tuple[str, ...]
    imei_line: str  # the AT+CGSN reply line
    iccid_command: str | None  # None: only AT+CRSM reads the ICCID
    iccid_prefix: str
    iccid: str
    imsi: str = "262019876543210"


QUECTEL_EC25 = ModemProfile(
    name="quectel",
    ati_lines=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
    cgmr_lines=("EC25EFAR06A06M4G",),
    imei_line="866758040123456",
    iccid_command="AT+QCCID",
    iccid_prefix="+QCCID: ",
    iccid="8949022100012345678F",
)
SIMCOM_SIM7600 = ModemProfile(
    name="simcom",
    ati_lines=(
        "Manufacturer: SIMCOM INCORPORATED",
        "Model: SIMCOM_SIM7600E-H",
        "Revision: SIM7600M22_V2.0",
        "IMEI: 867584030123457",
        "+GCAP: +CGSM,+FCLASS,+DS",
    ),
    cgmr_lines=("+CGMR: LE20B04SIM7600M22",),
    imei_line="+CGSN: 867584030123457",
    iccid_command="AT+CICCID",
    iccid_prefix="+ICCID: ",
    iccid="89883030000005A1B2C3",
)
UBLOX_SARA = ModemProfile(
    name="ublox",
    ati_lines=("Manufacturer: u-blox", "Model: SARA-R410M-02B", "Revision: L0.0.00.00.05.08"),
    cgmr_lines=("L0.0.00.00.05.08",),
    imei_line="352753090123458",
    iccid_command="AT+CCID",
    iccid_prefix="+CCID: ",
    iccid="89462046044000123456",
)
GENERIC = ModemProfile(
    name="generic",
    ati_lines=("Acme Wireless", "AW100"),
    cgmr_lines=("AW100_1.0.4",),
    imei_line="490154203237518",
    iccid_command=None,
    iccid_prefix="",
    iccid="8931440400012345670F",
)
PROFILES = {profile.name: profile for profile in (QUECTEL_EC25, SIMCOM_SIM7600, UBLOX_SARA, GENERIC)}


def nibble_swap(hex_text: str) -> str:
    """EF_ICCID stores each digit pair low nibble first: "8949..." is stored as bytes 98 94 ..."""
    return "".join(hex_text[i + 1] + hex_text[i] for i in range(0, len(hex_text), 2))


class ModemSim:
    """The simulated modem; `start()` and every control are called from the running event loop."""

    def __init__(
        self, directory: str | Path, profile: ModemProfile = QUECTEL_EC25, *, registration_stat: int = 1
    ) -> None:
        self.path = Path(directory) / "modem"
        self.profile = profile
        self.sim_present = True
        self.pin: str | None = None  # the PIN the SIM asks for; None: no PIN
        self.registration_stat = registration_stat
        self.rssi = 20
        self.operator: str | None = "REWATT Mobile"
        self.act = 7
        self.silent = False
        self.commands: list[tuple[float, str]] = []  # (monotonic time, command) as received
        self._port = PtyPort(self.path, self._on_data)
        self._buffer = bytearray()
        self._next_reply_inserts: list[bytes] = []
        self._changed = asyncio.Event()
        self._power_up()

    # -- life ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._port.open()

    def close(self) -> None:
        self._port.close()

    def _power_up(self) -> None:
        self.echo = True
        self.cmee = 0
        self.creg_n = 0
        self.cereg_n = 0
        self.pin_entered = False

    # -- controls -----------------------------------------------------------------------------------

    def set_sim_present(self, present: bool) -> None:
        self.sim_present = present

    def require_pin(self, pin: str | None) -> None:
        self.pin, self.pin_entered = pin, False

    def set_registration(self, stat: int) -> None:
        """27.007 <stat> (0 not registered, 1 home, 2 searching, 3 denied, 5 roaming); URCs where enabled."""
        self.registration_stat = stat
        if self.creg_n:
            self.send_urc(f"+CREG: {stat}")
        if self.cereg_n:
            self.send_urc(f"+CEREG: {stat}")

    def set_signal(self, rssi: int) -> None:
        """The +CSQ <rssi> (0..31, 99 unknown)."""
        self.rssi = rssi

    def set_operator(self, name: str | None, act: int = 7) -> None:
        self.operator, self.act = name, act

    def set_echo(self, on: bool) -> None:
        self.echo = on

    def go_silent(self, silent: bool = True) -> None:
        """A hung modem: commands are read (and recorded) but get no echo and no reply."""
        self.silent = silent

    def send_urc(self, line: str) -> None:
        self.send_raw(f"\r\n{line}\r\n".encode())

    def send_raw(self, data: bytes) -> None:
        self._write(data)

    def inject_in_next_reply(self, data: bytes) -> None:
        """Raw bytes to put after the first line of the next reply (before its final code if it has none)."""
        self._next_reply_inserts.append(data)

    def inject_urc_in_next_reply(self, line: str) -> None:
        self.inject_in_next_reply(f"\r\n{line}\r\n".encode())

    def reset(self) -> None:
        """A modem reboot: settings back to power-up, RDY and the SIM state reported."""
        self._power_up()
        self.send_urc("RDY")
        if self.sim_present:
            self.send_urc("+CPIN: SIM PIN" if self.pin else "+CPIN: READY")

    def vanish(self) -> None:
        """The USB device disappears: link removed, pty closed."""
        self.close()

    def reappear(self) -> None:
        """The USB device enumerates again behind the same path, freshly powered up."""
        self._power_up()
        self._buffer.clear()
        self.start()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Wait until `predicate()` holds; checked after every command the modem receives."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await self._changed.wait()

    # -- the AT interpreter -------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        self._buffer.extend(data)
        while b"\r" in self._buffer:
            raw, _, rest = bytes(self._buffer).partition(b"\r")
            self._buffer[:] = rest
            self._on_command(raw.decode("ascii", "replace").strip())
        if len(self._buffer) > 4096:
            self._buffer.clear()

    def _on_command(self, command: str) -> None:
        if not command:
            return
        self.commands.append((time.monotonic(), command))
        if not self.silent:
            self._reply(command)
        self._changed.set()
        self._changed = asyncio.Event()

    def _reply(self, command: str) -> None:
        if self.echo:
            self._write(command.encode() + b"\r")
        lines, final = self._answer(command)
        chunks = [f"\r\n{line}\r\n".encode() for line in lines]
        if self._next_reply_inserts:
            chunks[1:1] = self._next_reply_inserts
            self._next_reply_inserts = []
        self._write(b"".join(chunks) + f"\r\n{final}\r\n".encode())

    def _error(self, code: int) -> str:
        if self.cmee == 1:
            return f"+CME ERROR: {code}"
        if self.cmee == 2:
            return f"+CME ERROR: {_ERROR_TEXTS.get(code, 'unknown')}"
        return "ERROR"

    def _answer(self, command: str) -> tuple[list[str], str]:
        upper = command.upper()
        exact: dict[str, Callable[[], tuple[list[str], str]]] = {
            "AT": lambda: ([], "OK"),
            "ATI": lambda: (list(self.profile.ati_lines), "OK"),
            "AT+CGMR": lambda: (list(self.profile.cgmr_lines), "OK"),
            "AT+CGSN": lambda: ([self.profile.imei_line], "OK"),
            "AT+CPIN?": self._cpin,
            "AT+CIMI": lambda: self._with_sim(lambda: [self.profile.imsi], needs_pin=True),
            "AT+CSQ": lambda: ([f"+CSQ: {self.rssi},99"], "OK"),
            "AT+COPS?": self._cops,
            "AT+CREG?": lambda: ([f"+CREG: {self.creg_n},{self._stat()}"], "OK"),
            "AT+CEREG?": lambda: ([f"+CEREG: {self.cereg_n},{self._stat()}"], "OK"),
        }
        if upper in exact:
            return exact[upper]()
        if upper in ("ATE", "ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            return [], "OK"
        if upper == self.profile.iccid_command:
            return self._with_sim(lambda: [self.profile.iccid_prefix + self.profile.iccid], needs_pin=False)
        if upper.startswith("AT+CRSM="):
            return self._crsm(upper.removeprefix("AT+CRSM="))
        if upper.startswith("AT+CPIN="):
            return self._enter_pin(command[len("AT+CPIN=") :].strip('"'))
        for setting, attribute in (("AT+CMEE=", "cmee"), ("AT+CREG=", "creg_n"), ("AT+CEREG=", "cereg_n")):
            if upper.startswith(setting) and upper.removeprefix(setting) in ("0", "1", "2"):
                setattr(self, attribute, int(upper.removeprefix(setting)))
                return [], "OK"
        return [], "ERROR"

    def _stat(self) -> int:
        return self.registration_stat if self._sim_usable() else 0

    def _sim_usable(self) -> bool:
        return self.sim_present and (self.pin is None or self.pin_entered)

    def _with_sim(self, lines: Callable[[], list[str]], *, needs_pin: bool) -> tuple[list[str], str]:
        if not self.sim_present:
            return [], self._error(10)
        if needs_pin and not self._sim_usable():
            return [], self._error(11)
        return lines(), "OK"

    def _cpin(self) -> tuple[list[str], str]:
        if not self.sim_present:
            return [], self._error(10)
        return ["+CPIN: READY" if self._sim_usable() else "+CPIN: SIM PIN"], "OK"

    def _enter_pin(self, pin: str) -> tuple[list[str], str]:
        if not self.sim_present:
            return [], self._error(10)
        if self.pin is None or self.pin_entered:
            return [], self._error(3)
        if pin != self.pin:
            return [], self._error(16)
        self.pin_entered = True
        return [], "OK"

    def _cops(self) -> tuple[list[str], str]:
        if self._stat() in (1, 5) and self.operator:
            return [f'+COPS: 0,0,"{self.operator}",{self.act}'], "OK"
        return ["+COPS: 0"], "OK"

    def _crsm(self, args: str) -> tuple[list[str], str]:
        """READ BINARY (176) of EF_ICCID (12258) only."""
        if [a.strip() for a in args.split(",")][:2] != ["176", "12258"]:
            return [], self._error(3)
        return self._with_sim(lambda: [f'+CRSM: 144,0,"{nibble_swap(self.profile.iccid)}"'], needs_pin=False)

    def _write(self, data: bytes) -> None:
        self._port.write(data)  # host not reading (buffer full) or gone: the bytes are lost, as on a wire


async def _serve(directory: Path, profile: ModemProfile) -> None:
    sim = ModemSim(directory, profile)
    sim.start()
    print(f"{profile.name} modem on {sim.path}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated cellular modem on a pseudo-terminal")
    parser.add_argument("--dir", type=Path, required=True, help="directory for the 'modem' symlink")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quectel")
    args = parser.parse_args()
    asyncio.run(_serve(args.dir, PROFILES[args.profile]))


if __name__ == "__main__":
    main()
