import msgpack
import pytest

from bus.envelope import MAX_MESSAGE_BYTES, BadMessage, Stamper, decode, encode


def test_envelope_round_trip_keeps_every_field() -> None:
    stamper = Stamper("evse_io")
    env = stamper.make("reply", "authorize", {"ok": True, "n": [1, 2.5, None]}, parent_id="abc")
    back = decode(encode(env))
    assert back == env
    assert back.seq == 1 and stamper.make("evt", "x").seq == 2


def test_unknown_fields_are_ignored_but_kept_aside() -> None:
    raw = msgpack.packb({"msg_id": "m", "src": "s", "session": "x", "seq": 3, "ts": 1.5, "kind": "evt",
                         "name": "n", "body": 7, "future_field": {"a": 1}})
    env = decode(raw)
    assert env.body == 7 and env.extra == {"future_field": {"a": 1}}


@pytest.mark.parametrize("raw,reason", [
    (b"\xc1\xc1", "undecodable"),
    (msgpack.packb([1, 2]), "not_a_map"),
    (msgpack.packb({"msg_id": 1}), "bad_field"),
    (msgpack.packb({"msg_id": "m", "src": "s", "session": "x", "seq": True, "ts": 1, "kind": "evt",
                    "name": "n"}), "bad_field"),
    (msgpack.packb({"msg_id": "m", "src": "s", "session": "x", "seq": 1, "ts": 1, "kind": "shout",
                    "name": "n"}), "bad_field"),
    (b"\x00" * (MAX_MESSAGE_BYTES + 1), "oversized"),
])
def test_malformed_envelopes_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadMessage) as info:
        decode(raw)
    assert info.value.reason == reason


def test_oversized_body_cannot_be_encoded() -> None:
    with pytest.raises(BadMessage):
        encode(Stamper("s").make("evt", "big", "x" * MAX_MESSAGE_BYTES))
