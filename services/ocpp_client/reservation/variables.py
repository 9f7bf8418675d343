"""ReservationCtrlr (OCPP 2.0.1 part 2 appendix 3): the device-model variables of the reservation block, as data
for the catalog. Available: reservations are supported (fixed). Enabled: the CSMS may switch them off
(ReserveNow then Rejected, H01.FR.01). NonEvseSpecific: reservations without an evseId (H01.FR.04/19).
"""

from __future__ import annotations

from services.ocpp_client.device_model.catalog import AttributeSpec, VariableSpec

COMPONENT = "ReservationCtrlr"


def _flag(variable: str, default: bool, mutability: str) -> VariableSpec:
    return VariableSpec(COMPONENT, variable, "boolean",
                        (AttributeSpec("Actual", mutability, "true" if default else "false"),))


#: Add to the catalog's list: `*reservation_variables()`.
def reservation_variables() -> list[VariableSpec]:
    return [
        _flag("Available", True, "ReadOnly"),
        _flag("Enabled", True, "ReadWrite"),
        _flag("NonEvseSpecific", True, "ReadWrite"),
    ]
