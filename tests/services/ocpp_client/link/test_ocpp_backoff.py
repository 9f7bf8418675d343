"""Reconnect back-off of OCPP-J part 4 §5.3, computed and measured on real attempts."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time

from services.ocpp_client.link.connection import RetryBackOff
from tests.services.ocpp_client.csms_stub import MakeStation, RawCsms, StationLink, station_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_back_off_doubles_wait_minimum_repeat_times_then_stays() -> None:
    back_off = RetryBackOff(wait_minimum_s=2, random_range_s=0, repeat_times=3)
    assert [back_off.delay_s(i, lambda: 0.0) for i in range(6)] == [2, 4, 8, 16, 16, 16]


def test_back_off_adds_a_new_random_part_up_to_random_range() -> None:
    back_off = RetryBackOff(wait_minimum_s=2, random_range_s=10, repeat_times=1)
    assert back_off.delay_s(0, lambda: 0.5) == 2 + 5
    assert back_off.delay_s(5, lambda: 0.999) == 4 + 9.99


def test_back_off_values_changed_at_run_time_apply_to_the_next_attempt() -> None:
    back_off = RetryBackOff(wait_minimum_s=2, random_range_s=0, repeat_times=3)
    back_off.wait_minimum_s, back_off.repeat_times = 1, 0
    assert back_off.delay_s(4, lambda: 0.0) == 1


async def test_failed_attempts_are_spaced_by_the_back_off(make_station: MakeStation) -> None:
    settings = station_settings(RawCsms(), csms_url=f"ws://127.0.0.1:{free_port()}/ocpp")
    link = await make_station(settings, back_off=RetryBackOff(0.04, 0.02, 2), rng=lambda: 0.5)
    for _ in range(6):
        await asyncio.wait_for(link.failed.get(), 3)
    failures = link.failure_times[:6]
    gaps = [b - a for a, b in itertools.pairwise(failures)]
    expected = [0.04 + 0.01, 0.08 + 0.01, 0.16 + 0.01, 0.16 + 0.01, 0.16 + 0.01]
    for gap, want in zip(gaps, expected, strict=True):
        assert want <= gap < want + 0.15, (gaps, expected)


async def test_first_reconnect_after_a_loss_waits_wait_minimum(
    raw_csms: RawCsms, make_station: MakeStation
) -> None:
    link: StationLink = await make_station(station_settings(raw_csms), back_off=RetryBackOff(0.15, 0, 0))
    await link.wait_connected()
    first = await raw_csms.wait_connection()
    await first.close()
    await link.wait_disconnected()
    lost_at = time.monotonic()
    await raw_csms.wait_connection()
    assert time.monotonic() - lost_at >= 0.15
