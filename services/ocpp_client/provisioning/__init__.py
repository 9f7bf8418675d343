"""Provisioning (functional block B): BootNotification, Heartbeat and the registration status (boot,
B01-B04), GetVariables / SetVariables / GetBaseReport / GetReport (variables, B05-B08), Reset (reset,
B11-B12), TriggerMessage (trigger, F06), and the small remote commands UnlockConnector, DataTransfer and
ClearCache (remote, F05, P01, C11).
"""
