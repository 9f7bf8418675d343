"""Session bookkeeping for ChargingControl: the facts of the current session and the events they make."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from services.evse_io.charging_types import SessionEvent
from services.evse_io.contract import SessionEntry


@dataclass
class Session:
    """The facts of one session, from plug-in or authorization (whichever first) to stop or unplug."""

    session_id: str
    plugged_at: str | None = None
    authorized: bool = False
    authorized_at: str | None = None
    authorized_by: dict[str, Any] | None = None  # the id token
    max_current_a: float | None = None
    power_on_at: str | None = None  # latest relay close
    power_off_at: str | None = None  # latest relay open
    ended_at: str | None = None
    end_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def utc_now() -> datetime:
    return datetime.now(UTC)


class SessionTracker:
    """Opens, annotates and closes sessions and queues their events with wall-clock timestamps.

    A session that has ended stays ``current`` (``ending``) until its relays are open, so that its
    power_off fact belongs to it; then ``close()`` emits ``session_ended`` with the whole record.
    """

    def __init__(self, evse_id: int, wall_clock: Callable[[], datetime] = utc_now) -> None:
        self._evse_id = evse_id
        self._wall_clock = wall_clock
        self.current: Session | None = None
        self.plugged_at: str | None = None  # of the EV plugged now, across sessions
        self._events: list[SessionEvent] = []

    @property
    def authorized(self) -> bool:
        return self.current is not None and self.current.authorized

    @property
    def ending(self) -> bool:
        return self.current is not None and self.current.ended_at is not None

    @property
    def max_current_a(self) -> float | None:
        return self.current.max_current_a if self.current is not None else None

    def take_events(self) -> list[SessionEvent]:
        events, self._events = self._events, []
        return events

    def plug_in(self) -> None:
        """EV connected: a new session unless one is open (authorized before plug-in)."""
        if self.ending:
            self.close()
        self.plugged_at = self._stamp()
        session = self.current or self._open()
        session.plugged_at = self.plugged_at
        self._emit(SessionEntry.PLUGGED_IN)

    def unplug(self) -> None:
        """EV disconnected: ends the open session with reason EVDisconnected."""
        self.plugged_at = None
        self._emit(SessionEntry.UNPLUGGED)
        if self.current is not None and not self.ending:
            self.end("EVDisconnected")

    def authorize(self, id_token: dict[str, Any] | None, max_current_a: float | None) -> None:
        """Authorize the open session (or a new one); a repeat only updates the current cap."""
        session = self.current or self._open()
        session.max_current_a = max_current_a
        if not session.authorized:
            session.authorized = True
            session.authorized_at = self._stamp()
            session.authorized_by = dict(id_token) if id_token is not None else None
            self._emit(SessionEntry.AUTHORIZED, id_token=session.authorized_by, max_current_a=max_current_a)

    def end(self, reason: str) -> None:
        """Stop the open session: no longer authorized; closed later by close()."""
        session = self.current
        if session is None or session.ended_at is not None:
            return
        session.authorized = False
        session.ended_at = self._stamp()
        session.end_reason = reason

    def close(self) -> None:
        """Emit session_ended for an ending session and forget it."""
        session = self.current
        if session is None or session.ended_at is None:
            return
        self._emit(SessionEntry.SESSION_ENDED, reason=session.end_reason, session=session.as_dict())
        self.current = None

    def relays_changed(self, closed: bool, offered_current_a: float) -> None:
        """Record power_on/power_off for the current session, if any."""
        session = self.current
        if session is None:
            return
        if closed:
            session.power_on_at = self._stamp()
            self._emit(SessionEntry.POWER_ON, offered_current_a=offered_current_a)
        else:
            session.power_off_at = self._stamp()
            self._emit(SessionEntry.POWER_OFF)

    def _open(self) -> Session:
        self.current = Session(session_id=uuid.uuid4().hex, plugged_at=self.plugged_at)
        return self.current

    def _stamp(self) -> str:
        return self._wall_clock().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _emit(self, name: SessionEntry, **data: Any) -> None:
        session_id = self.current.session_id if self.current is not None else None
        self._events.append(SessionEvent(name, self._evse_id, session_id, self._stamp(), data))
