"""Sequence bookkeeping of the reliable subprotocol: the service's outbox and the client's tracker."""

from __future__ import annotations

import json

import pytest

from wpsnb.protocol.json_codec import Envelope
from wpsnb.protocol.reliable import (
    MAX_UNACKED_BYTES,
    MAX_UNACKED_MESSAGES,
    OutboxOverflow,
    ReliableOutbox,
    SequenceTracker,
)


def envelope(text: str) -> Envelope:
    return Envelope.build("group", "text", text, group="lab")


def sequence_ids(frames: list[bytes]) -> list[int]:
    return [json.loads(frame)["sequenceId"] for frame in frames]


def test_limits_are_the_spec_s() -> None:
    assert (MAX_UNACKED_MESSAGES, MAX_UNACKED_BYTES) == (1000, 16 * 1024 * 1024)
    outbox = ReliableOutbox()
    assert (outbox.max_messages, outbox.max_bytes) == (1000, 16 * 1024 * 1024)


def test_stamp_numbers_from_one_and_keeps_each_frame() -> None:
    outbox = ReliableOutbox()
    frames = [outbox.stamp(envelope(f"m{i}")) for i in range(1, 6)]
    assert sequence_ids(frames) == [1, 2, 3, 4, 5]
    assert [json.loads(f)["data"] for f in frames] == ["m1", "m2", "m3", "m4", "m5"]
    assert outbox.unacknowledged() == frames
    assert len(outbox) == 5
    assert outbox.size == sum(len(f) for f in frames)
    assert outbox.next_id == 6


def test_one_envelope_gets_each_connection_s_own_number() -> None:
    shared = envelope("fan-out")
    first, second = ReliableOutbox(), ReliableOutbox()
    second.stamp(envelope("earlier"))
    assert sequence_ids([first.stamp(shared), second.stamp(shared)]) == [1, 2]


def test_acknowledge_is_cumulative_and_ignores_old_or_future_ids() -> None:
    outbox = ReliableOutbox()
    frames = [outbox.stamp(envelope(str(i))) for i in range(10)]
    outbox.acknowledge(4)
    assert outbox.unacknowledged() == frames[4:]
    assert outbox.size == sum(len(f) for f in frames[4:])
    outbox.acknowledge(2)  # older: nothing changes
    assert len(outbox) == 6
    outbox.acknowledge(0)
    assert len(outbox) == 6
    outbox.acknowledge(10**9)  # beyond what was sent: everything sent is covered
    assert len(outbox) == 0 and outbox.size == 0
    assert sequence_ids([outbox.stamp(envelope("next"))]) == [11], "numbering continues after acks"


def test_replay_keeps_original_ids_in_order() -> None:
    outbox = ReliableOutbox()
    for i in range(1, 8):
        outbox.stamp(envelope(str(i)))
    outbox.acknowledge(3)
    assert sequence_ids(outbox.unacknowledged()) == [4, 5, 6, 7]
    assert sequence_ids(outbox.unacknowledged()) == [4, 5, 6, 7], "replaying does not consume"


def test_message_limit_overflows_on_the_first_message_beyond_it() -> None:
    outbox = ReliableOutbox(max_messages=3)
    for i in range(3):
        outbox.stamp(envelope(str(i)))
    with pytest.raises(OutboxOverflow, match=r"left 4 messages .* at most 3 messages") as error:
        outbox.stamp(envelope("one too many"))
    assert "sequenceAck" in str(error.value), "the error says how to avoid it"


def test_acknowledging_makes_room_again() -> None:
    outbox = ReliableOutbox(max_messages=3)
    for i in range(1, 31):
        outbox.stamp(envelope(str(i)))
        outbox.acknowledge(i - 1)
    assert len(outbox) == 1


def test_byte_limit_overflows_when_held_bytes_pass_it() -> None:
    frame_size = len(envelope("x" * 100).frame(1))
    outbox = ReliableOutbox(max_bytes=frame_size * 3)
    for _ in range(3):
        outbox.stamp(envelope("x" * 100))
    assert outbox.size == frame_size * 3
    with pytest.raises(OutboxOverflow, match="bytes"):
        outbox.stamp(envelope("x" * 100))


def test_default_byte_limit_with_big_messages() -> None:
    outbox = ReliableOutbox()
    big = envelope("z" * 1_000_000)
    stamped = 0
    with pytest.raises(OutboxOverflow):
        while True:
            outbox.stamp(big)
            stamped += 1
    assert stamped == MAX_UNACKED_BYTES // len(big.frame(10))


# ---- the client side ---------------------------------------------------------------------------


def test_tracker_drops_duplicates_and_acks_the_highest_id_once() -> None:
    tracker = SequenceTracker()
    assert tracker.ack_due() is None, "nothing arrived yet"
    assert [tracker.receive(i) for i in (1, 2, 3)] == [True, True, True]
    assert tracker.ack_due() == 3
    assert tracker.ack_due() is None
    # A recovery replays 2..5: 2 and 3 are duplicates, 4 and 5 are new.
    assert [tracker.receive(i) for i in (2, 3, 4, 5)] == [False, False, True, True]
    assert tracker.ack_due() == 5


def test_tracker_accepts_gaps_and_resets_for_a_new_connection() -> None:
    tracker = SequenceTracker()
    assert tracker.receive(5) is True
    assert tracker.receive(4) is False
    assert tracker.ack_due() == 5
    tracker.reset()
    assert tracker.ack_due() is None
    assert tracker.receive(1) is True


def test_outbox_and_tracker_together_lose_nothing_over_drops() -> None:
    """The service stamps, the client sees only part before each 'drop', acks what it saw; replays
    then bring everything exactly once."""
    outbox, tracker = ReliableOutbox(), SequenceTracker()
    received: list[int] = []
    for round_number in range(20):
        for _ in range(50):
            outbox.stamp(envelope(str(round_number)))
        # The client reads whatever is replayed, but the connection drops after 30 frames.
        for frame in outbox.unacknowledged()[:30]:
            sequence_id = json.loads(frame)["sequenceId"]
            if tracker.receive(sequence_id):
                received.append(sequence_id)
        ack = tracker.ack_due()
        if ack is not None:
            outbox.acknowledge(ack)
    for frame in outbox.unacknowledged():
        if tracker.receive(json.loads(frame)["sequenceId"]):
            received.append(json.loads(frame)["sequenceId"])
    assert received == list(range(1, 1001))
