"""Reservation (functional block H): ReserveNow, CancelReservation, ReservationStatusUpdate. Room for the
reservation issue.
"""
