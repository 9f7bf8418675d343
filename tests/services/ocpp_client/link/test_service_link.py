"""The CSMS link of the service: security events from the TLS handshake."""

from __future__ import annotations

from sim.csms import DevCsms
from station.config import load_config
from tests.pki import server_tls_context
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import start_ocpp


async def test_a_csms_certificate_from_an_unknown_ca_is_a_queued_security_event(station, tmp_path, pki,
                                                                               probe) -> None:
    text = station.path.read_text().replace("ws://", "wss://").replace(
        "security_profile = 1", f'security_profile = 2\nca_file = "{pki.ca}"')
    (tmp_path / "tls.toml").write_text(text)
    config = load_config(tmp_path / "tls.toml")
    rogue = await DevCsms(password=config.csms.password, port=config.sim.csms_port,
                          tls=server_tls_context(pki, pki.rogue_server)).start()
    try:
        async with start_ocpp(config) as service:
            await probe.wait_for("ocpp.state.csms", lambda e: e.body["queue_depth"] == 2)
            events = {m.payload["type"] for m in service.queue.pending()}
            assert events == {"StartupOfTheDevice", "InvalidCsmsCertificate"}
            state = service.csms_state()
            assert state["connected"] is False and state["security_profile"] == 2
            assert state["url"].startswith("wss://")
    finally:
        await rogue.stop()
