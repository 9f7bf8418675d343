"""Security profiles 2 and 3 over real TLS, with a PKI made in the test (tests/pki.py)."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from services.ocpp_client.link.connection_settings import security_event_for
from tests.pki import Pki, server_tls_context
from tests.services.ocpp_client.csms_stub import PASSWORD, MakeStation, RawCsms, station_settings


async def test_profile_2_verifies_the_csms_certificate_and_sends_basic_auth(
    pki: Pki, make_station: MakeStation
) -> None:
    csms = await RawCsms(tls=server_tls_context(pki)).start()
    try:
        link = await make_station(station_settings(csms, security_profile=2, csms_root_ca_file=pki.ca))
        info = await link.wait_connected()
        assert info.security_profile == 2 and info.url.startswith("wss://")
        ws = await csms.wait_connection()
        assert ws.request.headers["Authorization"].startswith("Basic ")
        assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    finally:
        await csms.stop()


@pytest.mark.parametrize("bad_cert", ["rogue_server", "expired_server", "wrong_host_server"])
async def test_invalid_csms_certificate_means_no_connection_and_a_security_event(
    pki: Pki, make_station: MakeStation, bad_cert: str
) -> None:
    csms = await RawCsms(tls=server_tls_context(pki, getattr(pki, bad_cert))).start()
    try:
        link = await make_station(station_settings(csms, security_profile=2, csms_root_ca_file=pki.ca))
        kind, tech_info = await asyncio.wait_for(link.security_events.get(), 3)
        assert kind == "InvalidCsmsCertificate" and tech_info
        assert "TLS handshake failed" in await asyncio.wait_for(link.failed.get(), 3)
        assert not link.connection.is_connected
        assert csms.attempts == []  # no HTTP request (so no password) ever reached that server
    finally:
        await csms.stop()


async def test_profile_3_presents_the_client_certificate_without_basic_auth(
    pki: Pki, make_station: MakeStation
) -> None:
    csms = await RawCsms(tls=server_tls_context(pki, client_ca=True)).start()
    try:
        settings = station_settings(csms, security_profile=3, basic_auth_password=None,
                                    csms_root_ca_file=pki.ca, client_cert_file=pki.client.cert,
                                    client_key_file=pki.client.key)
        link = await make_station(settings)
        await link.wait_connected()
        ws = await csms.wait_connection()
        assert "Authorization" not in ws.request.headers
        peer = csms.peer_certs[-1]
        assert peer is not None and (("commonName", "REON-SERIAL-0001"),) in peer["subject"]
    finally:
        await csms.stop()


async def test_profile_2_password_is_not_sent_over_plain_ws(pki: Pki) -> None:
    settings = station_settings(RawCsms(), security_profile=2, csms_root_ca_file=pki.ca)
    with pytest.raises(ValueError, match="wss://"):
        settings.check()
    assert PASSWORD  # the settings object itself refuses: there is no code path that downgrades


def test_tls_failures_map_to_security_events() -> None:
    verify_error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify_error.verify_message = "unable to get local issuer certificate"
    assert security_event_for(verify_error) == ("InvalidCsmsCertificate", verify_error.verify_message)
    version_error = ssl.SSLError(1, "tlsv1 alert protocol version")
    version_error.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    assert security_event_for(version_error) == ("InvalidTLSVersion", "TLSV1_ALERT_PROTOCOL_VERSION")
    assert security_event_for(ConnectionRefusedError()) is None
