"""The CSMS link over real WebSockets: URL, Basic auth, password change, hold-down, pings."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from services.ocpp_client.link.connection import ConnectionSettings
from services.ocpp_client.link.rpc_errors import NotConnected
from tests.services.ocpp_client.csms_stub import (
    PASSWORD,
    STATION_ID,
    MakeStation,
    RawCsms,
    StationLink,
    station_settings,
    wait_until,
)


def test_connection_url_is_endpoint_slash_percent_encoded_station_id() -> None:
    settings = ConnectionSettings("wss://csms.example.com/ocppj/", "RDAM 123", 2, "p" * 16, "/ca.pem")
    assert settings.url == "wss://csms.example.com/ocppj/RDAM%20123"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"csms_url": "http://x/ocpp"}, "csms_url"),
        ({"station_id": "has:colon"}, "station_id"),
        ({"station_id": "x" * 49}, "station_id"),
        ({"security_profile": 0}, "security_profile"),
        ({"security_profile": 2}, "csms_url"),  # profile 2 on ws:// would be a silent downgrade
        ({"basic_auth_password": None}, "basic_auth_password"),
        ({"csms_url": "wss://h/o", "security_profile": 2}, "csms_root_ca_file"),
        ({"csms_url": "wss://h/o", "security_profile": 3, "csms_root_ca_file": "ca"}, "client_cert_file"),
    ],
)
def test_bad_settings_name_the_field(overrides: dict, field: str) -> None:
    values = {"csms_url": "ws://h/ocpp", "station_id": "CS1", "security_profile": 1,
              "basic_auth_password": PASSWORD}
    values.update(overrides)
    with pytest.raises(ValueError, match=field):
        ConnectionSettings(**values).check()


async def test_profile_1_connects_with_basic_auth_and_ocpp201_subprotocol(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    assert linked.connection.is_connected
    assert raw_csms.ws is not None and raw_csms.ws.subprotocol == "ocpp2.0.1"
    assert raw_csms.ws.request.path == f"/ocpp/{STATION_ID}"
    expected = "Basic " + base64.b64encode(f"{STATION_ID}:{PASSWORD}".encode()).decode()
    assert raw_csms.ws.request.headers["Authorization"] == expected


async def test_wrong_password_is_refused_and_reported(raw_csms: RawCsms, make_station: MakeStation) -> None:
    link = await make_station(station_settings(raw_csms, basic_auth_password="wrong-password-000"))
    reason = await asyncio.wait_for(link.failed.get(), 3)
    assert "401" in reason
    kind, _ = await asyncio.wait_for(link.security_events.get(), 3)
    assert kind == "FailedToAuthenticateAtCsms"
    assert not link.connection.is_connected
    with pytest.raises(NotConnected):
        await link.connection.send_text("[2,\"1\",\"Heartbeat\",{}]")


async def test_csms_without_ocpp201_subprotocol_is_not_used(make_station: MakeStation) -> None:
    csms = await RawCsms(subprotocols=()).start()
    try:
        link = await make_station(station_settings(csms))
        reason = await asyncio.wait_for(link.failed.get(), 3)
        assert "did not agree to subprotocol ocpp2.0.1" in reason
        assert not link.connection.is_connected
    finally:
        await csms.stop()


async def test_new_password_accepted_is_used_from_then_on(raw_csms: RawCsms, linked: StationLink) -> None:
    new_password = "brand-new-password-0002"
    raw_csms.passwords = {PASSWORD, new_password}
    await linked.connection.set_password(new_password)
    assert await asyncio.wait_for(linked.password_results.get(), 3) is True
    await raw_csms.wait_connection()
    assert raw_csms.auth_log[-1] == (STATION_ID, new_password, True)
    assert linked.connection.settings.basic_auth_password == new_password


async def test_new_password_refused_falls_back_to_the_old_one(raw_csms: RawCsms, linked: StationLink) -> None:
    await linked.connection.set_password("refused-password-0003")
    assert await asyncio.wait_for(linked.password_results.get(), 3) is False
    await raw_csms.wait_connection()
    assert [entry[1:] for entry in raw_csms.auth_log[-2:]] == [("refused-password-0003", False),
                                                               (PASSWORD, True)]
    assert linked.connection.settings.basic_auth_password == PASSWORD


async def test_disconnect_holds_the_link_down_until_connect(raw_csms: RawCsms, linked: StationLink) -> None:
    await linked.connection.disconnect()
    assert not linked.connection.is_connected
    await linked.wait_disconnected()
    attempts = len(raw_csms.attempts)
    with pytest.raises(TimeoutError):  # back-off is 10 ms: a reconnect would come well within this
        await asyncio.wait_for(linked.connected.get(), 0.3)
    assert len(raw_csms.attempts) == attempts
    await linked.connection.connect()
    await linked.wait_connected()
    assert linked.connection.is_connected


async def test_link_lost_reconnects_and_fails_the_outstanding_call(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    await raw_csms.recv()
    assert raw_csms.ws is not None
    await raw_csms.ws.close()
    with pytest.raises(NotConnected):
        await asyncio.wait_for(call, 3)
    await linked.wait_disconnected()
    await linked.wait_connected()


async def test_security_profile_is_never_lowered(linked: StationLink, pki) -> None:
    profile_2 = ConnectionSettings("wss://127.0.0.1:1/ocpp", STATION_ID, 2, PASSWORD, pki.ca)
    await linked.connection.apply_settings(profile_2)
    await linked.wait_disconnected()
    with pytest.raises(ValueError, match="security_profile"):
        await linked.connection.apply_settings(station_settings_for_profile_1())
    assert linked.connection.settings.security_profile == 2


def station_settings_for_profile_1() -> ConnectionSettings:
    return ConnectionSettings("ws://127.0.0.1:1/ocpp", STATION_ID, 1, PASSWORD)


async def test_pings_are_answered_at_the_configured_interval(raw_csms: RawCsms, linked: StationLink) -> None:
    assert linked.connection.stats.pings_sent == 0  # interval 0: no pings
    linked.connection.set_ping_interval(0.05)
    await wait_until(lambda: linked.connection.stats.pongs_received >= 3)
    linked.connection.set_ping_interval(0)
    sent = linked.connection.stats.pings_sent
    await asyncio.sleep(0.2)  # a negative check: nothing to await
    assert linked.connection.stats.pings_sent == sent
    with pytest.raises(ValueError):
        linked.connection.set_ping_interval(-1)


async def test_unanswered_ping_drops_the_link_and_it_comes_back(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    silent = raw_csms.ws
    assert silent is not None
    silent.transport.pause_reading()  # the CSMS goes silent: no pongs
    linked.connection.set_ping_interval(0.1)
    await linked.wait_disconnected()
    silent.transport.resume_reading()  # lets the test CSMS notice the abort and shut down fast
    linked.connection.set_ping_interval(0)
    await linked.wait_connected()


async def test_authorization_header_never_reaches_the_log(
    raw_csms: RawCsms, make_station: MakeStation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = await make_station(station_settings(raw_csms))
    await link.wait_connected()
    token = base64.b64encode(f"{STATION_ID}:{PASSWORD}".encode()).decode()
    station_lines = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("reon."))
    assert "Authorization" in station_lines  # the header line is there ...
    assert token not in station_lines and PASSWORD not in station_lines  # ... without the secret
