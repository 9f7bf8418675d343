"""The broker's Last Value Cache (zguide ch. 5), bounded: no client can grow the broker without limit.

Each state topic keeps its last message, as long as that message is at most `max_topic_bytes` and the whole
cache stays within `budget_bytes`. A message refused by either bound is still forwarded live, but not kept
(and the topic's older value is dropped, so a late subscriber never receives a stale state as the latest);
a topic over the per-topic limit is logged once, a full budget once until there is room again, and every
refusal is counted.
Snapshots are read in pages of at most `page_bytes`, in topic order, so no answer outgrows a bus frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from bus.envelope import MAX_MESSAGE_BYTES

log = logging.getLogger("bus.broker")

MAX_TOPIC_BYTES = 64 * 1024
BUDGET_BYTES = 8 * 1024 * 1024
PAGE_BYTES = MAX_MESSAGE_BYTES - 8 * 1024  # room for the reply's envelope and the broker's counters
TOPIC_OVERHEAD_BYTES = 64  # dict slot, key and list: counted so a flood of tiny topics is bounded too
LOGGED_TOPICS_MAX = 10_000


class LastValueCache:
    """topic → [topic, raw envelope] of its last accepted state message."""

    def __init__(self, *, max_topic_bytes: int = MAX_TOPIC_BYTES, budget_bytes: int = BUDGET_BYTES) -> None:
        self.max_topic_bytes = max_topic_bytes
        self.budget_bytes = budget_bytes
        self.frames: dict[bytes, list[bytes]] = {}
        self.total_bytes = 0
        self.refused = 0
        self._logged: set[bytes] = set()
        self._budget_logged = False

    def __len__(self) -> int:
        return len(self.frames)

    @staticmethod
    def _cost(frames: list[bytes]) -> int:
        return len(frames[0]) + len(frames[1]) + TOPIC_OVERHEAD_BYTES

    def put(self, topic: bytes, frames: list[bytes]) -> bool:
        """Keep `frames` as the topic's last value; False (counted, logged once per topic) when refused."""
        old = self.frames.pop(topic, None)
        if old is not None:
            self.total_bytes -= self._cost(old)
        cost = self._cost(frames)
        if len(frames[1]) > self.max_topic_bytes:
            self._refuse_oversized(topic, len(frames[1]))
            return False
        if self.total_bytes + cost > self.budget_bytes:
            self.refused += 1
            if not self._budget_logged:
                self._budget_logged = True
                log.warning("state %r not cached: the cache is at %d of its %d bytes budget (forwarded live; further"
                            " refusals are only counted)", topic[:80], self.total_bytes, self.budget_bytes)
            return False
        self.frames[topic] = frames
        self.total_bytes += cost
        if self._budget_logged and self.total_bytes < self.budget_bytes * 0.9:
            self._budget_logged = False
        return True

    def _refuse_oversized(self, topic: bytes, size: int) -> None:
        self.refused += 1
        if topic in self._logged:
            return
        if len(self._logged) >= LOGGED_TOPICS_MAX:  # a peer inventing topics must not grow the log set either
            self._logged.clear()
        self._logged.add(topic)
        log.warning("state %r not cached: %d bytes > the per-topic limit of %d (forwarded live; further refusals"
                    " of it are only counted)", topic[:80], size, self.max_topic_bytes)

    def matching(self, prefix: bytes) -> Iterator[list[bytes]]:
        """Cached messages whose topic starts with prefix (a copy: safe while the cache changes)."""
        return iter([frames for topic, frames in self.frames.items() if topic.startswith(prefix)])

    def cost(self, frames: list[bytes]) -> int:
        return self._cost(frames)

    def page(self, prefix: str, after: str, page_bytes: int = PAGE_BYTES) -> tuple[list[list[bytes]], str | None]:
        """Cached messages with topic > after starting with prefix, in topic order, summing at most page_bytes
        (at least one); and the topic to continue after, None on the last page."""
        prefix_b, after_b = prefix.encode(), after.encode()
        topics = sorted(t for t in self.frames if t.startswith(prefix_b) and t > after_b)
        out: list[list[bytes]] = []
        used = 0
        for topic in topics:
            size = self._cost(self.frames[topic])
            if out and used + size > page_bytes:
                return out, out[-1][0].decode()
            out.append(self.frames[topic])
            used += size
        return out, None
