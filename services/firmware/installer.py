"""The installer and reboot commands (no bus here), and which firmware version runs.

The installer runs detached (a session of its own, so neither a service stop nor supervisord's group kill
reaches it) under a small `sh` wrapper that writes `install.pid` first and `install.rc` (the exit status)
last into the job's work directory. A service process that stops or dies while it runs is replaced by one
that adopts it: it waits for `install.rc` while that pid lives in the same boot, and counts an installer
that vanished without an rc file as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

POLL_S = 0.2
_EXTENSIONS = {".raucb", ".swu", ".mender", ".bin", ".img", ".tar", ".gz", ".tgz", ".xz", ".bz2", ".zst", ".zip"}
_VERSION = re.compile(r"(?<![0-9])(\d+(?:\.\d+)+(?:[-+~][0-9A-Za-z.+~-]*[0-9A-Za-z])?)")


class CommandError(Exception):
    """The configured command cannot be rendered (an unknown {placeholder})."""


def target_version(location: str) -> str | None:
    """The version an image carries: `?version=` in its URL, else a "1.2.3"-like part of its file name."""
    parts = urlsplit(location)
    asked = parse_qs(parts.query).get("version")
    if asked and asked[0].strip():
        return asked[0].strip()
    stem = unquote(parts.path.rsplit("/", 1)[-1])
    while Path(stem).suffix.lower() in _EXTENSIONS:
        stem = stem[: -len(Path(stem).suffix)]
    found = _VERSION.search(stem)
    return found.group(1) if found else None


def render(template: str, *, bundle: Path, version: str | None) -> str:
    """The command line: `{bundle}` and `{version}` replaced by shell-quoted values."""
    try:
        return template.format(bundle=shlex.quote(str(bundle)), version=shlex.quote(version or ""))
    except (KeyError, IndexError, ValueError) as exc:
        raise CommandError(f"bad command template {template!r}: {exc}") from None


class Installer:
    """The installer run of one job, started here or adopted from an earlier process."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = Path(work_dir)
        self.pid_file = self.work_dir / "install.pid"
        self.rc_file = self.work_dir / "install.rc"
        self.log_file = self.work_dir / "install.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, command: str) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.pid_file, self.rc_file):
            path.unlink(missing_ok=True)
        q = {name: shlex.quote(str(path)) for name, path in
             (("pid", self.pid_file), ("rc", self.rc_file), ("log", self.log_file))}
        script = (f"echo $$ > {q['pid']}; ( {command} ) > {q['log']} 2>&1; echo $? > {q['rc']}.tmp;"
                  f" mv {q['rc']}.tmp {q['rc']}")
        self.proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", script, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)

    def exit_status(self) -> int | None:
        try:
            return int(self.rc_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    async def wait(self, *, same_boot: bool = True) -> int | None:
        """The installer's exit status; None when it died without one (killed, power lost, machine rebooted)."""
        if self.proc is not None:
            await self.proc.wait()
            return self.exit_status()
        while True:  # adopted: not our child, so its end is only visible in the files it leaves
            status = self.exit_status()
            if status is not None or not same_boot:
                return status
            if not self.alive():
                return self.exit_status()
            await asyncio.sleep(POLL_S)

    def output_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


async def run_reboot(command: str, log_file: Path, timeout_s: float = 60.0) -> int | None:
    """Run the reboot command detached; its exit status, or None while it is still running after timeout_s
    (a reboot command may block until the machine goes down)."""
    with open(log_file, "ab") as log:
        proc = await asyncio.create_subprocess_shell(
            command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(proc.wait(), timeout_s)
    return None
