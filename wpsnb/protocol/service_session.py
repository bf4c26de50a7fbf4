"""The life of a client connection as the service sees it: four states, every move in one table.

Theory of operation. A session is created ``connecting`` when the WebSocket upgrade is accepted and
becomes ``connected`` once the hub registers it (the ``connected`` system message is on its way).
When its socket drops without a final close, a reliable session is ``detached``: it keeps its
groups and keeps numbering (and holding) messages for the recovery window, and a recovering socket
makes it ``connected`` again (also straight from ``connected``, when the recovering socket arrives
before the service noticed that the old one dropped). A plain session is never detached; it ends.
``closed`` is final: the session has left every group and its id is free.

The hub (:mod:`wpsnb.service.hub`) makes every move through :func:`check_move`, so a move that is not
in :data:`SESSION_MOVES` is a bug that fails loudly instead of leaving a session half-way.

>>> SessionState.DETACHED == "detached"
True
>>> check_move(SessionState.CONNECTED, SessionState.DETACHED)
<SessionState.DETACHED: 'detached'>
>>> check_move(SessionState.CLOSED, SessionState.CONNECTED)
Traceback (most recent call last):
...
RuntimeError: a session cannot move from closed to connected
"""

from __future__ import annotations

from enum import Enum


class SessionState(str, Enum):
    """Where a service-side session is in its life (compares equal to its lower-case name)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DETACHED = "detached"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


#: Every state a session may move to from each state (the hub method that makes the move).
SESSION_MOVES: dict[SessionState, frozenset[SessionState]] = {
    SessionState.CONNECTING: frozenset({SessionState.CONNECTED, SessionState.CLOSED}),  # Hub.add / end_session
    # Hub.detach / Hub.attach (a recovery that overtakes the notice of the drop) / end_session
    SessionState.CONNECTED: frozenset({SessionState.DETACHED, SessionState.CONNECTED, SessionState.CLOSED}),
    SessionState.DETACHED: frozenset({SessionState.CONNECTED, SessionState.CLOSED}),  # Hub.attach / expiry
    SessionState.CLOSED: frozenset(),
}


def check_move(current: SessionState, new: SessionState) -> SessionState:
    """``new`` if :data:`SESSION_MOVES` allows moving there from ``current``; raises ``RuntimeError`` if not.

    >>> check_move(SessionState.CONNECTING, SessionState.CONNECTED)
    <SessionState.CONNECTED: 'connected'>
    """
    if new not in SESSION_MOVES[current]:
        raise RuntimeError(f"a session cannot move from {current} to {new}")
    return new


__all__ = ["SESSION_MOVES", "SessionState", "check_move"]
