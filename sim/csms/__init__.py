"""The development CSMS: a central system built on the `ocpp` package (see server.py)."""

from sim.csms.policy import NO_REPLY, CsmsCallError, MessageRecord, StationNotConnected
from sim.csms.server import DevCsms

__all__ = ["NO_REPLY", "CsmsCallError", "DevCsms", "MessageRecord", "StationNotConnected"]
