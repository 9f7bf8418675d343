"""reonctl: start, stop and inspect a REON station."""
