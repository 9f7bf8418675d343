"""Leave TLS out of a program's event loop: asyncio imports `ssl` (OpenSSL, ~5 MB RSS per process) even when
the program never opens a TLS connection.

`services/__init__.py` — the first module every service program runs — calls `apply()`. When the program's
environment says `REON_ASYNCIO_TLS=0` (set by supervisord from `station.programs`, for the programs whose
event loop never speaks TLS), asyncio is imported while `ssl` is hidden, so it binds `ssl = None`; `ssl` stays
importable afterwards for blocking clients that need it (http.client, ftplib in a worker thread). Elsewhere
(tests, tools, the OCPP client) it does nothing.
"""

from __future__ import annotations

import os
import sys

ENV = "REON_ASYNCIO_TLS"


def apply() -> bool:
    """Import asyncio without ssl when the environment asks for it and neither is loaded yet; True if done."""
    if os.environ.pop(ENV, None) != "0" or "asyncio" in sys.modules or "ssl" in sys.modules:
        return False  # (popped: a program this one starts decides for itself)
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError: asyncio sets ssl=None
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
    return True
