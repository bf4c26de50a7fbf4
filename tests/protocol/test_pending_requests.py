"""PendingRequests: the client's queue of requests and the written ones waiting for their ack."""

from __future__ import annotations

import pytest

from wpsnb.errors import BufferFull
from wpsnb.protocol.messages import JoinGroup, SendToGroup
from wpsnb.protocol.pending_requests import PendingRequest, PendingRequests


def send(ack_id: int | None, data: str = "x") -> PendingRequest:
    return PendingRequest(SendToGroup("lab", data, "text", ack_id), f"frame {ack_id}")


def test_take_keeps_tracked_requests_until_acknowledged() -> None:
    pending = PendingRequests()
    tracked, untracked = send(1), send(None)
    pending.put(tracked)
    pending.put(untracked)
    assert pending.take() is tracked and pending.take() is untracked
    assert list(pending.unacked) == [1] and len(pending) == 1  # the fire-and-forget one is gone once written
    assert pending.acknowledge(1) is tracked and pending.acknowledge(1) is None and len(pending) == 0


def test_resend_puts_unacked_back_first_in_write_order() -> None:
    pending = PendingRequests()
    for ack_id in (1, 2, 3):
        pending.put(send(ack_id))
    pending.take()
    pending.take()
    pending.put(send(4))
    assert pending.resend_unacked() == 2
    assert [r.ack_id for r in pending.queued] == [1, 2, 3, 4] and not pending.unacked


def test_put_front_keeps_the_given_order() -> None:
    pending = PendingRequests()
    pending.put(send(3))
    pending.put_front([send(1), send(2)])
    assert [r.ack_id for r in pending.queued] == [1, 2, 3]


def test_check_room_counts_queued_unacked_and_waiting_elsewhere() -> None:
    pending = PendingRequests(limit=3)
    pending.put(send(1))
    pending.take()
    pending.put(send(2))
    pending.check_room()  # 2 of 3
    with pytest.raises(BufferFull, match=r"3 requests are already waiting .* limit is 3.*max_pending="):
        pending.check_room(waiting_elsewhere=1)


def test_drop_all_returns_everything_unacked_first() -> None:
    pending = PendingRequests()
    pending.put(send(1))
    pending.take()
    pending.put(send(2))
    assert [r.ack_id for r in pending.drop_all()] == [1, 2] and len(pending) == 0


def test_ack_id_of_requests() -> None:
    assert PendingRequest(JoinGroup("lab", 5), "").ack_id == 5
    assert PendingRequest(JoinGroup("lab"), "").ack_id is None
