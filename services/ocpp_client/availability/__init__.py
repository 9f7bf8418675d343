"""Availability (functional block G): ChangeAvailability at station, EVSE and connector level (G03-G04),
StatusNotification on every connector status change and after each boot or offline period (G01, B04).
"""
