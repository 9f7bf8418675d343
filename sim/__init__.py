"""Development simulators: the world outside the station."""
