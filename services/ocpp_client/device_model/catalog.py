"""The components and variables REON's device model declares, as data.

Sources: OCPP 2.0.1 Part 2 appendix 3 (standardized components and variables, the Required? column of
appendix-dm_components_vars.csv), Part 5 §5 (controllers the Core profile needs: OCPPCommCtrlr, TxCtrlr,
DeviceDataCtrlr, ClockCtrlr, SecurityCtrlr, SampledDataCtrlr, AlignedDataCtrlr, AuthCtrlr) and the optional
ones REON uses (AuthCacheCtrlr, LocalAuthListCtrlr, DataLink for the modem). EVSE and Connector components
follow the station's topology. Defaults here are REON's factory values; the station config seeds over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.ocpp_client.link.payload_schema import schema_enum
from services.ocpp_client.smart_charging import variables as sc

ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
DATA_TYPES = (
    "string", "decimal", "integer", "dateTime", "boolean", "OptionList", "SequenceList", "MemberList",
)
MUTABILITIES = ("ReadOnly", "WriteOnly", "ReadWrite")
CONNECTOR_TYPES = frozenset({*schema_enum("ReserveNowRequest", "ConnectorEnumType"), "OppCharge"})

AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Frequency",
)
TX_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")
FILE_TRANSFER_PROTOCOLS = ("HTTP", "HTTPS", "FTP")
TIME_SOURCES = ("Heartbeat", "NTP", "RealTimeClock")


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute (Actual/Target/MinSet/MaxSet) of a variable, with its mutability and factory value."""

    type: str = "Actual"
    mutability: str = "ReadWrite"
    default: str | None = None


@dataclass(frozen=True)
class VariableSpec:
    """A declared variable of one component instance, with its characteristics.

    persistent: kept in SQLite across restarts (False for live values the station refreshes, e.g. ICCID).
    reboot_required: a new value takes effect only after a reboot (SetVariables answers RebootRequired).
    """

    component: str
    variable: str
    data_type: str
    attributes: tuple[AttributeSpec, ...]
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] | None = None
    min_length: int | None = None
    allow_empty: bool = True
    persistent: bool = True
    constant: bool = False
    reboot_required: bool = False

    @property
    def supports_monitoring(self) -> bool:
        """VariableCharacteristics.supportsMonitoring: every variable whose value can change (N04)."""
        return not self.constant

    def attribute(self, attribute_type: str) -> AttributeSpec | None:
        """The declared attribute of that type, or None when the variable does not support it."""
        return next((attr for attr in self.attributes if attr.type == attribute_type), None)

    @property
    def ident(self) -> tuple[str, str, int, int, str, str]:
        """Case-folded identity used for lookups and as the database key."""
        return (
            self.component.casefold(),
            (self.component_instance or "").casefold(),
            self.evse_id or 0,
            self.connector_id or 0,
            self.variable.casefold(),
            (self.variable_instance or "").casefold(),
        )


@dataclass(frozen=True)
class ConnectorTopology:
    """A connector of an EVSE: its id on the EVSE and its ConnectorEnumType (e.g. "sType2")."""

    connector_id: int
    connector_type: str


@dataclass(frozen=True)
class EvseTopology:
    """An EVSE of the station as configured."""

    evse_id: int
    connectors: tuple[ConnectorTopology, ...]
    supply_phases: int = 3
    max_power_w: float = 22080.0


def _v(
    component: str,
    variable: str,
    data_type: str,
    default: str | None = None,
    mutability: str = "ReadWrite",
    **characteristics: object,
) -> VariableSpec:
    """Shorthand for a variable with only an Actual attribute."""
    attributes = (AttributeSpec("Actual", mutability, default),)
    return VariableSpec(component, variable, data_type, attributes, **characteristics)  # type: ignore[arg-type]


def _ro(component: str, variable: str, data_type: str, default: str | None = None, **kw: object
        ) -> VariableSpec:
    return _v(component, variable, data_type, default, "ReadOnly", **kw)


def _flag(component: str, variable: str, default: bool, mutability: str = "ReadWrite") -> VariableSpec:
    return _v(component, variable, "boolean", "true" if default else "false", mutability)


