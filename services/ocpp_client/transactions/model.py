"""What the transaction state machine knows per EVSE, its settings, and the start/stop-point rules (E01, E06).

Start (TxStartPoint, E01): a transaction starts at an event that makes one of the configured points true:
ParkingBayOccupancy (bay occupied), EVConnected (plug-in), Authorized (authorization), PowerPathClosed (EV
connected and authorized, whichever came last), EnergyTransfer (relays closed, energy may flow). REON also
starts one at the latest when energy flows, whatever the list says: no energy without a transaction record.
DataSigned never holds (REON's meters do not sign), so it never starts or ends anything.

Stop (TxStopPoint, E06): the transaction ends when a configured point stops being true:
- EVConnected: the EV is unplugged (EVCommunicationLost);
- Authorized: the authorization ends (StopAuthorized, RemoteStop, Deauthorized, EVConnectTimeout, an EV-side
  disconnect with StopTxOnEVSideDisconnect);
- PowerPathClosed: either of the two above;
- EnergyTransfer: energy can no longer flow: the authorization is over and the relays are open, or the EV is
  unplugged (an EV or EVSE pause keeps the transaction: TC_E_22 allows Updated/SuspendedEV);
- ParkingBayOccupancy: the bay is vacated (EVDeparted).
A transaction that nothing else would end ends when the EV is unplugged with no authorization in force, unless
ParkingBayOccupancy keeps it (REON has no bay sensor: the glue may report one through `on_parking_bay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from services.ocpp_client.meter_values.sampling import SamplingSettings, read_setting

PARKING = "ParkingBayOccupancy"
EV_CONNECTED = "EVConnected"
AUTHORIZED = "Authorized"
DATA_SIGNED = "DataSigned"
POWER_PATH = "PowerPathClosed"
ENERGY = "EnergyTransfer"
TX_POINTS = (PARKING, EV_CONNECTED, AUTHORIZED, DATA_SIGNED, POWER_PATH, ENERGY)

IDLE, EV_CONNECTED_STATE, CHARGING = "Idle", "EVConnected", "Charging"
SUSPENDED_EV, SUSPENDED_EVSE = "SuspendedEV", "SuspendedEVSE"
HINT_SETTLE_S = 3.0  # evse_io's SuspendedEV/SuspendedEVSE must hold this long before it is reported


@dataclass(frozen=True)
class TxSettings:
    """TxCtrlr variables (plus the AuthCtrlr and sampling ones the state machine needs)."""

    start_points: frozenset[str] = frozenset({EV_CONNECTED, AUTHORIZED})
    stop_points: frozenset[str] = frozenset({EV_CONNECTED, AUTHORIZED})
    ev_connection_timeout_s: int = 120  # <= 0: no timeout
    stop_tx_on_ev_side_disconnect: bool = True
    stop_tx_on_invalid_id: bool = True
    max_energy_on_invalid_id_wh: int = 0
    master_pass_group_id: str = ""
    authorize_remote_start: bool = False
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    @classmethod
    def from_device_model(cls, dm: Any) -> TxSettings:
        """Read the settings from a DeviceModel; a variable it does not declare keeps the default above."""
        d = cls()
        t = "TxCtrlr"
        return cls(
            start_points=frozenset(read_setting(dm.get_list, t, "TxStartPoint", d.start_points)),
            stop_points=frozenset(read_setting(dm.get_list, t, "TxStopPoint", d.stop_points)),
            ev_connection_timeout_s=read_setting(dm.get_int, t, "EVConnectionTimeOut", d.ev_connection_timeout_s),
            stop_tx_on_ev_side_disconnect=read_setting(dm.get_bool, t, "StopTxOnEVSideDisconnect",
                                                       d.stop_tx_on_ev_side_disconnect),
            stop_tx_on_invalid_id=read_setting(dm.get_bool, t, "StopTxOnInvalidId", d.stop_tx_on_invalid_id),
            max_energy_on_invalid_id_wh=read_setting(dm.get_int, t, "MaxEnergyOnInvalidId",
                                                     d.max_energy_on_invalid_id_wh),
            master_pass_group_id=read_setting(dm.get_str, "AuthCtrlr", "MasterPassGroupId", ""),
            authorize_remote_start=read_setting(dm.get_bool, "AuthCtrlr", "AuthorizeRemoteStart", False),
            sampling=SamplingSettings.from_device_model(dm),
        )


class _Record:
    """JSON round trip for the dataclasses below (unknown keys are dropped, missing ones defaulted)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass
