"""The bus envelope: every message on the bus is one msgpack map with these fields.

Unknown fields are ignored on decode, so contracts can grow without breaking older peers.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgpack

MAX_MESSAGE_BYTES = 256 * 1024
KINDS = ("state", "evt", "hb", "cmd", "reply")
# one Packer for the process, reused: packb builds a new one per call. Its pack() holds the GIL from start
# to end (no `default` hook calls back into Python) and resets its buffer on error, so threads may share it.
_PACKER = msgpack.Packer(use_bin_type=True)


class BadMessage(ValueError):
    """A frame that is not a valid envelope; `reason` is a short stable label for counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: who sent it (src, session, seq), when (ts, UTC seconds), what (kind, name, body)."""

    msg_id: str
    src: str
    session: str
    seq: int
    ts: float
    kind: str
    name: str
    body: Any = None
    parent_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


_FIELD_SETTERS = tuple(Envelope.__dict__[name].__set__ for name in (
    "msg_id", "src", "session", "seq", "ts", "kind", "name", "body", "parent_id", "extra"))


def _envelope(msg_id: str, src: str, session: str, seq: int, ts: float, kind: str, name: str, body: Any,
              parent_id: str | None, extra: dict[str, Any], _new: Any = object.__new__,
              _set: tuple[Any, ...] = _FIELD_SETTERS) -> Envelope:
    """An Envelope without the frozen dataclass's __init__ (one object.__setattr__ call per field): the bus
    makes one per message on each side. The same object, equal to one made by Envelope(...)."""
    env = _new(Envelope)
    _set[0](env, msg_id), _set[1](env, src), _set[2](env, session), _set[3](env, seq), _set[4](env, ts)
    _set[5](env, kind), _set[6](env, name), _set[7](env, body), _set[8](env, parent_id), _set[9](env, extra)
    return env


def new_id() -> str:
    return uuid.uuid4().hex


def new_session() -> str:
    """A session id, new at every process start: pid plus random, readable in logs."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def encode(env: Envelope) -> bytes:
    data: dict[str, Any] = {
        "msg_id": env.msg_id,
        "src": env.src,
        "session": env.session,
        "seq": env.seq,
        "ts": env.ts,
        "kind": env.kind,
        "name": env.name,
        "body": env.body,
    }
    if env.parent_id is not None:
        data["parent_id"] = env.parent_id
    raw = _PACKER.pack(data)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage("oversized", f"{len(raw)} bytes > {MAX_MESSAGE_BYTES}")
    return raw


_STR_FIELDS = ("msg_id", "src", "session", "kind", "name")
_KNOWN = frozenset((*_STR_FIELDS, "seq", "ts", "body", "parent_id"))
_KIND_SET = frozenset(KINDS)


def check(raw: bytes) -> dict[str, Any]:
    """Validate one envelope and return it as a plain map; raise BadMessage (the broker's hot path)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage("oversized", f"{len(raw)} bytes")
    try:
        data = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise BadMessage("undecodable", type(exc).__name__) from None
    if type(data) is not dict:
        raise BadMessage("not_a_map", type(data).__name__)
    get = data.get
    for key in _STR_FIELDS:
        if type(get(key)) is not str:
            raise BadMessage("bad_field", f"{key}={get(key)!r}")
    seq, ts, parent = get("seq"), get("ts"), get("parent_id")
    if type(seq) is not int or type(ts) not in (float, int) or (parent is not None and type(parent) is not str):
        raise BadMessage("bad_field", f"seq={seq!r} ts={ts!r} parent_id={parent!r}")
    if data["kind"] not in _KIND_SET:
        raise BadMessage("bad_field", f"kind={data['kind']!r}")
    return data


def decode(raw: bytes) -> Envelope:
    """Parse one envelope; raise BadMessage for anything that is not one."""
    data = check(raw)
    get = data.get
    seq, ts, parent = data["seq"], data["ts"], get("parent_id")
    has_extra = len(data) > 7 + ("body" in data) + (parent is not None or "parent_id" in data)
    extra = {k: v for k, v in data.items() if k not in _KNOWN} if has_extra else {}
    return _envelope(data["msg_id"], data["src"], data["session"], seq, float(ts), data["kind"], data["name"],
                     get("body"), parent, extra)


class Stamper:
    """Makes envelopes for one process: fixed src and session, a per-session seq counter."""

    def __init__(self, src: str, session: str | None = None) -> None:
        self.src = src
        self.session = session or new_session()
        self.seq = 0

    def make(self, kind: str, name: str, body: Any = None, parent_id: str | None = None,
             msg_id: str | None = None) -> Envelope:
        """A new envelope; its msg_id is `<session>.<seq>`, unique on the bus and cheap to make."""
        self.seq = seq = self.seq + 1
        return _envelope(msg_id or f"{self.session}.{seq}", self.src, self.session, seq, time.time(), kind, name,
                         body, parent_id, {})
