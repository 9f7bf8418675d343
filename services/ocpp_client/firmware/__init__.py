"""Firmware management (functional block L and N01): UpdateFirmware and GetLog handed to the firmware
service, and its durable status stream turned into FirmwareStatusNotification / LogStatusNotification
(management).
"""
