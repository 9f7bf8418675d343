"""The RFID line parser, and the asyncio reader against the simulated reader on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.evse_io.rfid import MAX_LINE_BYTES, RfidLineParser, RfidReader, parse_uid_line
from sim.rfid_reader import RfidReaderSim

# ---- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "uid"),
    [
        ("04A1B2C3", "04A1B2C3"),
        ("04a1b2c3", "04A1B2C3"),
        ("  04 a1 B2 c3 ", "04A1B2C3"),
        ("04:A1:B2:C3", "04A1B2C3"),
        (b"04A1B2C3D4E5F6", "04A1B2C3D4E5F6"),
        ("0102030405060708090A", "0102030405060708090A"),
    ],
)
def test_uid_line_becomes_uppercase_iso14443_token(line: str | bytes, uid: str) -> None:
    assert parse_uid_line(line) == {"idToken": uid, "type": "ISO14443"}


@pytest.mark.parametrize(
    "line", ["04A1B2CG", "hello", "04A1B2C", "04A1B2", "04A1B2C3D4", "00" * 11, b"\xff\xfe04A1", "0x04A1B2"]
)
def test_non_hex_or_odd_length_line_is_not_a_uid(line: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_uid_line(line)


def test_crlf_lf_and_cr_all_end_a_line() -> None:
    parser = RfidLineParser(debounce_s=0)
    tokens = parser.feed(b"04A1B2C3\r\n04A1B2C4\n04A1B2C5\r", now=0)
    assert [t["idToken"] for t in tokens] == ["04A1B2C3", "04A1B2C4", "04A1B2C5"]
    assert parser.stats.rejected_lines == 0


def test_uid_split_across_reads_is_joined() -> None:
    parser = RfidLineParser()
    assert parser.feed(b"04A1", now=0) == []
    assert parser.feed(b"B2C3\r\n", now=0) == [{"idToken": "04A1B2C3", "type": "ISO14443"}]


def test_bad_lines_are_counted_and_skipped() -> None:
    parser = RfidLineParser()
    tokens = parser.feed(b"garbage\r\n\xff\xff\r\n04A1B2C3\r\n123\r\n", now=0)
    assert [t["idToken"] for t in tokens] == ["04A1B2C3"]
    assert parser.stats.rejected_lines == 3
    assert parser.stats.tokens == 1


def test_endless_line_is_dropped_up_to_its_end() -> None:
    parser = RfidLineParser()
    assert parser.feed(b"A" * (MAX_LINE_BYTES + 10), now=0) == []
    assert parser.feed(b"B" * 50 + b"04A1B2C3\r\n", now=0) == []  # tail of the endless line
    assert parser.feed(b"04A1B2C3\r\n", now=0) == [{"idToken": "04A1B2C3", "type": "ISO14443"}]
    assert parser.stats.rejected_lines == 1


def test_card_held_on_reader_is_one_token_until_it_is_gone_for_the_debounce_time() -> None:
    parser = RfidLineParser(debounce_s=1.0)
    seen = [parser.feed(b"04A1B2C3\r\n", now=t) for t in (0.0, 0.3, 0.6, 0.9, 1.2)]
    assert [len(tokens) for tokens in seen] == [1, 0, 0, 0, 0]
    assert parser.feed(b"04A1B2C3\r\n", now=2.5) != []
    assert parser.feed(b"04A1B2C4\r\n", now=2.6) != []  # another card at once
    assert parser.stats.repeats_suppressed == 4


# ---- the reader on a pseudo-terminal -----------------------------------------------------------------


@pytest.fixture
def link_path() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reon-rfid-") as tmp:
        yield Path(tmp) / "rfid"


@pytest.fixture
async def reader_sim(link_path: Path) -> AsyncIterator[RfidReaderSim]:
    with RfidReaderSim(link_path) as sim:
        yield sim


@pytest.fixture
async def tokens_and_reader(link_path: Path) -> AsyncIterator[tuple[asyncio.Queue, RfidReader]]:
    tokens: asyncio.Queue = asyncio.Queue()
    reader = RfidReader(str(link_path), tokens.put_nowait, debounce_s=0, reopen_min_s=0.02, reopen_max_s=0.1)
    await reader.start()
    yield tokens, reader
    await reader.stop()


async def test_swipe_on_simulated_reader_delivers_token(reader_sim: RfidReaderSim, tokens_and_reader) -> None:
    tokens, reader = tokens_and_reader
    await reader.wait_connected(timeout=2)
    reader_sim.swipe("04a1b2c3")
    assert await asyncio.wait_for(tokens.get(), 2) == {"idToken": "04A1B2C3", "type": "ISO14443"}


async def test_line_noise_is_counted_and_next_swipe_still_works(
    reader_sim: RfidReaderSim, tokens_and_reader
) -> None:
    tokens, reader = tokens_and_reader
    await reader.wait_connected(timeout=2)
    reader_sim.send_raw(b"\x00\xff\xfe zz \r\nNOTHEX\r\n")
    reader_sim.swipe("04A1B2C3D4E5F6")
    assert (await asyncio.wait_for(tokens.get(), 2))["idToken"] == "04A1B2C3D4E5F6"
    assert reader.stats.rejected_lines == 2


async def test_reader_reopens_after_the_port_vanishes(reader_sim: RfidReaderSim, tokens_and_reader) -> None:
    tokens, reader = tokens_and_reader
    await reader.wait_connected(timeout=2)
    reader_sim.vanish()
    assert not reader_sim.swipe("04A1B2C3")  # nobody to hear it
    await reader.wait_disconnected(timeout=2)
    reader_sim.appear()
    await reader.wait_connected(timeout=2)
    reader_sim.swipe("04A1B2C3")
    assert (await asyncio.wait_for(tokens.get(), 2))["idToken"] == "04A1B2C3"


async def test_reader_started_before_the_port_exists_opens_it_when_it_appears(link_path: Path) -> None:
    tokens: asyncio.Queue = asyncio.Queue()
    reader = RfidReader(str(link_path), tokens.put_nowait, reopen_min_s=0.02, reopen_max_s=0.05)
    await reader.start()
    try:
        with RfidReaderSim(link_path) as sim:
            await reader.wait_connected(timeout=2)
            sim.swipe("04A1B2C3")
            assert (await asyncio.wait_for(tokens.get(), 2))["idToken"] == "04A1B2C3"
    finally:
        await reader.stop()


async def test_async_on_token_callback_is_awaited(reader_sim: RfidReaderSim, link_path: Path) -> None:
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_token(token: dict) -> None:
        got.set_result(token)

    reader = RfidReader(str(link_path), on_token)
    await reader.start()
    try:
        await reader.wait_connected(timeout=2)
        reader_sim.swipe("04A1B2C3")
        assert (await asyncio.wait_for(got, 2))["idToken"] == "04A1B2C3"
    finally:
        await reader.stop()

