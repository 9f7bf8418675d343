"""OCPP functional block N (diagnostics: variable monitoring) plus G05 NotifyEvent for hardware problems.

- `events.py`: hardware and link problems from evse_io, meter and modem → NotifyEvent (G05, N07).
- `store.py`: monitors, monitoring base/level, reported problems and event ids, in ocpp.db.
- `monitors.py`: SetVariableMonitoring validation (N04) and the evaluation of monitors on new values (N07, N08).
- `reporting.py`: GetMonitoringReport → NotifyMonitoringReport pages (N02).
- `paging.py`: splitting report entries into pages within ItemsPerMessage / BytesPerMessage, exactly.
- `handlers.py`: the CSMS CALL handlers and DataTransfer vendorId REWATT.
- `variables.py`: MonitoringCtrlr and the hardware components, as device-model data.
- `characteristics.py`: which variables support monitoring, VariableCharacteristics for full reports.
"""
