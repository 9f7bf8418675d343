"""Problems of this process that a person must see: a corrupt database set aside, a disk running full.

Each process keeps its own list; the service runtime sends it in every heartbeat (and beats at once when it
changes: `on_change`), the broker keeps it in the liveness table, and `reonctl status` prints it. A problem is
keyed, so it is reported once and cleared once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("station.health")

#: Below this much free space in the data directory the station refuses new transactions (their records
#: could not be written) and reports a fault; transactions already running go on and are recorded.
LOW_DISK_BYTES = 20 * 1024 * 1024

_problems: dict[str, str] = {}
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener()` after a problem is set, changed or cleared (in the thread that did it); returns the
    function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def report(key: str, text: str, *, logged: bool = False) -> None:
    """Set a problem (logged here when it is new or changed, unless the caller has `logged` it)."""
    changed = _problems.get(key) != text
    if changed and not logged:
        log.warning("%s", text)
    _problems[key] = text
    if changed:
        _changed()


def clear(key: str) -> None:
    if _problems.pop(key, None) is not None:
        log.info("cleared: %s", key)
        _changed()


def _changed() -> None:
    for listener in list(_listeners):
        listener()


def problems() -> list[str]:
    """The current problems of this process, in the order they were first reported."""
    return list(_problems.values())


def free_bytes(path: Path) -> int | None:
    """Free space for this user on the file system of `path`, or None when it cannot be read."""
    try:
        st = os.statvfs(path)  # what shutil.disk_usage reads, without shutil's bz2/lzma/zlib imports
        return st.f_bavail * st.f_frsize
    except OSError:
        return None


def check_disk(data_dir: Path, low_bytes: int | None = None) -> bool:
    """Report or clear `disk` for the data directory; True while there is room for new records."""
    low_bytes = LOW_DISK_BYTES if low_bytes is None else low_bytes
    free = free_bytes(data_dir)
    if free is None and not os.path.isdir(data_dir):
        return True  # not made yet: the first database open will say what is wrong
    if free is not None and free >= low_bytes:
        clear("disk")
        return True
    shown = "unknown" if free is None else f"{free / 1e6:.1f} MB"
    report("disk", f"low disk: {shown} free in {data_dir} (needs {low_bytes / 1e6:.0f} MB);"
                   " new transactions are refused")
    return False