def _ocpp_comm_ctrlr(has_socket: bool) -> list[VariableSpec]:
    c = "OCPPCommCtrlr"
    unlock_mutability = "ReadWrite" if has_socket else "ReadOnly"  # fixed cables: ReadOnly false (appendix 3)
    return [
        _ro(c, "FileTransferProtocols", "MemberList", ",".join(FILE_TRANSFER_PROTOCOLS),
            values_list=FILE_TRANSFER_PROTOCOLS),
        _v(c, "HeartbeatInterval", "integer", "300", unit="s", min_limit=1, max_limit=86400),
        _ro(c, "MessageTimeout", "integer", "30", variable_instance="Default", unit="s", min_limit=1),
        _v(c, "MessageAttempts", "integer", "3", variable_instance="TransactionEvent", min_limit=1,
           max_limit=100),
        _v(c, "MessageAttemptInterval", "integer", "60", variable_instance="TransactionEvent", unit="s",
           min_limit=0, max_limit=86400),
        _v(c, "NetworkConfigurationPriority", "string", "1", max_limit=100, reboot_required=True),
        _v(c, "NetworkProfileConnectionAttempts", "integer", "3", min_limit=1, max_limit=100),
        _v(c, "OfflineThreshold", "integer", "300", unit="s", min_limit=0, max_limit=86400),
        _v(c, "ResetRetries", "integer", "2", min_limit=0, max_limit=10),
        _v(c, "RetryBackOffRandomRange", "integer", "10", unit="s", min_limit=0, max_limit=3600),
        _v(c, "RetryBackOffRepeatTimes", "integer", "5", min_limit=0, max_limit=20),
        _v(c, "RetryBackOffWaitMinimum", "integer", "5", unit="s", min_limit=0, max_limit=3600),
        _v(c, "UnlockOnEVSideDisconnect", "boolean", "true" if has_socket else "false", unlock_mutability),
        _v(c, "WebSocketPingInterval", "integer", "30", unit="s", min_limit=0, max_limit=3600),
    ]


def _tx_ctrlr() -> list[VariableSpec]:
    c = "TxCtrlr"
    tx_points = "EVConnected,Authorized"
    return [
        _v(c, "EVConnectionTimeOut", "integer", "120", unit="s", min_limit=0, max_limit=3600),
        _v(c, "MaxEnergyOnInvalidId", "integer", "0", unit="Wh", min_limit=0),
        _flag(c, "StopTxOnEVSideDisconnect", True),
        _flag(c, "StopTxOnInvalidId", True),
        _v(c, "TxStartPoint", "MemberList", tx_points, values_list=TX_POINTS, allow_empty=False),
        _v(c, "TxStopPoint", "MemberList", tx_points, values_list=TX_POINTS, allow_empty=False),
    ]


def _device_data_ctrlr() -> list[VariableSpec]:
    c = "DeviceDataCtrlr"
    limits = []
    for instance, items in (("GetReport", "100"), ("GetVariables", "50"), ("SetVariables", "50")):
        limits.append(_ro(c, "ItemsPerMessage", "integer", items, variable_instance=instance, min_limit=1))
        limits.append(_ro(c, "BytesPerMessage", "integer", "65000", variable_instance=instance, min_limit=1))
    return [
        *limits,
        _ro(c, "ConfigurationValueSize", "integer", "1000", min_limit=1, max_limit=1000),
        _ro(c, "ReportingValueSize", "integer", "2500", min_limit=1, max_limit=2500),
    ]


def _clock_ctrlr() -> list[VariableSpec]:
    return [
        _ro("ClockCtrlr", "DateTime", "dateTime", None, persistent=False),
        _v("ClockCtrlr", "TimeSource", "SequenceList", "Heartbeat", values_list=TIME_SOURCES,
           allow_empty=False),
    ]


def _security_ctrlr() -> list[VariableSpec]:
    c = "SecurityCtrlr"
    return [
        # WriteOnly so that a CSMS reading the configuration never sees it (A00.FR.205, errata 2025-01).
        _v(c, "BasicAuthPassword", "string", None, "WriteOnly", min_length=16, max_limit=64),
        _ro(c, "CertificateEntries", "integer", "0", min_limit=0, persistent=False),
        _ro(c, "Identity", "string", None, max_limit=48, constant=True),
        _v(c, "OrganizationName", "string", "", max_limit=64),
        _ro(c, "SecurityProfile", "integer", "1", min_limit=1, max_limit=3),
    ]


def _sampled_data_ctrlr() -> list[VariableSpec]:
    c = "SampledDataCtrlr"
    energy = "Energy.Active.Import.Register"
    return [
        _flag(c, "Available", True, "ReadOnly"),
        _flag(c, "Enabled", True),
        _flag(c, "RegisterValuesWithoutPhases", True),
        _v(c, "TxEndedInterval", "integer", "0", unit="s", min_limit=0, max_limit=86400),
        _v(c, "TxEndedMeasurands", "MemberList", energy, values_list=MEASURANDS),
        _v(c, "TxStartedMeasurands", "MemberList", energy, values_list=MEASURANDS),
        _v(c, "TxUpdatedInterval", "integer", "60", unit="s", min_limit=0, max_limit=86400),
        _v(c, "TxUpdatedMeasurands", "MemberList", f"{energy},Power.Active.Import", values_list=MEASURANDS),
    ]


