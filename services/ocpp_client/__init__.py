"""reon-ocpp: the station side of the CSMS link and everything OCPP 2.0.1."""
