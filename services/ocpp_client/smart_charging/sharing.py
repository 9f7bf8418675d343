"""Station-level load management: one current cap shared between the EVSEs that are charging.

Beyond OCPP: a ChargingStationMaxProfile (or the configured grid connection limit) is split so that the sum
of the EVSEs' offered currents never exceeds it. IEC 61851-1 offers no current below 6 A, so when the cap
cannot give every EVSE 6 A, the EVSEs first in `order` keep charging and the others get 0 (paused).
Among those charging, the cap is water-filled: an EVSE that wants less than an equal share gets what it
wants and the rest is shared by the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MIN_OFFER_A = 6.0


def share(cap_a: float, wants_a: Mapping[int, float], order: Sequence[int] | None = None,
          min_a: float = MIN_OFFER_A) -> dict[int, float]:
    """The current (A per phase) each EVSE gets: each ≤ its want, each 0 or ≥ min_a, the sum ≤ cap_a."""
    order = list(order) if order is not None else sorted(wants_a)
    order += [evse for evse in sorted(wants_a) if evse not in order]
    runnable = [evse for evse in order if evse in wants_a and wants_a[evse] >= min_a]
    fits = max(0, int((max(cap_a, 0.0) + 1e-9) // min_a)) if min_a > 0 else len(runnable)
    running = runnable[:fits]
    given = dict.fromkeys(wants_a, 0.0)
    remaining = max(cap_a, 0.0)
    by_want = sorted(running, key=lambda evse: wants_a[evse])
    for index, evse in enumerate(by_want):
        fair = remaining / (len(by_want) - index)
        given[evse] = min(wants_a[evse], fair)
        remaining -= given[evse]
    return given
