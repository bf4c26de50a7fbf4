"""Reach one client's session inside a running ``LocalService``, for tests that need to cut a
connection or see which socket a session uses. Everything runs in the service's own loop thread
through ``LocalService.call``.

Example::

    probe = SessionProbe(service)
    probe.drop("stream", connection_id)          # as if the network failed: no close frame
"""

from __future__ import annotations

from typing import Any

from wpsnb.service.local import LocalService


class SessionProbe:
    """Reach one client's session inside the shared service (only through ``LocalService.call``)."""

    def __init__(self, service: LocalService):
        self.service = service

    def _session(self, hub: str, connection_id: str) -> Any:
        return self.service.service.find_hub(hub).sessions[connection_id]  # type: ignore[union-attr]

    def socket_of(self, hub: str, connection_id: str) -> object:
        """The WebSocket the session is attached to now (``None`` while detached)."""
        return self.service.call(lambda: self._session(hub, connection_id).socket)

    def drop(self, hub: str, connection_id: str) -> None:
        """Cut the client's TCP connection, as a network failure would (no close frame)."""
        self.service.call(lambda: self._session(hub, connection_id).socket.abort())

    def drop_and_forget(self, hub: str, connection_id: str) -> None:
        """Cut the connection and end its session at once, as if the recovery window had passed:
        the client's recovery attempt then meets a session the service no longer has."""

        def run() -> None:
            session = self._session(hub, connection_id)
            session.socket.abort()
            session.hub.end_session(session, "recovery window expired (test)", code=None)

        self.service.call(run)