def _aligned_data_ctrlr() -> list[VariableSpec]:
    c = "AlignedDataCtrlr"
    energy = "Energy.Active.Import.Register"
    return [
        _flag(c, "Available", True, "ReadOnly"),
        _flag(c, "Enabled", True),
        _v(c, "Interval", "integer", "900", unit="s", min_limit=0, max_limit=86400),
        _v(c, "Measurands", "MemberList", energy, values_list=MEASURANDS),
        _flag(c, "SendDuringIdle", False),
        _v(c, "TxEndedInterval", "integer", "0", unit="s", min_limit=0, max_limit=86400),
        _v(c, "TxEndedMeasurands", "MemberList", energy, values_list=MEASURANDS),
    ]


def _auth_ctrlrs() -> list[VariableSpec]:
    a, cache, local = "AuthCtrlr", "AuthCacheCtrlr", "LocalAuthListCtrlr"
    return [
        _flag(a, "AuthorizeRemoteStart", False),
        _flag(a, "DisableRemoteAuthorization", False),
        _flag(a, "Enabled", True),
        _flag(a, "LocalAuthorizeOffline", True),
        _flag(a, "LocalPreAuthorize", False),
        _v(a, "MasterPassGroupId", "string", "", max_limit=36),
        _flag(a, "OfflineTxForUnknownIdEnabled", False),
        _flag(cache, "Available", True, "ReadOnly"),
        _flag(cache, "DisablePostAuthorize", False),
        _flag(cache, "Enabled", True),
        _v(cache, "LifeTime", "integer", "86400", unit="s", min_limit=0),
        _v(cache, "Policy", "OptionList", "LRU", values_list=("LRU",)),
        _ro(cache, "Storage", "integer", "0", unit="B", min_limit=0, max_limit=1048576, persistent=False),
        _flag(local, "Available", True, "ReadOnly"),
        _ro(local, "BytesPerMessage", "integer", "65000", min_limit=1),
        _flag(local, "DisablePostAuthorize", False),
        _flag(local, "Enabled", True),
        _ro(local, "Entries", "integer", "0", min_limit=0, max_limit=10000, persistent=False),
        _ro(local, "ItemsPerMessage", "integer", "100", min_limit=1),
        _ro(local, "Storage", "integer", "0", unit="B", min_limit=0, max_limit=1048576, persistent=False),
    ]


def _charging_station(evses: Sequence[EvseTopology]) -> list[VariableSpec]:
    c = "ChargingStation"
    phases = str(max((evse.supply_phases for evse in evses), default=0))
    return [
        _flag(c, "AllowNewSessionsPendingFirmwareUpdate", False),
        _ro(c, "AvailabilityState", "OptionList", "Available", values_list=AVAILABILITY_STATES,
            persistent=False),
        _flag(c, "Available", True, "ReadOnly"),
        _ro(c, "FirmwareVersion", "string", None, max_limit=50, constant=True),
        _ro(c, "Model", "string", None, max_limit=20, constant=True),
        _ro(c, "SerialNumber", "string", None, max_limit=25, constant=True),
        _ro(c, "SupplyPhases", "integer", phases, min_limit=0, max_limit=3, constant=True),
        _ro(c, "VendorName", "string", None, max_limit=50, constant=True),
    ]


def _data_link() -> list[VariableSpec]:
    c = "DataLink"  # appendix 3.2.22: the link to the CSMS (cellular modem)
    return [
        _ro(c, "ICCID", "string", None, max_limit=22, persistent=False),
        _ro(c, "IMSI", "string", None, max_limit=20, persistent=False),
        _ro(c, "SignalStrength", "decimal", None, unit="dBm", persistent=False),
    ]


