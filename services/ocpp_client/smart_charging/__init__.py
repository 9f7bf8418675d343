"""Smart charging (functional block K): SetChargingProfile, GetChargingProfiles, ClearChargingProfile,
GetCompositeSchedule, limits to evse_io. Room for the smart-charging issue.
"""
