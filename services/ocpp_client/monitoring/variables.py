"""The device-model variables this block declares, in the format of services/ocpp_client/device_model_catalog.py.

- MonitoringCtrlr (part 2 appendix 3): Enabled, Available, the Set/ClearVariableMonitoring message limits,
  OfflineQueuingSeverity (N07.FR.04), and the read-only mirrors of the monitoring base and level
  (MonitoringBase/ActiveMonitoringBase, MonitoringLevel/ActiveMonitoringLevel), served live from the
  monitoring store (persistent=False; the store keeps them).
- The hardware components whose problems `events.py` reports, per EVSE and connector, with the names of
  appendix 3 (§3.2.17 ConnectorPlugRetentionLock, §3.2.45 RCD, §3.2.44 PowerContactor, §3.2.42
  OverCurrentProtection, §3.2.21 CPPWMController, §3.2.19 Controller, §3.2.20 ControlMetering, EVSE.Problem)
  and DataLink.Problem for the modem. Their values are live (persistent=False), false until a problem shows.
- Live hardware state from evse_io (CPPWMController.State, PowerContactor.Active,
  ConnectorPlugRetentionLock.Active), so that a CSMS can monitor it.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.ocpp_client.device_model.catalog import AttributeSpec, EvseTopology, VariableSpec

MONITORING_BASES = ("All", "FactoryDefault", "HardWiredOnly")
SEVERITY_MIN, SEVERITY_MAX = 0, 9
DEFAULT_MONITORING_LEVEL = 8  # everything but Debug (9): the preconfigured AvailabilityState monitors are Debug
DEFAULT_OFFLINE_QUEUING_SEVERITY = 4  # Error and worse wait out an offline period; the rest is dropped, counted
SET_MONITORING_ITEMS = 50
CLEAR_MONITORING_ITEMS = 50
MESSAGE_BYTES = 65000


def _spec(component: str, variable: str, data_type: str, default: str | None, mutability: str = "ReadOnly",
          **kw: object) -> VariableSpec:
    return VariableSpec(component, variable, data_type, (AttributeSpec("Actual", mutability, default),),
                        **kw)  # type: ignore[arg-type]


def monitoring_ctrlr_variables() -> list[VariableSpec]:
    """MonitoringCtrlr, as appendix 3 lists it (the message limits per instance)."""
    c = "MonitoringCtrlr"
    level = str(DEFAULT_MONITORING_LEVEL)
    return [
        _spec(c, "Available", "boolean", "true"),
        _spec(c, "Enabled", "boolean", "true", "ReadWrite"),
        _spec(c, "ItemsPerMessage", "integer", str(SET_MONITORING_ITEMS), variable_instance="SetVariableMonitoring",
              min_limit=1),
        _spec(c, "BytesPerMessage", "integer", str(MESSAGE_BYTES), variable_instance="SetVariableMonitoring",
              min_limit=1),
        _spec(c, "ItemsPerMessage", "integer", str(CLEAR_MONITORING_ITEMS),
              variable_instance="ClearVariableMonitoring", min_limit=1),
        _spec(c, "BytesPerMessage", "integer", str(MESSAGE_BYTES), variable_instance="ClearVariableMonitoring",
              min_limit=1),
        _spec(c, "OfflineQueuingSeverity", "integer", str(DEFAULT_OFFLINE_QUEUING_SEVERITY), "ReadWrite",
              min_limit=SEVERITY_MIN, max_limit=SEVERITY_MAX),
        _spec(c, "MonitoringBase", "OptionList", "All", values_list=MONITORING_BASES, persistent=False),
        _spec(c, "ActiveMonitoringBase", "OptionList", "All", values_list=MONITORING_BASES, persistent=False),
        _spec(c, "MonitoringLevel", "integer", level, min_limit=SEVERITY_MIN, max_limit=SEVERITY_MAX,
              persistent=False),
        _spec(c, "ActiveMonitoringLevel", "integer", level, min_limit=SEVERITY_MIN, max_limit=SEVERITY_MAX,
              persistent=False),
    ]


def _flag(component: str, variable: str, **where: object) -> VariableSpec:
    return _spec(component, variable, "boolean", "false", persistent=False, **where)


def hardware_variables(evses: Sequence[EvseTopology], *, has_modem: bool = True) -> list[VariableSpec]:
    """The problem flags `events.py` reports on, for this topology (EVSE.Problem is not in the base catalog)."""
    specs: list[VariableSpec] = []
    for evse in sorted(evses, key=lambda e: e.evse_id):
        n = evse.evse_id
        specs += [
            _flag("EVSE", "Problem", evse_id=n),
            _flag("RCD", "Tripped", evse_id=n),
            _flag("RCD", "Problem", evse_id=n),
            _flag("PowerContactor", "Problem", evse_id=n),
            _flag("OverCurrentProtection", "Active", evse_id=n),
            _flag("CPPWMController", "Problem", evse_id=n),
            _flag("Controller", "Problem", evse_id=n),
            _flag("ControlMetering", "Problem", evse_id=n),
        ]
        for connector in evse.connectors:
            specs.append(_flag("ConnectorPlugRetentionLock", "Problem", evse_id=n,
                               connector_id=connector.connector_id))
    if has_modem:
        specs.append(_flag("DataLink", "Problem"))
    return specs


#: Live hardware state from evse_io's EVSE state: (component, variable, data type, evse_io field).
LIVE_STATE = (
    ("CPPWMController", "State", "string", "cp_state"),  # IEC 61851-1 state A-F
    ("PowerContactor", "Active", "boolean", "relays_closed"),  # closed
    ("ConnectorPlugRetentionLock", "Active", "boolean", "lock"),  # locked
)


def live_state_variables(evses: Sequence[EvseTopology]) -> list[VariableSpec]:
    """The hardware state operators monitor (e.g. Delta on PowerContactor.Active); values served live."""
    specs: list[VariableSpec] = []
    for evse in sorted(evses, key=lambda e: e.evse_id):
        for component, variable, data_type, _ in LIVE_STATE:
            if component == "ConnectorPlugRetentionLock":
                specs += [_spec(component, variable, data_type, None, evse_id=evse.evse_id,
                                connector_id=c.connector_id, persistent=False) for c in evse.connectors]
            else:
                specs.append(_spec(component, variable, data_type, None, evse_id=evse.evse_id, persistent=False))
    return specs


def block_variables(evses: Sequence[EvseTopology], *, has_modem: bool = True) -> list[VariableSpec]:
    """Everything this block adds to the catalog (the lead's one line: `extra_variables=block_variables(…)`)."""
    return [*monitoring_ctrlr_variables(), *hardware_variables(evses, has_modem=has_modem),
            *live_state_variables(evses)]
