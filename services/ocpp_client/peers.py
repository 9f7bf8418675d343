"""The station's other services as ocpp_client reaches them: bus RPC to evse_io and firmware, and the
station's connectors (config `[[evse]]`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: `await call(service, command, args, deadline_s=…)`: the runtime's bus RPC (raises bus.rpc.RpcError).
Call = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Peers:
    """Bus RPC to another service, and whether it is running (its RPC socket exists)."""

    run_dir: Path
    call: Call

    def running(self, service: str) -> bool:
        return (self.run_dir / f"{service}.rpc").exists()


@dataclass(frozen=True)
class Connectors:
    """Every (evse id, connector id) of the station, in order."""

    pairs: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, evses: Sequence[Any]) -> Connectors:
        """From the config's EVSE tables (objects with `id` and `connectors`, each with `id`)."""
        return cls(tuple((evse.id, connector.id) for evse in evses for connector in evse.connectors))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.pairs)

    @property
    def evse_ids(self) -> list[int]:
        return sorted({evse_id for evse_id, _ in self.pairs})

    def has(self, evse_id: int, connector_id: int | None = None) -> bool:
        return any(e == evse_id and (connector_id is None or c == connector_id) for e, c in self.pairs)
