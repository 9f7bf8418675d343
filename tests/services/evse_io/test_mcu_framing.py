"""Frames of the pilot-MCU link: COBS(protobuf || CRC32 LE) || 0x00, decoded from a hostile byte stream."""

from __future__ import annotations

import zlib

from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from services.evse_io import mcu_pb2 as pb
from services.evse_io.mcu_framing import FrameDecoder, crc32_jam, encode_frame

CP_C = pb.McuToEverest(cp_state=pb.STATE_C)
KEEPALIVE = pb.McuToEverest(
    keep_alive=pb.KeepAliveLo(
        time_stamp=1234, hwcap_max_current=32.0, hwcap_min_current=6.0, hwcap_max_phase_count=3
    )
)


def frame_with_body(body: bytes, crc: int | None = None) -> bytes:
    crc = crc32_jam(body) if crc is None else crc
    return cobs.encode(body + crc.to_bytes(4, "little")) + b"\x00"


def test_crc_is_jamcrc_the_bitwise_not_of_zlib_crc32() -> None:
    assert crc32_jam(b"123456789") == 0x340BC6D9  # CRC-32/JAMCRC check value
    assert crc32_jam(b"123456789") == ~zlib.crc32(b"123456789") & 0xFFFFFFFF


def test_crc_over_message_and_its_crc_is_zero() -> None:
    body = CP_C.SerializeToString()
    assert crc32_jam(body + crc32_jam(body).to_bytes(4, "little")) == 0


def test_frame_is_cobs_of_body_and_little_endian_crc_then_one_zero() -> None:
    frame = encode_frame(CP_C)
    assert frame.endswith(b"\x00") and frame.count(0) == 1
    raw = cobs.decode(frame[:-1])
    body = CP_C.SerializeToString()
    assert raw == body + crc32_jam(body).to_bytes(4, "little")


def test_wire_field_numbers_follow_the_spec() -> None:
    host = {f.name: f.number for f in pb.EverestToMcu.DESCRIPTOR.fields}
    assert host == {
        "keep_alive": 100,
        "connector_lock": 102,
        "pwm_duty_cycle": 103,
        "allow_power_on": 104,
        "reset": 105,
        "set_number_of_phases": 106,
        "firmware_update": 16,
    }
    mcu = {f.name: f.number for f in pb.McuToEverest.DESCRIPTOR.fields}
    assert mcu == {
        "keep_alive": 3,
        "reset": 101,
        "cp_state": 102,
        "relais_state": 103,
        "error_flags": 104,
        "telemetry": 105,
        "pp_state": 106,
        "lock_state": 107,
        "power_meter": 108,
    }
    assert pb.KeepAliveLo.DESCRIPTOR.fields_by_name["supports_changing_phases_during_charging"].number == 11
    assert pb.PowerMeter.DESCRIPTOR.fields_by_name["phaseSeqError"].number == 23
    assert pb.ErrorFlags.DESCRIPTOR.fields_by_name["over_current"].number == 7


def test_zero_valued_oneof_fields_are_still_sent() -> None:
    assert pb.McuToEverest(cp_state=pb.STATE_A).SerializeToString() == b"\xb0\x06\x00"
    assert pb.EverestToMcu(allow_power_on=False).SerializeToString() == b"\xc0\x06\x00"


def test_frames_round_trip_both_directions() -> None:
    mcu_messages = [CP_C, KEEPALIVE, pb.McuToEverest(error_flags=pb.ErrorFlags(rcd_triggered=True))]
    decoder = FrameDecoder(pb.McuToEverest)
    assert decoder.feed(b"".join(encode_frame(m) for m in mcu_messages)) == mcu_messages
    host_messages = [pb.EverestToMcu(pwm_duty_cycle=1000), pb.EverestToMcu(allow_power_on=False)]
    host_decoder = FrameDecoder(pb.EverestToMcu)
    assert host_decoder.feed(b"".join(encode_frame(m) for m in host_messages)) == host_messages
    assert decoder.stats.frames_ok == 3 and decoder.stats.frames_bad == 0


def test_frame_split_across_reads_is_decoded_once_complete() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    frame = encode_frame(KEEPALIVE)
    decoded = [m for byte in frame for m in decoder.feed(bytes([byte]))]
    assert decoded == [KEEPALIVE]


def test_bad_crc_frame_is_counted_and_skipped() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    body = CP_C.SerializeToString()
    bad = frame_with_body(body, crc32_jam(body) ^ 0x1)
    assert decoder.feed(bad + encode_frame(KEEPALIVE)) == [KEEPALIVE]
    assert decoder.stats.bad_crc == 1


def test_bad_cobs_frame_is_counted_and_skipped() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    assert decoder.feed(b"\x05\x01\x00" + encode_frame(CP_C)) == [CP_C]
    assert decoder.stats.bad_cobs == 1


def test_undecodable_protobuf_with_good_crc_is_counted_and_skipped() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    assert decoder.feed(frame_with_body(b"\xff\xff\xff") + encode_frame(CP_C)) == [CP_C]
    assert decoder.stats.undecodable == 1


def test_message_without_payload_is_counted_and_skipped() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    assert decoder.feed(frame_with_body(b"") + frame_with_body(b"\xf8\x07\x01")) == []
    assert decoder.stats.no_payload == 2  # empty, and an unknown field (127) only


def test_short_frame_is_a_bad_crc() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    assert decoder.feed(cobs.encode(b"\x01\x02") + b"\x00") == []
    assert decoder.stats.bad_crc == 1


def test_over_long_frame_is_discarded_up_to_the_next_delimiter() -> None:
    decoder = FrameDecoder(pb.McuToEverest, max_frame_bytes=64)
    assert decoder.feed(b"\x01" * 50) == []
    assert decoder.feed(b"\x01" * 50) == []
    assert decoder.stats.over_long == 1
    assert decoder.feed(b"\x01" * 500 + b"\x00" + encode_frame(CP_C)) == [CP_C]
    assert decoder.stats.over_long == 1 and decoder.stats.bad_cobs == 0


def test_partial_frame_spoils_only_the_frame_it_runs_into() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    partial = encode_frame(KEEPALIVE)[:6]
    assert decoder.feed(partial + encode_frame(CP_C) + encode_frame(KEEPALIVE)) == [KEEPALIVE]
    assert decoder.stats.frames_bad == 1


def test_empty_frames_between_delimiters_are_ignored() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    assert decoder.feed(b"\x00\x00" + encode_frame(CP_C) + b"\x00") == [CP_C]
    assert decoder.stats.frames_bad == 0


def test_reset_drops_a_partial_frame() -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    decoder.feed(encode_frame(KEEPALIVE)[:5])
    decoder.reset()
    assert decoder.feed(encode_frame(CP_C)) == [CP_C]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_random_garbage_never_raises_and_a_good_frame_after_it_decodes(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(pb.McuToEverest, max_frame_bytes=256)
    for chunk in chunks:
        decoder.feed(chunk)
    assert decoder.feed(b"\x00" + encode_frame(CP_C)) == [CP_C]
