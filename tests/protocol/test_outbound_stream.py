"""The publisher's stream bookkeeping, frame by frame: numbering, acks, a nack's rewind, what a reliable
recovery resends (and the queued copies it drops), and a brand-new connection ending every stream."""

from __future__ import annotations

import json

import pytest

from wpsnb.protocol.client_session import ClientSession
from wpsnb.protocol.messages import Connected, StreamAck, StreamClosed, StreamData, StreamError, StreamNack
from wpsnb.protocol.outbound_stream import OutboundStreams
from wpsnb.protocol.pending_requests import PendingRequests


def numbers(requests: PendingRequests) -> list[object]:
    frames = [json.loads(request.frame) for request in requests.queued]
    return [frame.get("streamSequenceId", frame["type"]) for frame in frames]


def started(streams: OutboundStreams, stream_id: str = "s1") -> None:
    streams.open(stream_id, "lab")
    assert streams.acknowledged(StreamAck(stream_id, 1)) is True
    assert streams.acknowledged(StreamAck(stream_id, 1)) is False  # the start is acknowledged once


def test_acks_release_fragments_and_a_nack_rewinds_to_the_one_wanted() -> None:
    streams = OutboundStreams()
    started(streams)
    for n in range(5):
        streams.fragment("s1", n, "json")
    streams.acknowledged(StreamAck("s1", 3))
    assert streams.open_streams["s1"].unacknowledged == 3
    again = streams.refused(StreamNack("s1", 4, "InvalidSequenceId"))
    assert [request.message.sequence_id for request in again] == [4, 5]
    assert streams.refused(StreamNack("other", 1, "TransientError")) == []


def test_a_recovery_resends_what_is_unacknowledged_once_in_order_then_the_end() -> None:
    streams, queue = OutboundStreams(), PendingRequests()
    started(streams)
    for n in range(4):
        streams.fragment("s1", n, "json")
    queue.put(streams.fragment("s1", "queued, not written", "text"))  # fragment 5 still in the queue
    queue.put(streams.open_streams["s1"].finish())
    streams.acknowledged(StreamAck("s1", 3))
    assert streams.recovered(queue) == 3
    assert numbers(queue) == [3, 4, 5, "streamEnd"]  # the queued copies are not sent twice


def test_a_stream_not_started_is_left_alone_by_a_recovery() -> None:
    streams, queue = OutboundStreams(), PendingRequests()
    stream = streams.open("s1", "lab")
    queue.put(stream.start)
    assert streams.recovered(queue) == 0 and [r.frame for r in queue.queued] == [stream.start.frame]


def test_closed_and_renewed_streams_are_over() -> None:
    streams, queue = OutboundStreams(), PendingRequests()
    started(streams)
    started(streams, "s2")
    queue.put(streams.fragment("s2", "x", "text"))
    error = StreamError("IdleTimeout", "idle")
    assert streams.closed(StreamClosed("s1", error)).error == error
    assert streams.closed(StreamClosed("s1")) is None
    ended = streams.renewed(queue, StreamError("Cancelled"))
    assert [stream.stream_id for stream in ended] == ["s2"] and not queue.queued
    assert ended[0].closed and ended[0].unacknowledged == 0
    with pytest.raises(ValueError, match="already open"):
        streams.open("s3", "lab") and streams.open("s3", "lab")


def test_the_client_session_routes_stream_replies_and_resends_after_recovery() -> None:
    session = ClientSession(reliable=True)
    session.start()
    session.opened(Connected("c1", "ann", "token"))
    stream = session.streams.open("s1", "lab")
    events = session.receive('{"type":"streamAck","streamId":"s1","expectedSequenceId":1}')
    assert events[-1] == StreamAck("s1", 1) and stream.started
    for n in range(3):
        session.accept(session.streams.fragment("s1", n, "json"))
    session.frames_to_send()  # written, then the socket drops before any ack
    session.connection_lost(None, "dropped")
    session.recovered()
    again = [request.message for request in session.frames_to_send()]
    assert [m.sequence_id for m in again if isinstance(m, StreamData)] == [1, 2, 3]
    session.receive('{"type":"streamNack","streamId":"s1","expectedSequenceId":2,"name":"InvalidSequenceId"}')
    assert [request.message.sequence_id for request in session.requests.queued] == [2, 3]
    events = session.receive('{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout"}}')
    assert events[-1].error.name == "IdleTimeout" and "s1" not in session.streams.open_streams
