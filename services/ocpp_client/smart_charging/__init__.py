"""Smart charging (functional block K): SetChargingProfile, GetChargingProfiles, ClearChargingProfile,
GetCompositeSchedule, composite schedules, station sharing, and the limiter that sends limits to evse_io.
"""
