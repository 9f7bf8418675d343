"""Reservation (functional block H): ReserveNow, CancelReservation, use of a reserved EVSE, expiry and
ReservationStatusUpdate (H01–H04); `block.py` is what the service assembles.
"""
