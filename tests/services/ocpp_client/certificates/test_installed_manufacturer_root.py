"""A ManufacturerRootCertificate installed by the CSMS (InstallCertificate) is trusted by the firmware service:
the ocpp service passes the installed roots with update_firmware (services may not import each other). The
real ocpp and firmware services in-process, the development CSMS, a station without `[firmware]
manufacturer_root`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bus.runtime import running
from services.firmware.service import FirmwareService
from sim.firmware_signing import ManufacturerPki
from tests.services.ocpp_client.service_harness import *  # noqa: F403

IMAGE = "reon-0.3.0.raucb"


def signed_request(request_id: int, pki: ManufacturerPki, image: Path) -> dict:
    """UpdateFirmware for `image`, signed by the manufacturer, retrieved tomorrow (nothing is downloaded)."""
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"requestId": request_id, "firmware": {"location": f"https://fw.example.com/{IMAGE}",
                                                  "retrieveDateTime": tomorrow, **pki.sign_image(image)}}


async def test_an_update_signed_under_an_installed_manufacturer_root_is_accepted(station, ocpp, csms, tmp_path,
                                                                                   probe) -> None:
    assert station.firmware.manufacturer_root is None
    manufacturer = ManufacturerPki.ensure(tmp_path / "manufacturer" / "root.pem")
    image = tmp_path / IMAGE
    image.write_bytes(b"version=0.3.0\n" + bytes(4096))
    sid = station.station.id
    async with running(FirmwareService, station):
        await probe.wait_for("firmware.state.job", lambda e: True, timeout=5)
        reply = await csms.call(sid, "UpdateFirmware", signed_request(1, manufacturer, image))
        assert reply["status"] == "InvalidCertificate"  # no root to check the signing certificate against

        root_pem = manufacturer.root_file.read_text()
        reply = await csms.call(sid, "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                            "certificate": root_pem})
        assert reply["status"] == "Accepted"
        reply = await csms.call(sid, "UpdateFirmware", signed_request(2, manufacturer, image))
        assert reply["status"] == "Accepted"

        unsigned = {"requestId": 3, "firmware": {"location": f"https://fw.example.com/{IMAGE}",
                                                 "retrieveDateTime": "2030-01-01T00:00:00Z"}}
        reply = await csms.call(sid, "UpdateFirmware", unsigned)
        assert reply["status"] == "Rejected"  # with a manufacturer root installed, only signed updates


async def test_a_signing_certificate_of_another_manufacturer_stays_invalid(station, ocpp, csms, tmp_path,
                                                                             probe) -> None:
    ours = ManufacturerPki.ensure(tmp_path / "ours" / "root.pem")
    theirs = ManufacturerPki.ensure(tmp_path / "theirs" / "root.pem")
    image = tmp_path / IMAGE
    image.write_bytes(b"version=0.3.0\n")
    sid = station.station.id
    async with running(FirmwareService, station):
        await probe.wait_for("firmware.state.job", lambda e: True, timeout=5)
        reply = await csms.call(sid, "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                            "certificate": ours.root_file.read_text()})
        assert reply["status"] == "Accepted"
        reply = await csms.call(sid, "UpdateFirmware", signed_request(4, theirs, image))
        assert reply["status"] == "InvalidCertificate"
