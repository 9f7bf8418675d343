"""OCPP functional block N (diagnostics: variable monitoring) plus G05 NotifyEvent for hardware problems.

- `block.py`: the block assembled from narrow callables; the feeds (evse_io/meter/modem state, new values).
- `problems.py`: the hardware and link problems REON knows and where each shows in the device model.
- `events.py`: problems and monitor drafts → numbered NotifyEvent in the durable queue (G05, N07).
- `store.py`: monitors, monitoring base and level, reported problems and event ids, in ocpp.db.
- `factory.py`: the hard-wired and preconfigured monitors the station brings (N03).
- `setting.py`: SetVariableMonitoring (N04) and ClearVariableMonitoring (N06) checks.
- `monitors.py`: the evaluation of monitors on new values and on the clock (N07, N08).
- `reporting.py`: GetMonitoringReport → NotifyMonitoringReport pages (N02).
- `paging.py`: report entries → pages within ItemsPerMessage / BytesPerMessage, to the byte.
- `handlers.py`: the CSMS CALL handlers and DataTransfer vendorId REWATT.
- `variables.py`: MonitoringCtrlr and the hardware components, as device-model data.
- `characteristics.py`: supportsMonitoring, VariableCharacteristics, power MaxSet data, the device-model view.
- `drafts.py`: the shared shapes (VariableInfo, EventDraft) and callable types.
"""
