"""Group streams in the service: a publisher's fragments fanned out to a group, in order and once.

Each connection's streams live on its :class:`~.hub.Session` (a :class:`~..protocol.group_stream.StreamTable`),
so they survive a reliable recovery: the official JS client replays its unacknowledged fragments after
recovering, the duplicates are dropped here and re-acknowledged. Fragments reach subscribers as ordinary
group messages with a ``stream`` member (sequenced on reliable connections like any message).

``streamAck`` is batched: every fragment accepted in one turn of the event loop is acknowledged by one
frame per stream (the spec allows it; the client needs no ack per fragment). Idle timeouts use one timer
per connection, set for the earliest deadline and re-armed when it fires, so accepting a fragment only
stores a timestamp.

Example (what the JS client's ``openGroupStream("lab")`` starts)::

    start_stream(session, StreamStart(group="lab", stream_id="5f0c..."))   # -> streamAck expected 1
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..protocol.envelope import Envelope
from ..protocol.frame_fields import InvalidMessage
from ..protocol.group_stream import GroupStream, StreamRejected, StreamTable, Verdict
from ..protocol.messages import (
    StreamAck,
    StreamClosed,
    StreamData,
    StreamEnd,
    StreamError,
    StreamInfo,
    StreamNack,
    StreamStart,
)
from ..protocol.stream_codec import encode_stream_reply, stream_member

if TYPE_CHECKING:
    from .hub import Session

log = logging.getLogger("wpsnb.service")


def start_stream(session: Session, message: StreamStart) -> None:
    """Open a stream to ``message.group`` (``streamAck`` 1) or refuse it (``streamClosed`` with the reason)."""
    if not session.permissions.can_send_to(message.group):
        _closed(session, message.stream_id, "Forbidden", session.permissions.forbidden_reason("send", message.group))
        return
    table = session.streams
    if table is None:
        table = session.streams = StreamTable()
    try:
        table.start(
            message.stream_id,
            message.group,
            idle_timeout_ms=message.idle_timeout_ms,
            no_echo=message.no_echo,
            now=_now(),
        )
    except StreamRejected as rejected:
        _closed(session, message.stream_id, rejected.name, rejected.message)
        return
    session.send_frame(encode_stream_reply(StreamAck(message.stream_id, 1)))
    _arm_idle_timer(session)


def stream_data(session: Session, message: StreamData) -> None:
    """Publish a fragment (or note a keepalive); duplicates are dropped, gaps refused with ``streamNack``."""
    table = session.streams
    verdict, stream = (
        (Verdict.NOT_FOUND, None) if table is None else table.data(message.stream_id, message.sequence_id, _now())
    )
    if verdict is Verdict.ACCEPT and stream is not None:
        if not session.permissions.can_send_to(stream.group):  # revoked by REST since the start
            _finish(
                session, stream, StreamError("Forbidden", session.permissions.forbidden_reason("send", stream.group))
            )
            return
        _publish(session, stream, message, stream.expected - 1)
        _ack_soon(session, stream.stream_id)
    elif verdict is Verdict.DUPLICATE:
        _ack_soon(session, message.stream_id)
    elif verdict is Verdict.GAP and stream is not None:
        flush_stream_acks(session)
        session.send_frame(
            encode_stream_reply(
                StreamNack(
                    stream.stream_id,
                    stream.expected,
                    "InvalidSequenceId",
                    f"expected streamSequenceId {stream.expected}, got {message.sequence_id}; resend from "
                    f"{stream.expected}",
                )
            )
        )
    elif verdict is Verdict.NOT_FOUND:
        _closed(session, message.stream_id, "StreamNotFound", _not_found(message.stream_id))


def end_stream(session: Session, message: StreamEnd) -> None:
    """Close a stream: subscribers get ``endOfStream`` (``UserError`` if aborted), the publisher ``streamClosed``."""
    table = session.streams
    stream = None if table is None else table.active.get(message.stream_id)
    if stream is None:
        if table is not None and table.recently_closed(message.stream_id):
            # A streamEnd replayed after a recovery: its streamClosed was lost with the old socket.
            session.send_frame(encode_stream_reply(StreamClosed(message.stream_id)))
        else:
            _closed(session, message.stream_id, "StreamNotFound", _not_found(message.stream_id))
        return
    error = None
    if message.aborted:
        error = StreamError("UserError", message.error_message or "", message.user_error_code)
    _finish(session, stream, error)


def end_all_streams(session: Session, reason: str) -> None:
    """The publisher's session ended for good: its open streams end as ``Cancelled`` for their subscribers."""
    table = session.streams
    if table is None:
        return
    for stream in list(table.active.values()):
        _finish(session, stream, StreamError("Cancelled", f"the publisher's connection ended: {reason}"), reply=False)
    _cancel_idle_timer(session)


