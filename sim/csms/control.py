"""Control interface of the development CSMS for other processes (reonctl, tests, a person with socat).

A unix stream socket; one JSON object per line in, one per line out, in the bus reply shape:
    {"cmd": "stations"}                                        -> {"ok": true, "result": ["CS01"]}
    {"cmd": "call", "station": "CS01", "action": "Reset", "payload": {"type": "Immediate"},
     "timeout": 30, "validate": true}                         -> {"ok": true, "result": {...}}
    {"cmd": "messages", "station": "CS01", "action": "BootNotification", "since": 0}
    {"cmd": "set_boot_response", "status": "Pending", "interval": 10, "station": null}
    {"cmd": "set_token", "id_token": "ABC", "status": "Blocked", "group_id": null}
    {"cmd": "tokens"}                                          -> {"ABC": {"status": "Blocked"}}
    {"cmd": "transactions", "station": "CS01"}                 -> [{"transaction_id": ..., "seq_nos": [...]}]
    {"cmd": "set_password", "passwords": ["..."], "station": null}
    {"cmd": "send_raw", "station": "CS01", "text": "[2,\"1\",\"Reset\",{}]"}
    {"cmd": "disconnect", "station": "CS01"}
    {"cmd": "reserve", "station": "CS01", "id_token": "04A1B2C3", "evse": 1, "minutes": 15}
                                                               -> {"request": {...}, "response": {...}}
    {"cmd": "cancel_reservation", "station": "CS01", "reservation_id": 7} -> {"status": "Accepted"}
    {"cmd": "charging_profile", "station": "CS01", "evse": 1, "periods": "0:32,600:10", "id": 1,
     "purpose": "TxProfile", "stack_level": 0, "unit": "A", "transaction_id": "...", "relative": false}
                                                               -> the SetChargingProfileResponse (profiles.py)
    {"cmd": "client_certificate", "station": "CS01"}           -> "commonName=SN-1" (verified; None: none)
Errors: {"ok": false, "error": {"code": "...", "message": "...", "details": {...}}}; the code is the
station's CALLERROR code, or BadRequest / NotConnected / Timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from typing import Any

from sim.csms.policy import CsmsCallError, StationNotConnected
from sim.csms.profiles import parse_periods, set_charging_profile
from sim.csms.reservations import reserve_now_request
from sim.csms.server import DevCsms

log = logging.getLogger("sim.csms.control")
LINE_LIMIT_BYTES = 8 * 1024 * 1024


class BadRequest(Exception):
    """The request line is not a command this interface knows."""


class ControlServer:
    """Serves the control commands of one DevCsms on a unix socket path."""

    def __init__(self, csms: DevCsms, path: str) -> None:
        self.csms = csms
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> ControlServer:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve_client, self.path, limit=LINE_LIMIT_BYTES)
        os.chmod(self.path, 0o600)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self.handle_line(line)
                writer.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as exc:  # ValueError: a line over the limit
            log.warning("control client dropped: %s", exc)
        finally:
            writer.close()

    async def handle_line(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise BadRequest("a request is a JSON object")
            return {"ok": True, "result": await self._dispatch(request)}
        except (ValueError, BadRequest, KeyError, TypeError) as exc:
            return _error("BadRequest", str(exc))
        except CsmsCallError as exc:
            return _error(exc.code, exc.description, exc.details)
        except StationNotConnected as exc:
            return _error("NotConnected", str(exc))
        except TimeoutError:
            return _error("Timeout", "no reply from the station in time")
        except Exception as exc:  # e.g. the station's socket closed mid-call
            log.exception("control command failed")
            return _error("InternalError", f"{type(exc).__name__}: {exc}")

    async def _dispatch(self, request: dict[str, Any]) -> Any:
        csms, cmd = self.csms, request.get("cmd")
        if cmd == "stations":
            return csms.stations
        if cmd == "call":
            return await csms.call(request["station"], request["action"], request.get("payload", {}),
                                   timeout_s=request.get("timeout"), validate=request.get("validate", True))
        if cmd == "charging_profile":
            try:
                payload = set_charging_profile(
                    int(request["evse"]), parse_periods(str(request["periods"])), profile_id=int(request.get("id", 1)),
                    purpose=request.get("purpose", "TxDefaultProfile"), stack_level=int(request.get("stack_level", 0)),
                    unit=request.get("unit", "A"), transaction_id=request.get("transaction_id"),
                    relative=bool(request.get("relative")))
            except (ValueError, TypeError) as exc:
                raise BadRequest(f"charging_profile: {exc}") from None
            return await csms.call(request["station"], "SetChargingProfile", payload)
        if cmd == "messages":
            records = csms.messages(request["station"], request.get("action"), int(request.get("since", 0)))
            return [record.to_json() for record in records]
        if cmd == "set_boot_response":
            csms.set_boot_response(request.get("status", "Accepted"), int(request.get("interval", 300)),
                                   request.get("station"))
            return None
        if cmd == "set_token":
            csms.set_token(request["id_token"], request.get("status", "Accepted"), request.get("group_id"))
            return None
        if cmd == "tokens":
            return csms.policy.tokens
        if cmd == "transactions":
            return csms.transactions(request["station"])
        if cmd == "set_password":
            csms.set_password(*request["passwords"], station_id=request.get("station"))
            return None
        if cmd == "send_raw":
            await csms.send_raw(request["station"], request["text"])
            return None
        if cmd == "client_certificate":
            return csms.client_certificates.get(request["station"])
        if cmd == "disconnect":
            await csms.disconnect(request["station"])
            return None
        if cmd == "reserve":
            payload = reserve_now_request(
                request["id_token"], evse_id=request.get("evse"), minutes=float(request.get("minutes", 15)),
                reservation_id=request.get("reservation_id"), group_id=request.get("group_id"),
                connector_type=request.get("connector_type"))
            response = await csms.call(request["station"], "ReserveNow", payload)
            return {"request": payload, "response": response}
        if cmd == "cancel_reservation":
            return await csms.call(request["station"], "CancelReservation",
                                   {"reservationId": int(request["reservation_id"])})
        raise BadRequest(f"unknown cmd {cmd!r}")


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "details": details or {}}}


def request(path: str, command: dict[str, Any], timeout_s: float = 40.0) -> dict[str, Any]:
    """Send one command and return the reply (blocking; for reonctl and scripts)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(json.dumps(command).encode() + b"\n")
        with sock.makefile("rb") as replies:
            return json.loads(replies.readline())


async def request_async(path: str, command: dict[str, Any], timeout_s: float = 40.0) -> dict[str, Any]:
    """Send one command and return the reply (asyncio)."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_unix_connection(path, limit=LINE_LIMIT_BYTES)
        try:
            writer.write(json.dumps(command).encode() + b"\n")
            await writer.drain()
            return json.loads(await reader.readline())
        finally:
            writer.close()