class Tx(_Record):
    """One open transaction: its id, the next seqNo, and what has been reported so far."""

    transaction_id: str
    started_at: float
    seq_no: int = 0  # the seqNo the next TransactionEvent gets
    charging_state: str | None = None  # as last reported
    time_charging_s: float = 0.0
    charging_since: float | None = None
    energy_begin_wh: float | None = None
    next_periodic_at: float | None = None
    next_ended_sample_at: float | None = None
    next_aligned_ended_at: float | None = None
    ended_samples: int = 0  # meter values collected for the Ended event (rows in tx_meter_values)
    phases_reported: int | None = None
    cable_max_reported: int | None = None
    last_event_at: float = 0.0  # timestamp of its last TransactionEvent: the next one is never dated earlier


@dataclass
class EvseRecord(_Record):
    """Everything the state machine knows about one EVSE; persisted whole after every change."""

    evse_id: int
    connector_id: int = 1
    session_id: str | None = None  # evse_io session last seen
    evse_io_auth_session: str | None = None  # evse_io session known to be authorized
    ev_connected: bool = False
    power_on: bool = False
    bay_occupied: bool = False
    charged_since_auth: bool = False  # energy flowed under the current authorization (a pause is SuspendedEV)
    authorized: bool = False
    id_token: dict[str, Any] | None = None  # of the authorization in force (or the last one)
    group_id_token: dict[str, Any] | None = None
    auth_unreported: bool = False  # the next TransactionEvent carries idToken (and RemoteStart if remote)
    auth_remote_start_id: int | None = None
    pending_remote: dict[str, Any] | None = None  # RequestStartTransaction awaiting authorization
    max_current_a: float | None = None
    connect_deadline: float | None = None  # EVConnectionTimeOut
    stop_reason: str | None = None  # why the authorization ended, for a later Ended
    suspended: bool = False  # REON holds the EVSE at 0 A (invalid idToken, E05)
    energy_limit_wh: float | None = None  # register value at which to suspend (MaxEnergyOnInvalidId)
    cable_max_current_a: float | None = None  # PP coding of the cable
    hint: str | None = None  # evse_io's charging_state
    hint_since: float | None = None
    last_fact_at: float = 0.0
    last_sample: dict[str, Any] | None = None
    last_sample_saved_at: float | None = None
    awaiting_evse_io_start: bool = False  # the station rebooted: the next evse_io_started ends what was open
    ignore_until_evse_io_start: bool = False  # ended at boot already: older session facts are stale
    tx: Tx | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvseRecord:
        record = super().from_dict(data)
        if isinstance(record.tx, Mapping):
            record.tx = Tx.from_dict(record.tx)
        return record


def conditions(rec: EvseRecord) -> set[str]:
    """The TxStartPoint / TxStopPoint values that hold now."""
    held = set()
    if rec.bay_occupied:
        held.add(PARKING)
    if rec.ev_connected:
        held.add(EV_CONNECTED)
    if rec.authorized:
        held.add(AUTHORIZED)
    if rec.ev_connected and rec.authorized:
        held.add(POWER_PATH)
    if rec.power_on:
        held.add(ENERGY)
    return held


def should_start(rec: EvseRecord, start_points: frozenset[str]) -> bool:
    """At a positive event (plug-in, authorization, power on, bay occupied): does a transaction start now?"""
    return rec.tx is None and bool(conditions(rec) & (start_points | {ENERGY}))


def ends_when_authorization_ends(rec: EvseRecord, stop_points: frozenset[str]) -> bool:
    """Whether the end of the authorization ends the transaction (given the relays' state now)."""
    if stop_points & {AUTHORIZED, POWER_PATH}:
        return True
    return ENERGY in stop_points and not rec.power_on


def ends_when_unplugged(rec: EvseRecord, stop_points: frozenset[str]) -> bool:
    """Whether unplugging ends the transaction (call after the authorization has been updated)."""
    if stop_points & {EV_CONNECTED, POWER_PATH, ENERGY}:
        return True
    if AUTHORIZED in stop_points and not rec.authorized:
        return True
    return not rec.authorized and not (PARKING in stop_points and rec.bay_occupied)


def ends_when_power_off(rec: EvseRecord, stop_points: frozenset[str]) -> bool:
    """Whether the relays opening ends the transaction (EnergyTransfer and no authorization left)."""
    return ENERGY in stop_points and not rec.authorized


def charging_state(rec: EvseRecord, now: float) -> str:
    """ChargingStateEnumType of the EVSE now (evse_io's pause hints count once they held HINT_SETTLE_S)."""
    if not rec.ev_connected:
        return IDLE
    if rec.authorized and rec.suspended:
        return SUSPENDED_EVSE  # reported when REON decides it, not when the relays open a moment later
    if rec.power_on:
        return CHARGING
    if not rec.authorized:
        return EV_CONNECTED_STATE
    if rec.hint in (SUSPENDED_EV, SUSPENDED_EVSE) and rec.hint_since is not None \
            and now - rec.hint_since >= HINT_SETTLE_S:
        return rec.hint
    return SUSPENDED_EV if rec.charged_since_auth else EV_CONNECTED_STATE
