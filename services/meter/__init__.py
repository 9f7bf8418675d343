"""reon-meter: polling the energy meters on the RS-485 bus, one per EVSE."""
