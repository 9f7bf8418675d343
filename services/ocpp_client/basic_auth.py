"""HTTP Basic authentication of the station at the CSMS (part 2 A00, security profiles 1 and 2),
and the log filter that keeps the credentials out of every log line.
"""

from __future__ import annotations

import base64
import logging


def authorization_header(station_id: str, password: str) -> str:
    """`Basic base64(<station id>:<BasicAuthPassword>)`."""
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class HideAuthorization(logging.Filter):
    """websockets logs the handshake headers at DEBUG: never the Basic auth credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == "authorization":
            record.args = (args[0], "***")
        return True
