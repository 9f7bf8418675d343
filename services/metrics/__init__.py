"""reon-metrics: the station's state on the bus as Prometheus metrics (`/metrics`)."""
