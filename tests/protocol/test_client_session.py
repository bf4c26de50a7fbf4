"""The client session state machine, without sockets: transitions, drops, acks, sequence acks, requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wpsnb.protocol.client_session import (
    IN_FLIGHT,
    SEQUENCE_ACK_EVERY,
    SEQUENCE_ACK_INTERVAL,
    TRANSITIONS,
    WINDOW_OPEN,
    Acked,
    ClientSession,
    ClientState,
    Drop,
    Received,
    Refused,
    Trigger,
    Unreadable,
)
from wpsnb.protocol.json_codec import encode_client_message
from wpsnb.protocol.limits import CloseCode
from wpsnb.protocol.messages import Connected, DataMessage, JoinGroup, LeaveGroup, SendToGroup, SequenceAck
from wpsnb.protocol.pending_requests import PendingRequest

S = ClientState


def request(message: Any) -> PendingRequest:
    return PendingRequest(message, encode_client_message(message))


def send(group: str, data: Any, ack_id: int | None) -> PendingRequest:
    return request(SendToGroup(group, data, "json", ack_id))


def ack(ack_id: int, error: str | None = None) -> str:
    if error is None:
        return json.dumps({"type": "ack", "ackId": ack_id, "success": True})
    return json.dumps({"type": "ack", "ackId": ack_id, "success": False, "error": {"name": error, "message": "no"}})


def group_message(data: Any, sequence_id: int | None = None) -> str:
    frame: dict[str, Any] = {"type": "message", "from": "group", "group": "lab", "dataType": "json", "data": data}
    if sequence_id is not None:
        frame["sequenceId"] = sequence_id
    return json.dumps(frame)


def connected(session: ClientSession, connection_id: str = "c1", token: str | None = "token") -> ClientSession:
    session.start()
    session.opened(Connected(connection_id, "ann", token))
    return session


def in_state(state: ClientState, *, reliable: bool = True, auto_reconnect: bool = True) -> ClientSession:
    """A session brought to ``state`` through its public methods only."""
    session = ClientSession(reliable=reliable, auto_reconnect=auto_reconnect, rejoin=lambda g: request(JoinGroup(g, 0)))
    if state is S.IDLE:
        return session
    if state is S.CLOSED:
        session.close()
        return session
    session.start()
    if state is S.CONNECTING:
        return session
    session.opened(Connected("c1", "ann", "token"))
    if state is S.CONNECTED:
        return session
    assert session.connection_lost(None, "dropped") is Drop.RECOVER
    if state is S.RECOVERING:
        return session
    session.recovery_failed()
    assert state is S.RECONNECTING
    return session


# ---- the transition table -----------------------------------------------------------------------


def test_every_state_is_reachable_and_every_row_leads_somewhere_known() -> None:
    assert {state for state, _ in TRANSITIONS} == set(ClientState)
    assert set(TRANSITIONS.values()) <= set(ClientState)
    assert [str(s) for s in ClientState] == ["idle", "connecting", "connected", "recovering", "reconnecting", "closed"]


@pytest.mark.parametrize(("state", "trigger"), list(TRANSITIONS))
def test_every_transition_in_the_table(state: ClientState, trigger: Trigger) -> None:
    session = in_state(state)
    assert session.state is state
    assert session.move(trigger) is TRANSITIONS[state, trigger] is session.state


MISSING = [(state, trigger) for state in ClientState for trigger in Trigger if (state, trigger) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "trigger"), MISSING)
def test_a_trigger_without_a_row_fails_loudly(state: ClientState, trigger: Trigger) -> None:
    session = in_state(state)
    with pytest.raises(RuntimeError, match=f"cannot take {trigger.value!r} while {state.value}"):
        session.move(trigger)
    assert session.state is state  # nothing moved


def test_first_attempt_failing_returns_to_idle_and_may_start_again() -> None:
    session = ClientSession(reliable=True)
    assert session.start() is S.CONNECTING
    assert session.start_failed() is S.IDLE
    assert session.start() is S.CONNECTING


def test_opened_takes_the_identity_and_numbers_from_one() -> None:
    session = connected(ClientSession(reliable=True))
    assert (session.connection_id, session.user_id, session.reconnection_token) == ("c1", "ann", "token")
    session.receive(group_message(1, sequence_id=7))
    assert session.tracker.last_received == 7
    session.connection_lost(CloseCode.POLICY_VIOLATION, "refused")
    session.opened(Connected("c2", "ann", "other"))
    assert session.connection_id == "c2" and session.tracker.last_received == 0


# ---- recover, renew or close -------------------------------------------------------------------


def test_reliable_drop_with_a_token_recovers() -> None:
    session = connected(ClientSession(reliable=True))
    assert session.connection_lost(None, "the connection dropped without a close frame") is Drop.RECOVER
    assert session.state is S.RECOVERING and session.stats["drops"] == 1
    assert session.reconnection_token == "token"  # kept: the recovery URL carries it


@pytest.mark.parametrize(
    ("reliable", "token", "code"),
    [
        (False, "token", None),  # plain protocol: nothing to resume
        (True, None, None),  # no reconnection token
        (True, "token", CloseCode.POLICY_VIOLATION),  # 1008: the service says the session is gone
    ],
)
def test_drops_that_cannot_be_recovered_renew(reliable: bool, token: str | None, code: int | None) -> None:
    session = ClientSession(reliable=reliable)
    session.start()
    session.opened(Connected("c1", None, token))
    assert session.connection_lost(code, "closed") is Drop.RENEW
    assert session.state is S.RECONNECTING and session.reconnection_token is None


def test_without_auto_reconnect_a_drop_closes() -> None:
    session = connected(ClientSession(reliable=True, auto_reconnect=False))
    assert session.connection_lost(None, "dropped") is Drop.CLOSE
    assert session.state is S.CLOSED


def test_the_drop_reason_includes_what_the_service_said() -> None:
    session = connected(ClientSession(reliable=True))
    session.receive(json.dumps({"type": "system", "event": "disconnected", "message": "Idle timeout"}))
    session.connection_lost(1000, "closed by the service with 1000")
    assert session.drop_reason == "Idle timeout; closed by the service with 1000"
    session.recovery_failed()
    assert session.drop_reason.endswith("; the session could not be recovered")
    assert session.state is S.RECONNECTING


def test_recovery_resends_unacknowledged_requests_in_order_and_acks_everything_again() -> None:
    session = connected(ClientSession(reliable=True))
    for n in range(1, 4):
        session.accept(send("lab", n, n))
    assert [r.ack_id for r in session.frames_to_send()] == [1, 2, 3]
    session.receive(ack(1))
    session.receive(group_message("m", sequence_id=5))
    assert session.sequence_ack(100.0) is not None  # acknowledged 5 before the drop
    session.connection_lost(None, "dropped")
    assert session.frames_to_send() == []  # nothing is written while recovering
    assert session.recovered() == 2
    assert session.state is S.CONNECTED and session.stats["recoveries"] == 1
    assert [r.ack_id for r in session.frames_to_send()] == [2, 3]
    again = session.sequence_ack(100.1)  # due at once, though the interval has not passed
    assert again is not None and again.message == SequenceAck(5)


def test_a_renewed_connection_rejoins_groups_then_resends_then_sends_the_rest() -> None:
    session = ClientSession(reliable=True, rejoin=lambda group: request(JoinGroup(group, 100)))
    connected(session)
    session.accept(request(JoinGroup("a", 1)))
    session.accept(request(JoinGroup("b", 2)))
    session.accept(request(LeaveGroup("a", 3)))
    session.accept(send("b", "unacked", 4))
    assert len(session.frames_to_send()) == 4
    session.receive(ack(1))
    session.receive(ack(2))
    session.receive(ack(3))
    session.accept(send("b", "queued", 5))
    session.connection_lost(CloseCode.POLICY_VIOLATION, "gone")
    session.opened(Connected("c2", "ann", "t2"))
    assert session.stats["reconnections"] == 1
    sent = session.frames_to_send()
    assert [type(r.message).__name__ for r in sent] == ["JoinGroup", "SendToGroup", "SendToGroup"]
    assert sent[0].message.group == "b" and [r.ack_id for r in sent[1:]] == [4, 5]


def test_close_hands_back_every_pending_request() -> None:
    session = connected(ClientSession(reliable=True))
    session.accept(send("lab", 1, 1))
    session.frames_to_send()
    session.accept(send("lab", 2, 2))
    dropped = session.close()
    assert [r.ack_id for r in dropped] == [1, 2] and len(session.requests) == 0
    assert session.state is S.CLOSED
    assert session.accept(send("lab", 3, 3)) is False and len(session.requests) == 0


# ---- acks --------------------------------------------------------------------------------------------


def test_success_and_duplicate_are_both_acked() -> None:
    session = connected(ClientSession(reliable=True))
    first, second = send("lab", 1, 1), send("lab", 2, 2)
    session.accept(first)
    session.accept(second)
    session.frames_to_send()
    events = session.receive(ack(1))
    assert isinstance(events[0], Received) and events[1:] == [Acked(first)]
    assert session.receive(ack(2, "Duplicate"))[1:] == [Acked(second)]
    assert session.stats["acked"] == 2 and session.stats["failed"] == 0 and len(session.requests) == 0


def test_a_refusal_names_the_request_and_forgets_a_refused_join() -> None:
    session = connected(ClientSession(reliable=True))
    join = request(JoinGroup("ops", 1))
    session.accept(join)
    assert session.joined == {"ops": None}
    session.frames_to_send()
    events = session.receive(ack(1, "Forbidden"))
    assert len(events) == 2 and isinstance(events[1], Refused)
    assert events[1].request is join and events[1].ack.error is not None and events[1].ack.error.name == "Forbidden"
    assert session.joined == {} and session.stats["failed"] == 1


def test_an_ack_for_no_pending_request_is_only_journaled() -> None:
    session = connected(ClientSession(reliable=True))
    assert [type(e) for e in session.receive(ack(99))] == [Received]


def test_window_open_comes_once_then_writing_goes_on() -> None:
    session = connected(ClientSession(reliable=True, in_flight=2))
    requests = [send("lab", n, n) for n in range(1, 5)]
    for r in requests:
        session.accept(r)
    assert session.frames_to_send() == requests[:2]
    assert session.frames_to_send() == []
    assert session.receive(ack(1))[1:] == [WINDOW_OPEN, Acked(requests[0])]
    assert session.receive(ack(2))[1:] == [Acked(requests[1])]
    assert session.frames_to_send() == requests[2:]
    assert ClientSession(reliable=True).in_flight == IN_FLIGHT


def test_write_failed_keeps_tracked_requests_for_the_next_connection() -> None:
    session = connected(ClientSession(reliable=False))
    tracked, untracked = send("lab", 1, 1), send("lab", 2, None)
    session.accept(tracked)
    session.accept(untracked)
    batch = session.frames_to_send()
    assert session.stats["sent"] == 2
    session.write_failed(batch)
    assert session.stats["sent"] == 0
    assert list(session.requests.queued) == [untracked] and list(session.requests.unacked.values()) == [tracked]


def test_nothing_is_written_unless_connected_and_limit_bounds_a_batch() -> None:
    session = ClientSession(reliable=True)
    session.accept(send("lab", 0, 1))
    assert session.frames_to_send() == []  # idle: queued for later
    session.start()
    assert session.frames_to_send() == []
    session.opened(Connected("c1"))
    for n in range(2, 11):
        session.accept(send("lab", n, n))
    assert len(session.frames_to_send(limit=4)) == 4 and len(session.requests.queued) == 6


# ---- receiving and sequence acks --------------------------------------------------------------------


def test_data_messages_are_delivered_once_by_sequence_id() -> None:
    session = connected(ClientSession(reliable=True))
    assert session.receive(group_message("a", 1))[1:] == [DataMessage("group", "a", "json", "lab", sequence_id=1)]
    assert session.receive(group_message("a", 1))[1:] == []  # a replay after recovery
    assert session.stats == {**session.stats, "received": 1, "duplicates_dropped": 1}


def test_plain_protocol_delivers_without_sequence_bookkeeping_or_acks() -> None:
    session = connected(ClientSession(reliable=False))
    assert len(session.receive(group_message("a"))) == 2
    assert session.sequence_ack(1000.0, force=True) is None


def test_sequence_ack_every_interval_while_messages_arrive() -> None:
    session = connected(ClientSession(reliable=True))
    assert session.sequence_ack(0.0) is None  # nothing arrived
    session.receive(group_message("a", 1))
    first = session.sequence_ack(10.0)
    assert first is not None and first.frame == '{"type":"sequenceAck","sequenceId":1}'
    session.receive(group_message("b", 2))
    assert session.sequence_ack(10.0 + SEQUENCE_ACK_INTERVAL / 2) is None  # too soon
    later = session.sequence_ack(10.0 + SEQUENCE_ACK_INTERVAL)
    assert later is not None and later.message == SequenceAck(2)
    assert session.sequence_ack(100.0) is None  # nothing new


def test_sequence_ack_at_once_when_many_are_unacknowledged() -> None:
    session = connected(ClientSession(reliable=True))
    for n in range(1, SEQUENCE_ACK_EVERY):
        session.receive(group_message(n, n))
        assert not session.ack_now
    acked = session.sequence_ack(5.0, force=True)
    assert acked is not None and acked.message == SequenceAck(SEQUENCE_ACK_EVERY - 1)
    last = 2 * SEQUENCE_ACK_EVERY - 1  # SEQUENCE_ACK_EVERY beyond the last ack
    for n in range(SEQUENCE_ACK_EVERY, last):
        session.receive(group_message(n, n))
    assert not session.ack_now
    session.receive(group_message("x", last))
    assert session.ack_now
    due = session.sequence_ack(5.0)  # the interval has not passed; the count decides
    assert due is not None and due.message == SequenceAck(last) and not session.ack_now


def test_a_lost_sequence_ack_is_sent_again() -> None:
    session = connected(ClientSession(reliable=True))
    session.receive(group_message("a", 1))
    session.sequence_ack(1.0)
    session.receive(group_message("b", 2))
    assert session.sequence_ack(2.0) is not None
    session.sequence_ack_lost()
    again = session.sequence_ack(3.0)
    assert again is not None and again.message == SequenceAck(2)


def test_frames_the_client_cannot_use_are_journaled_and_ignored() -> None:
    session = connected(ClientSession(reliable=True))
    binary = session.receive(b"\x00")
    assert len(binary) == 1 and "binary frame" in (binary[0].error or "")
    broken = session.receive("{not json")
    assert isinstance(broken[0], Received) and broken[0].message is None and isinstance(broken[1], Unreadable)


def test_connected_and_disconnected_system_messages_update_the_session() -> None:
    session = connected(ClientSession(reliable=True))
    again = {"type": "system", "event": "connected", "connectionId": "c1", "reconnectionToken": "t2"}
    session.receive(json.dumps(again))
    assert session.reconnection_token == "t2"
    session.receive(json.dumps({"type": "system", "event": "disconnected", "message": "bye"}))
    assert session.disconnect_reason == "bye"


# ---- request bookkeeping -------------------------------------------------------------------------------


def test_joins_and_leaves_update_the_groups_at_once() -> None:
    session = ClientSession(reliable=True)
    session.start()
    session.accept(request(JoinGroup("a", 1)))
    session.accept(request(JoinGroup("b", 2)))
    session.accept(request(LeaveGroup("a", 3)))
    assert list(session.joined) == ["b"] and len(session.requests) == 3
