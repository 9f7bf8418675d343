"""Counters of our CALLs to the CSMS, published in `ocpp.state.csms` as `link` (the exporter reads them).

CALLs sent and CALLERRORs received per action, and the round trip of every answered CALL (CALLRESULT or
CALLERROR) as a histogram over fixed bounds: cumulative counts, like a Prometheus histogram, plus sum and count.
Counted since the service started.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

#: Upper bounds of the round-trip buckets, seconds (the last, +Inf, is implicit: it equals `count`).
RTT_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CallStats:
    """What the RPC layer counts; `snapshot()` is the published shape."""

    def __init__(self) -> None:
        self.calls_sent: dict[str, int] = {}
        self.call_errors: dict[str, int] = {}
        self._rtt_counts = [0] * len(RTT_BOUNDS_S)
        self.rtt_sum_s = 0.0
        self.rtt_count = 0

    def sent(self, action: str) -> None:
        self.calls_sent[action] = self.calls_sent.get(action, 0) + 1

    def answered(self, action: str, rtt_s: float, *, error: bool) -> None:
        if error:
            self.call_errors[action] = self.call_errors.get(action, 0) + 1
        index = bisect_left(RTT_BOUNDS_S, rtt_s)
        if index < len(RTT_BOUNDS_S):
            self._rtt_counts[index] += 1
        self.rtt_sum_s += rtt_s
        self.rtt_count += 1

    def snapshot(self) -> dict[str, Any]:
        cumulative, total = [], 0
        for count in self._rtt_counts:
            total += count
            cumulative.append(total)
        return {
            "calls_sent": dict(self.calls_sent),
            "call_errors": dict(self.call_errors),
            "rtt_s": {"bounds": list(RTT_BOUNDS_S), "cumulative_counts": cumulative,
                      "sum": round(self.rtt_sum_s, 6), "count": self.rtt_count},
        }
