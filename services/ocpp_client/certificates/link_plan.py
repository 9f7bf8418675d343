"""What the CSMS link connects with next: the slot of NetworkConfigurationPriority (B10 fallback), the CSMS roots
of the store and, for security profile 3, the station certificate: a pending (renewed) one first (A02.FR.08),
promoted once a connection through it is up (A02.FR.10), discarded when no slot accepts it (A02.FR.28/29).
A connection that is up raises the security-profile floor and prunes lower slots from the priority (A05).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.ocpp_client.certificates.network_profiles import ConnectionPlan, NetworkProfiles, parse_priority
from services.ocpp_client.certificates.store import CertificateStore
from services.ocpp_client.link.connection_settings import ConnectionSettings

log = logging.getLogger("reon.ocpp.network_profiles")

DISCARDED_EVENT = "DiscardedRenewedClientCertificate"


class LinkPlan:
    """Settings for each connection attempt and the bookkeeping of its outcome."""

    def __init__(self, profiles: NetworkProfiles, store: CertificateStore, *, station_id: str,
                 priority: Callable[[], str], attempts_per_slot: Callable[[], int],
                 basic_auth_password: Callable[[], str | None],
                 set_priority: Callable[[str], None], set_security_profile: Callable[[int], None],
                 report_event: Callable[[str, str], Awaitable[Any]]) -> None:
        self._profiles = profiles
        self._store = store
        self._station_id = station_id
        self._priority = priority
        self._attempts_per_slot = attempts_per_slot
        self._password = basic_auth_password
        self._set_priority = set_priority
        self._set_security_profile = set_security_profile
        self._report_event = report_event
        self._tasks: set[asyncio.Future[Any]] = set()
        self._plan = self._new_plan()
        self._failures_with_pending = 0
        self.using_pending = False
        self.up = False

    def _new_plan(self) -> ConnectionPlan | None:
        try:
            slots = self._profiles.usable(parse_priority(self._priority()))
        except ValueError as exc:
            log.error("NetworkConfigurationPriority unusable: %s", exc)
            return None
        if not slots:
            log.error("no network profile of NetworkConfigurationPriority %r is at or above security profile %d",
                      self._priority(), self._profiles.highest_security_profile())
            return None
        return ConnectionPlan(slots, self._attempts_per_slot)

    @property
    def slot(self) -> int:
        """The slot of the next attempt; ValueError when no slot may be used."""
        if self._plan is None:
            self._plan = self._new_plan()
        if self._plan is None:
            raise ValueError(f"no usable network profile in NetworkConfigurationPriority {self._priority()!r}")
        return self._plan.slot

    def settings(self) -> ConnectionSettings:
        """The settings of the next attempt (ValueError when no slot may be used)."""
        data = self._profiles.profile(self.slot) or {}
        security_profile = int(data.get("securityProfile", 1))
        bundle = self._store.csms_root_bundle()
        pending = self._store.station_certificate("pending")
        station = pending or self._store.station_certificate()
        self.using_pending = security_profile == 3 and pending is not None
        return ConnectionSettings(
            csms_url=str(data.get("ocppCsmsUrl", "")), station_id=self._station_id,
            security_profile=security_profile,
            basic_auth_password=self._password() if security_profile < 3 else None,
            csms_root_ca_file=str(bundle) if bundle and security_profile >= 2 else None,
            client_cert_file=str(station.cert_file) if station and security_profile == 3 else None,
            client_key_file=str(station.key_file) if station and security_profile == 3 else None,
        )

    def failed(self, _reason: str = "") -> None:
        """An attempt failed: count it (before the next attempt asks for its settings); after a whole round of
        the priority list with the pending certificate, fall back to the old one (A02.FR.28) and tell the
        CSMS (A02.FR.29)."""
        if self._plan is None:
            return
        if self.using_pending:
            self._failures_with_pending += 1
            round_attempts = len(parse_priority(self._priority())) * max(int(self._attempts_per_slot()), 1)
            if self._failures_with_pending >= round_attempts:
                self._failures_with_pending = 0
                if self._store.discard_pending():
                    log.warning("renewed station certificate connected nowhere: back to the previous one")
                    task = asyncio.ensure_future(
                        self._report_event(DISCARDED_EVENT, "no network profile accepted the renewed certificate"))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        self._plan.failed()

    def connected(self, *_link: Any) -> None:
        """The link is up through the current slot."""
        if self._plan is None:
            return
        slot = self._plan.connected()
        self.up = True
        if self.using_pending and self._store.promote_pending():
            log.info("renewed station certificate in use; the previous one is discarded")
        self._failures_with_pending = 0
        priority = parse_priority(self._priority())
        pruned = self._profiles.record_connected(slot, priority)
        if pruned != priority:
            self._set_priority(",".join(str(s) for s in pruned))
        data = self._profiles.profile(slot)
        if data is not None:
            self._set_security_profile(int(data["securityProfile"]))

    def disconnected(self, *_reason: Any) -> None:
        self.up = False

    def restart(self) -> None:
        """After a reset, or a new NetworkConfigurationPriority: start again at its first slot."""
        self._plan = self._new_plan()
