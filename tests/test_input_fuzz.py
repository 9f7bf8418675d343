"""Every input boundary that reads hostile bytes survives random input (issue 11: "fuzz run of their own input
boundaries"): serial lines from the RFID reader and the modem, MCU frames, the station file. Bus frames and RPC
requests are fuzzed against the broker in tests/bus; CSMS frames in tests/services/ocpp_client."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.evse_io import mcu_pb2 as pb
from services.evse_io.mcu_framing import FrameDecoder
from services.evse_io.rfid import RfidLineParser
from services.modem import at_parser
from services.modem.at_lines import LineReader
from station.config import ConfigError, load_config
from tests.stations import write_station

CHUNKS = st.lists(st.binary(max_size=300), max_size=20)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(CHUNKS)
def test_rfid_reader_takes_any_bytes_and_yields_only_well_formed_tokens(chunks: list[bytes]) -> None:
    parser = RfidLineParser(debounce_s=0)
    for i, chunk in enumerate(chunks):
        for token in parser.feed(chunk, now=float(i)):
            assert token["type"] == "ISO14443" and len(token["idToken"]) in (8, 14, 20)


@FUZZ
@given(CHUNKS)
def test_modem_lines_and_parsers_take_any_bytes(chunks: list[bytes]) -> None:
    lines = LineReader()
    texts = [item for chunk in chunks for item in lines.feed(chunk) if isinstance(item, str)]
    parsers = (at_parser.parse_csq, at_parser.parse_cops, at_parser.parse_iccid, at_parser.parse_imsi,
               at_parser.parse_registration_reply, at_parser.parse_ati)
    for parse in parsers:
        with contextlib.suppress(at_parser.AtParseError):  # the documented refusal
            parse(texts)
    for text in texts:
        at_parser.parse_final(text)
        at_parser.is_urc(text)
        with contextlib.suppress(at_parser.AtParseError):
            at_parser.parse_registration(text)


@FUZZ
@given(CHUNKS)
def test_mcu_frame_decoder_takes_any_bytes(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(pb.McuToEverest)
    for chunk in chunks:
        for message in decoder.feed(chunk):
            assert isinstance(message, pb.McuToEverest)


@pytest.fixture(scope="module")
def good_station(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_station(tmp_path_factory.mktemp("station")).read_bytes()


@FUZZ
@given(data=st.data())
def test_a_damaged_station_file_is_a_config_error_or_a_config(tmp_path: Path, good_station: bytes,
                                                              data: st.DataObject) -> None:
    text = bytearray(good_station)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text) - 1))
        how = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if how == "flip":
            text[at] = data.draw(st.integers(0, 255))
        elif how == "delete":
            del text[at: at + data.draw(st.integers(1, 40))]
        else:
            text[at:at] = data.draw(st.sampled_from([b'"', b"=", b"[", b"]]", b"-1", b"1e999", b"\n[[evse]]\n",
                                                     b"true", b'"\\u0000"', b"\xff", b"{", b"9" * 30]))
    path = tmp_path / "fuzzed.toml"
    path.write_bytes(bytes(text))
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()  # one line
