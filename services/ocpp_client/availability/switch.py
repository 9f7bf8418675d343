"""The operation manual's availability switch: SetVariables on `EVSE.AvailabilityStatus` = Unavailable / Available
takes the EVSE out of / back into service, exactly like ChangeAvailability Inoperative / Operative on that EVSE
(G03/G04: scheduled while a transaction runs, persisted, StatusNotification sent), so both paths end in the
same state. GetVariables reads Available while the EVSE is Operative, Unavailable while Inoperative (also
while that is still scheduled).

AvailabilityStatus is REON's own ReadWrite variable of each EVSE (the manual's name); the standardized
AvailabilityState stays ReadOnly (it mirrors the connector status: Occupied, Reserved, Faulted, …). This module
is the mapping only; the availability block runs the request it returns through its ChangeAvailability path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from services.ocpp_client.device_model.catalog import AttributeSpec, VariableSpec
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.rpc import Handler, Reply

COMPONENT = "EVSE"
VARIABLE = "AvailabilityStatus"
VALUES = ("Available", "Unavailable")
_OPERATIONAL = {"available": "Operative", "unavailable": "Inoperative"}


class SwitchValueError(ValueError):
    """The written value is not one of VALUES (SetVariables answers Rejected, nothing changes)."""


def switch_variables(evse_ids: Iterable[int]) -> list[VariableSpec]:
    """One `EVSE.AvailabilityStatus` per EVSE, for the catalog (its value is read from the availability block)."""
    return [VariableSpec(COMPONENT, VARIABLE, "OptionList", (AttributeSpec("Actual", "ReadWrite", "Available"),),
                         evse_id=evse_id, values_list=VALUES, persistent=False)
            for evse_id in sorted(evse_ids)]


def is_switch(component: str, variable: str, evse_id: int | None, connector_id: int | None = None) -> bool:
    """Whether a SetVariables/GetVariables entry addresses the switch of one EVSE."""
    return (component.casefold() == COMPONENT.casefold() and variable.casefold() == VARIABLE.casefold()
            and evse_id is not None and evse_id > 0 and not connector_id)


def as_change_availability(evse_id: int, value: str) -> dict[str, Any]:
    """The ChangeAvailabilityRequest that a write of `value` to the EVSE's switch amounts to."""
    operational = _OPERATIONAL.get(value.strip().casefold())
    if operational is None:
        raise SwitchValueError(f"{COMPONENT}.{VARIABLE} takes {' or '.join(VALUES)}, got {value!r}")
    return {"operationalStatus": operational, "evse": {"id": evse_id}}


def set_variable_status(change_availability_status: str) -> str:
    """SetVariableStatus for the ChangeAvailability outcome: Accepted and Scheduled (takes effect when the
    transaction ends) are Accepted; Rejected (e.g. unknown EVSE) is Rejected."""
    return "Accepted" if change_availability_status in ("Accepted", "Scheduled") else "Rejected"


def switch_value(operative: bool) -> str:
    """What GetVariables reads: the EVSE's availability as set (Operative → Available)."""
    return VALUES[0] if operative else VALUES[1]


class AvailabilitySwitch:
    """Serves `EVSE.AvailabilityStatus`: reads from the EVSE's availability as set, writes through
    ChangeAvailability. Registered over the provisioning block's SetVariables handler, which still checks
    and answers every entry; an Accepted write of the switch then runs ChangeAvailability for that EVSE and
    takes its outcome (Scheduled is Accepted). The StatusNotification follows the SetVariablesResponse."""

    def __init__(self, dm: DeviceModel, gate: CallGate, set_variables: Handler,
                 change_availability: Callable[[dict[str, Any]], Awaitable[Reply]],
                 evse_operative: Callable[[int], bool], evse_ids: Iterable[int]) -> None:
        """`set_variables`: the handler this one wraps; `evse_operative(evse_id)`: the EVSE's own level."""
        self._inner = set_variables
        self._change_availability = change_availability
        for evse_id in evse_ids:
            dm.set_reader(COMPONENT, VARIABLE, lambda e=evse_id: switch_value(evse_operative(e)), evse_id=evse_id)
        gate.register("SetVariables", self.set_variables)

    async def set_variables(self, request: dict[str, Any]) -> Reply:
        answer = await self._inner(request)
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        after = [reply.after_sent] if reply.after_sent is not None else []
        for data, result in zip(request["setVariableData"], reply.payload.get("setVariableResult", []), strict=False):
            component, variable = data["component"], data["variable"]
            evse = component.get("evse") or {}
            if (result.get("attributeStatus") != "Accepted" or component.get("instance") or variable.get("instance")
                    or not is_switch(component["name"], variable["name"], evse.get("id"), evse.get("connectorId"))):
                continue
            outcome = await self._change_availability(as_change_availability(evse["id"], data["attributeValue"]))
            result["attributeStatus"] = set_variable_status(outcome.payload["status"])
            if outcome.after_sent is not None:
                after.append(outcome.after_sent)
        if not after:
            return reply

        async def after_sent() -> None:
            for work in after:
                await work()

        return Reply(reply.payload, after_sent=after_sent)
