"""Smart charging (OCPP 2.0.1 functional block K): charging profiles, composite schedules, the limiter."""
