"""Meter values (functional block J): sampling settings and MeterValue building from the meter service's
samples (sampling, J01-J02), and the bus glue: samples into the transactions, clock-aligned MeterValues of
idle EVSEs, TriggerMessage(MeterValues) (service).
"""