# ---- fan-out -------------------------------------------------------------------------------------


def _publish(session: Session, stream: GroupStream, message: StreamData, sequence_id: int) -> None:
    try:
        envelope = Envelope.build(
            "group",
            message.data_type or "json",
            message.data,
            group=stream.group,
            from_user_id=session.user_id,
            extra=stream_member(StreamInfo(stream.stream_id, sequence_id)),
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidMessage(
            f"streamData: 'data' cannot be passed on as JSON ({exc}); "
            "send finite numbers and less deeply nested values",
            field="data",
        ) from None
    session.hub.send_to_group(stream.group, envelope, skip=session if stream.no_echo else None)


def _finish(
    session: Session,
    stream: GroupStream,
    error: StreamError | None,
    *,
    reply: bool = True,
) -> None:
    """End ``stream``: the terminal fragment to the group, ``streamClosed`` to the publisher."""
    if reply:
        # Fragments accepted in this tick are acknowledged first: once the stream has ended, the batched
        # streamAck would no longer find it, and the publisher would never hear of its last fragments.
        flush_stream_acks(session)
    if session.streams is not None:
        session.streams.end(stream.stream_id)
    # The JS client drops a group message without a dataType, so the terminal fragment is empty text.
    terminal = Envelope.build(
        "group",
        "text",
        "",
        group=stream.group,
        from_user_id=session.user_id,
        extra=stream_member(StreamInfo(stream.stream_id, stream.expected, True, error)),
    )
    session.hub.send_to_group(stream.group, terminal, skip=session if stream.no_echo else None)
    if reply:
        # A publisher's own abort (UserError) closes normally for the publisher; the spec allows no UserError there.
        closing = None if error is None or error.name == "UserError" else error
        session.send_frame(encode_stream_reply(StreamClosed(stream.stream_id, closing)))
    log.debug("stream %s of %s to group %s ended: %s", stream.stream_id, session.connection_id, stream.group, error)


def _closed(session: Session, stream_id: str, name: str, message: str) -> None:
    flush_stream_acks(session)
    session.send_frame(encode_stream_reply(StreamClosed(stream_id, StreamError(name, message))))


def _not_found(stream_id: str) -> str:
    return (
        f"no open stream {stream_id!r} on this connection (it ended, timed out, or was never started); "
        "start one with sendToGroup and 'stream'"
    )


# ---- batched acks --------------------------------------------------------------------------------


def _ack_soon(session: Session, stream_id: str) -> None:
    pending = session.stream_acks
    if pending is None:
        pending = session.stream_acks = set()
    if not pending:
        asyncio.get_running_loop().call_soon(_flush_acks, session)
    pending.add(stream_id)


def flush_stream_acks(session: Session) -> None:
    """Send the batched ``streamAck`` now: before any other answer, so answers keep the requests' order."""
    if session.stream_acks:
        _flush_acks(session)


def _flush_acks(session: Session) -> None:
    pending, table = session.stream_acks, session.streams
    if not pending or table is None:
        return
    for stream_id in pending:
        stream = table.active.get(stream_id)
        if stream is not None:
            session.send_frame(encode_stream_reply(StreamAck(stream_id, stream.expected)))
    pending.clear()


# ---- idle timeouts -------------------------------------------------------------------------------


def _now() -> float:
    return asyncio.get_running_loop().time()


def _arm_idle_timer(session: Session) -> None:
    table = session.streams
    deadline = None if table is None else table.next_deadline()
    if deadline is None:
        _cancel_idle_timer(session)
        return
    timer = session.stream_timer
    if timer is not None and timer.when() <= deadline:
        return  # an earlier wake-up is set; it re-arms itself
    if timer is not None:
        timer.cancel()
    session.stream_timer = asyncio.get_running_loop().call_at(deadline, _expire_idle, session)


def _expire_idle(session: Session) -> None:
    session.stream_timer = None
    table = session.streams
    if table is None:
        return
    for stream in table.expired(_now()):
        timeout_ms = round(stream.idle_timeout * 1000)
        _finish(session, stream, StreamError("IdleTimeout", f"no fragment or keepalive for {timeout_ms} ms"))
    _arm_idle_timer(session)


def _cancel_idle_timer(session: Session) -> None:
    if session.stream_timer is not None:
        session.stream_timer.cancel()
        session.stream_timer = None
