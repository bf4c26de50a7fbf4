"""What the service does with each message a subprotocol client sends.

Pure service logic over :mod:`hub` state: permission checks, ackId de-duplication, fan-out and
the ``ack`` answers. No sockets here; answers go out through ``session.send_frame``.

Example::

    dispatch(session, parse_client_message('{"type":"joinGroup","group":"lab","ackId":1}'))
"""

from __future__ import annotations

import time

from ..protocol.json_codec import Envelope, InvalidMessage, encode_service_message
from ..protocol.messages import (
    Ack,
    AckError,
    ClientMessage,
    JoinGroup,
    LeaveGroup,
    Ping,
    Pong,
    SendEvent,
    SendToGroup,
    SequenceAck,
    StreamData,
    StreamEnd,
    StreamStart,
)
from ..protocol.stream_codec import metadata_member
from .group_streams import end_stream, flush_stream_acks, start_stream, stream_data
from .hub import Session

_PONG = encode_service_message(Pong())


def dispatch(session: Session, message: ClientMessage) -> None:
    """Carry out one client message on behalf of ``session``.

    Raises :class:`InvalidMessage` (before doing anything) for data that parsed but cannot be sent on.
    """
    kind = type(message)
    if kind is SendToGroup:
        _send_to_group(session, message)  # type: ignore[arg-type]
    elif kind is SequenceAck:
        if session.outbox is not None:
            session.outbox.acknowledge(message.sequence_id)  # type: ignore[union-attr]
    elif kind is JoinGroup or kind is LeaveGroup:
        _join_or_leave(session, message)  # type: ignore[arg-type]
    elif kind is Ping:
        if session.stream_acks:
            flush_stream_acks(session)  # batched acks answer earlier requests: they go first
        session.send_frame(_PONG)
    elif kind is StreamData:
        stream_data(session, message)  # type: ignore[arg-type]
    elif kind is SendEvent:
        _event(session, message)  # type: ignore[arg-type]
    elif kind is StreamStart:
        start_stream(session, message)  # type: ignore[arg-type]
    elif kind is StreamEnd:
        end_stream(session, message)  # type: ignore[arg-type]


def _send_to_group(session: Session, message: SendToGroup) -> None:
    ack_id = message.ack_id
    if ack_id is not None and session.ack_succeeded_before(ack_id):
        _duplicate(session, ack_id)
        return
    if not session.permissions.can_send_to(message.group):
        _fail(session, ack_id, "Forbidden", session.permissions.forbidden_reason("send", message.group))
        return
    try:
        envelope = Envelope.build(
            "group",
            message.data_type,
            message.data,
            group=message.group,
            from_user_id=session.user_id,
            extra=metadata_member(message.metadata),
        )
    except (ValueError, RecursionError) as exc:
        # Parsed but not re-encodable: a number beyond float range (1e400) or extreme nesting.
        raise InvalidMessage(
            f"sendToGroup: 'data' cannot be passed on as JSON ({exc}); send finite numbers "
            "and less deeply nested values",
            field="data",
        ) from None
    if message.ttl_seconds:
        envelope.expires_at = time.monotonic() + message.ttl_seconds
    session.hub.send_to_group(message.group, envelope, skip=session if message.no_echo else None)
    _succeed(session, ack_id)


def _join_or_leave(session: Session, message: JoinGroup | LeaveGroup) -> None:
    ack_id = message.ack_id
    if ack_id is not None and session.ack_succeeded_before(ack_id):
        _duplicate(session, ack_id)
        return
    joining = isinstance(message, JoinGroup)
    if not session.permissions.can_join_leave(message.group):
        action = "join" if joining else "leave"
        _fail(session, ack_id, "Forbidden", session.permissions.forbidden_reason(action, message.group))
        return
    if joining:
        session.hub.join(session, message.group)
    else:
        session.hub.leave(session, message.group)
    _succeed(session, ack_id)


def _event(session: Session, message: SendEvent) -> None:
    ack_id = message.ack_id
    if ack_id is not None and session.ack_succeeded_before(ack_id):
        _duplicate(session, ack_id)
        return
    # No upstream event handler exists yet: answer as the official emulator does.
    _fail(
        session,
        ack_id,
        "InternalServerError",
        f"No event handler is configured for event '{message.event}' in hub '{session.hub.name}'. "
        "The local service does not forward user events upstream yet; use sendToGroup to reach "
        "other clients, or the REST API from your server.",
    )


def _succeed(session: Session, ack_id: int | None) -> None:
    if ack_id is None:
        return
    session.remember_success(ack_id)
    session.send_frame(encode_service_message(Ack(ack_id=ack_id, success=True)))


def _fail(session: Session, ack_id: int | None, name: str, reason: str) -> None:
    if ack_id is None:
        return  # fire-and-forget requests never hear about errors (as in the real service)
    session.send_frame(encode_service_message(Ack(ack_id=ack_id, success=False, error=AckError(name, reason))))


def _duplicate(session: Session, ack_id: int) -> None:
    _fail(session, ack_id, "Duplicate", f"Message with ack-id: {ack_id} has been processed")
