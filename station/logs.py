"""Logging to stdout for supervisord: readable lines by default, JSON lines with --log-format json; a filter that
keeps HTTP Basic credentials out of websockets' handshake logs (the station's CSMS link and the development CSMS)."""

from __future__ import annotations

import json
import logging
import sys
import time


class HideAuthorization(logging.Filter):
    """websockets logs the handshake headers at DEBUG: never the Basic auth credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == "authorization":
            record.args = (args[0], "***")
        return True


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "service": self.service,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(service: str, fmt: str = "text", level: int = logging.INFO) -> None:
    """Configure the root logger once for a service process."""
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter(service))
    else:
        formatter = logging.Formatter(f"%(asctime)s.%(msecs)03d {service} %(levelname)s %(message)s",
                                      "%Y-%m-%d %H:%M:%S")
        handler.setFormatter(formatter)
    # no formatter here shows threads, processes or source lines: skip gathering them for every record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # the logging HOWTO's switch-off of the caller lookup
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("websockets", "pymodbus", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