def _smart_charging_ctrlr() -> list[VariableSpec]:
    c = sc.COMPONENT  # appendix 3.2.x: what smart_charging/ does (K01–K10)
    return [
        _flag(c, "ACPhaseSwitchingSupported", False, "ReadOnly"),
        _flag(c, "Available", True, "ReadOnly"),
        _flag(c, "Enabled", True),
        _ro(c, "Entries", "integer", "0", variable_instance="ChargingProfiles", min_limit=0,
            max_limit=sc.MAX_ENTRIES, persistent=False),
        _flag(c, "ExternalControlSignalsEnabled", False),
        _v(c, "LimitChangeSignificance", "decimal", "10", unit="Percent", min_limit=0, max_limit=100),
        _flag(c, "NotifyChargingLimitWithSchedules", False),
        _ro(c, "PeriodsPerSchedule", "integer", "24", min_limit=1, max_limit=sc.MAX_PERIODS_PER_SCHEDULE),
        _ro(c, "ProfileStackLevel", "integer", "8", min_limit=0, max_limit=sc.MAX_STACK_LEVEL),
        _ro(c, "RateUnit", "MemberList", ",".join(sc.RATE_UNITS), values_list=sc.RATE_UNITS, allow_empty=False),
    ]


def _evse(evse: EvseTopology) -> list[VariableSpec]:
    e, n = "EVSE", evse.evse_id
    phases = str(evse.supply_phases)
    specs = [
        _ro(e, "AvailabilityState", "OptionList", "Available", evse_id=n, values_list=AVAILABILITY_STATES,
            persistent=False),
        _ro(e, "Available", "boolean", "true", evse_id=n),
        VariableSpec(e, "Power", "decimal", (AttributeSpec("Actual", "ReadOnly", "0"),
                                             AttributeSpec("MaxSet", "ReadOnly", _number_text(evse.max_power_w))),
                     evse_id=n, unit="W", min_limit=0, max_limit=evse.max_power_w, persistent=False),
        _ro(e, "SupplyPhases", "integer", phases, evse_id=n, min_limit=0, max_limit=3, constant=True),
    ]
    for connector in evse.connectors:
        k, m = "Connector", connector.connector_id
        specs += [
            _ro(k, "AvailabilityState", "OptionList", "Available", evse_id=n, connector_id=m,
                values_list=AVAILABILITY_STATES, persistent=False),
            _ro(k, "Available", "boolean", "true", evse_id=n, connector_id=m),
            _ro(k, "ConnectorType", "string", connector.connector_type, evse_id=n, connector_id=m,
                constant=True),
            _ro(k, "SupplyPhases", "integer", phases, evse_id=n, connector_id=m, min_limit=0, max_limit=3,
                constant=True),
        ]
    return specs


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_topology(evses: Sequence[EvseTopology]) -> None:
    """Raise ValueError naming the problem when the configured EVSEs cannot form a device model."""
    seen: set[int] = set()
    for evse in evses:
        if evse.evse_id < 1 or evse.evse_id in seen:
            raise ValueError(f"EVSE id {evse.evse_id} must be unique and >= 1")
        seen.add(evse.evse_id)
        if not evse.connectors:
            raise ValueError(f"EVSE {evse.evse_id} has no connector")
        connector_ids = [connector.connector_id for connector in evse.connectors]
        if len(set(connector_ids)) != len(connector_ids) or min(connector_ids) < 1:
            raise ValueError(f"EVSE {evse.evse_id}: connector ids must be unique and >= 1")
        for connector in evse.connectors:
            if connector.connector_type not in CONNECTOR_TYPES:
                raise ValueError(
                    f"EVSE {evse.evse_id} connector {connector.connector_id}: unknown connector type "
                    f"{connector.connector_type!r} (use a ConnectorEnumType value such as 'sType2')"
                )


def build_catalog(evses: Sequence[EvseTopology], blocks: Sequence[VariableSpec] = ()) -> list[VariableSpec]:
    """Every variable REON declares for this topology, in report order; `blocks` (the variables a functional
    block declares, e.g. certificates/variables.py) replace the entries of the same identity, the rest follow."""
    check_topology(evses)
    has_socket = any(c.connector_type.startswith("s") for evse in evses for c in evse.connectors)
    specs = [
        *_charging_station(evses),
        *[spec for evse in sorted(evses, key=lambda e: e.evse_id) for spec in _evse(evse)],
        *_ocpp_comm_ctrlr(has_socket),
        *_tx_ctrlr(),
        *_device_data_ctrlr(),
        *_clock_ctrlr(),
        *_security_ctrlr(),
        *_sampled_data_ctrlr(),
        *_aligned_data_ctrlr(),
        *_auth_ctrlrs(),
        *_data_link(),
        *_smart_charging_ctrlr(),
    ]
    by_ident = {spec.ident: spec for spec in blocks}
    replaced = [by_ident.pop(spec.ident, spec) for spec in specs]
    return [*replaced, *by_ident.values()]
