"""OCPP functional block N (diagnostics: variable monitoring) plus G05 NotifyEvent for hardware problems.

- `block.py`: the block assembled from narrow callables; the feeds (evse_io/meter/modem state, new values).
- `glue.py`: the block plugged into the OCPP service (handlers, readers, bus feeds); the REWATT health summary.
- `problems.py`: the hardware and link problems REON knows, where each shows in the device model, and the
  hard-wired and preconfigured monitors the station brings (N03).
- `events.py`: problems and monitor drafts → numbered NotifyEvent in the durable queue (G05, N07).
- `store.py`: monitors, monitoring base and level, reported problems and event ids, in ocpp.db.
- `setting.py`: SetVariableMonitoring (N04) and ClearVariableMonitoring (N06) checks.
- `monitors.py`: the evaluation of monitors on new values and on the clock (N07, N08); the shared shapes.
- `reporting.py`: GetMonitoringReport → NotifyMonitoringReport pages (N02); paging exact to the byte.
- `handlers.py`: the CSMS CALL handlers and DataTransfer vendorId REWATT.
- `variables.py`: MonitoringCtrlr, the hardware problem flags and live hardware state, as device-model data.
- `characteristics.py`: supportsMonitoring, VariableCharacteristics, power MaxSet data, the device-model view.
"""
