"""What the service does with each message a subprotocol client sends.

Pure service logic over :mod:`hub` state: permission checks, ackId de-duplication, fan-out and
the ``ack`` answers. No sockets here; answers go out through ``session.send_frame``.

Example (effects on the hub; the acks go out through ``session.send_frame``, to no socket here)::

    >>> from wpsnb.protocol.json_codec import parse_client_message
    >>> from wpsnb.service.hub import Service
    >>> hub = Service("k" * 43).hub("stream")
    >>> ann = Session(hub, user_id="ann", protocol="json.reliable.webpubsub.azure.v1",
    ...               roles=["webpubsub.joinLeaveGroup.lab", "webpubsub.sendToGroup.lab"])
    >>> hub.add(ann)
    >>> dispatch(ann, parse_client_message('{"type":"joinGroup","group":"lab","ackId":1}'))
    >>> dispatch(ann, parse_client_message('{"type":"joinGroup","group":"ops","ackId":2}'))  # Forbidden
    >>> sorted(ann.groups)
    ['lab']
    >>> dispatch(ann, parse_client_message('{"type":"sendToGroup","group":"lab","dataType":"text","data":"hi"}'))
    >>> len(ann.outbox)  # its own message came back to it (no noEcho), sequenced
    1
    >>> dispatch(ann, parse_client_message('{"type":"sequenceAck","sequenceId":1}'))
    >>> len(ann.outbox)
    0
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from ..protocol.cloud_events import UpstreamError
from ..protocol.envelope import Envelope
from ..protocol.frame_fields import InvalidMessage
from ..protocol.json_codec import encode_service_message
from ..protocol.messages import (
    Ack,
    AckError,
    CancelInvocation,
    ClientMessage,
    Invoke,
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
from .invocations import cancel_invocation, invoke

if TYPE_CHECKING:
    from .upstream import Upstream

_PONG = encode_service_message(Pong())


def dispatch(session: Session, message: ClientMessage) -> Awaitable[None] | None:
    """Carry out one client message on behalf of ``session``.

    Returns an awaitable for a user event going to an event handler (the caller awaits it before the
    connection's next message, as the service processes one user event per connection at a time).
    Raises :class:`InvalidMessage` (before doing anything) for data that parsed but cannot be sent on.
    """
    match message:
        case SendToGroup():
            _send_to_group(session, message)
        case SequenceAck():
            if session.outbox is not None:
                session.outbox.acknowledge(message.sequence_id)
        case JoinGroup() | LeaveGroup():
            _join_or_leave(session, message)
        case Ping():
            if session.stream_acks:
                flush_stream_acks(session)  # batched acks answer earlier requests: they go first
            session.send_frame(_PONG)
        case StreamData():
            stream_data(session, message)
        case SendEvent():
            return _event(session, message)
        case StreamStart():
            start_stream(session, message)
        case StreamEnd():
            end_stream(session, message)
        case Invoke():
            invoke(session, message)
        case CancelInvocation():
            cancel_invocation(session, message)
    return None


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


def _event(session: Session, message: SendEvent) -> Awaitable[None] | None:
    ack_id = message.ack_id
    if ack_id is not None and session.ack_succeeded_before(ack_id):
        _duplicate(session, ack_id)
        return None
    upstream = session.hub.service.upstream
    if upstream is None or not upstream.handles(session.hub.name, message.event):
        # As the official emulator answers an event that no handler takes.
        _fail(
            session,
            ack_id,
            "InternalServerError",
            f"No event handler is configured for event '{message.event}' in hub '{session.hub.name}'. "
            "Configure one (LocalService(event_handlers=...) or wpsnb serve --event-handler), use sendToGroup "
            "to reach other clients, or the REST API from your server.",
        )
        return None
    return _forward_event(session, upstream, message)


async def _forward_event(session: Session, upstream: Upstream, message: SendEvent) -> None:
    """The user event goes to its handler; its reply (if any) reaches the client before the ack."""
    try:
        reply = await upstream.user_event(session, message.event, message.data_type, message.data)
    except UpstreamError as exc:
        _fail(session, message.ack_id, "InternalServerError", f"The event handler failed: {exc}")
        return
    if reply is not None:
        session.deliver(Envelope.build("server", reply.data_type, reply.data))
    _succeed(session, message.ack_id)


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
