"""Group streams with the official JavaScript client 1.1.0 (``openGroupStream`` / ``onGroupStream``) under node,
against the local service, on both JSON subprotocols: hundreds of fragments in order and once,
``handleFromStart``, an aborted stream, an idle timeout, and (reliable) a stream across a forced recovery.
Every frame the JS clients receive is shape-checked by the peer."""

from __future__ import annotations

import time
from collections.abc import Callable

from frame_shapes import RELIABLE_PROTOCOL
from js_peer import JsPeer
from session_probe import SessionProbe

from wpsnb.service.local import LocalService

JsPeers = Callable[..., JsPeer]
ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


def peers(js_peers: JsPeers, service: LocalService, hub: str, protocol: str) -> tuple[JsPeer, JsPeer]:
    """A publisher (user ``pub``) and a subscriber in group ``lab`` reading inbound streams."""
    publisher = js_peers(connection_string=service.connection_string, hub=hub, protocol=protocol)
    publisher.start(userId="pub", roles=ROLES)
    subscriber = js_peers(connection_string=service.connection_string, hub=hub, protocol=protocol)
    subscriber.start(userId="sub", roles=ROLES, groups=["lab"])
    subscriber.request("onGroupStream")
    return publisher, subscriber


def inbound(subscriber: JsPeer, stream_id: str, count: int) -> list[str]:
    """The data of the next ``count`` fragments of ``stream_id`` the subscriber's handler read."""
    events = [
        subscriber.next_event("inbound-stream-message", where=lambda e: e["streamId"] == stream_id)
        for _ in range(count)
    ]
    assert [e["streamSequenceId"] for e in events] == list(
        range(events[0]["streamSequenceId"], events[0]["streamSequenceId"] + count)
    )
    return [e["data"] for e in events]


def test_hundreds_of_fragments_in_order_and_once(
    js_peers: JsPeers, local_service: LocalService, hub: str, protocol: str
) -> None:
    publisher, subscriber = peers(js_peers, local_service, hub, protocol)
    stream_id = publisher.request("openGroupStream", group="lab")["streamId"]
    publisher.request("streamWriteMany", streamId=stream_id, count=400, prefix="line ", timeout=30)
    publisher.request("streamEnd", streamId=stream_id)
    assert subscriber.next_event("inbound-stream-start") == {
        "event": "inbound-stream-start",
        "group": "lab",
        "streamId": stream_id,
    }
    assert inbound(subscriber, stream_id, 400) == [f"line {n}" for n in range(1, 401)]
    end = subscriber.next_event("inbound-stream-end")
    assert (end["streamId"], end["error"]) == (stream_id, None)
    assert subscriber.pending("inbound-stream-message") == []  # once: nothing after the end
    assert publisher.pending("stream-error") == []
    # The publisher's last streamAck and its streamClosed may still be on their way when the subscriber
    # has seen the end: wait for them rather than read a snapshot.
    publisher.wait_until(lambda: bool(publisher.received("streamClosed")), "the publisher's streamClosed")
    acks = [frame for frame in publisher.received("streamAck") if frame["streamId"] == stream_id]
    assert acks[0]["expectedSequenceId"] == 1 and acks[-1]["expectedSequenceId"] == 401
    assert publisher.received("streamClosed") == [{"type": "streamClosed", "streamId": stream_id}]
    # The stream's fragments also reach the ordinary group-message callback, with their stream info.
    messages = subscriber.take_events("group-message", 401)
    assert [m["stream"]["streamSequenceId"] for m in messages] == list(range(1, 402))
    assert messages[-1]["stream"]["endOfStream"] is True


def test_handle_from_start_skips_a_stream_joined_midway(
    js_peers: JsPeers, local_service: LocalService, hub: str, protocol: str
) -> None:
    publisher = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    publisher.start(userId="pub", roles=ROLES)
    from_start = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    from_start.start(userId="a", roles=ROLES)
    from_start.request("onGroupStream", handleFromStart=True)
    midway = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    midway.start(userId="b", roles=ROLES)
    midway.request("onGroupStream")

    early = publisher.request("openGroupStream", group="lab")["streamId"]
    publisher.request("streamWriteMany", streamId=early, count=3, prefix="early ")
    from_start.request("joinGroup", group="lab")
    midway.request("joinGroup", group="lab")
    publisher.request("streamWriteMany", streamId=early, count=2, prefix="again ")
    publisher.request("streamEnd", streamId=early)
    late = publisher.request("openGroupStream", group="lab")["streamId"]
    publisher.request("streamWrite", streamId=late, data="whole", dataType="text")
    publisher.request("streamEnd", streamId=late)

    assert midway.next_event("inbound-stream-start")["streamId"] == early  # joins the stream where it is
    assert inbound(midway, early, 2) == ["again 1", "again 2"]
    assert midway.next_event("inbound-stream-end")["streamId"] == early
    start = from_start.next_event("inbound-stream-start")
    assert start["streamId"] == late  # the stream it saw only from fragment 4 was ignored
    assert inbound(from_start, late, 1) == ["whole"]
    assert from_start.next_event("inbound-stream-end")["error"] is None
    assert [e for e in from_start.pending("inbound-stream-message") if e["streamId"] == early] == []


def test_an_aborted_stream_reaches_the_subscriber_as_an_error(
    js_peers: JsPeers, local_service: LocalService, hub: str, protocol: str
) -> None:
    publisher, subscriber = peers(js_peers, local_service, hub, protocol)
    stream_id = publisher.request("openGroupStream", group="lab")["streamId"]
    publisher.request("streamWrite", streamId=stream_id, data="half", dataType="text")
    publisher.request("streamAbort", streamId=stream_id, message="the run crashed", userErrorCode="CRASH")
    assert inbound(subscriber, stream_id, 1) == ["half"]
    end = subscriber.next_event("inbound-stream-end")
    assert end["streamId"] == stream_id
    assert (end["error"]["name"], end["error"]["message"]) == ("UserError", "the run crashed")
    terminal = [f for f in subscriber.received("message") if f.get("stream", {}).get("endOfStream")]
    assert terminal[-1]["stream"]["error"] == {
        "name": "UserError",
        "message": "the run crashed",
        "userErrorCode": "CRASH",
    }
    publisher.wait_until(lambda: publisher.received("streamClosed") != [], "the publisher's streamClosed")
    assert publisher.pending("stream-error") == []  # its own abort is a normal close for the publisher


def test_an_idle_stream_times_out_for_publisher_and_subscriber(
    js_peers: JsPeers, local_service: LocalService, hub: str, protocol: str
) -> None:
    publisher, subscriber = peers(js_peers, local_service, hub, protocol)
    stream_id = publisher.request("openGroupStream", group="lab", idleTimeoutInMs=300)["streamId"]
    publisher.request("streamWrite", streamId=stream_id, data="then silence", dataType="text")
    error = publisher.next_event("stream-error")
    assert (error["streamId"], error["name"]) == (stream_id, "IdleTimeout")
    assert inbound(subscriber, stream_id, 1) == ["then silence"]
    end = subscriber.next_event("inbound-stream-end")
    assert end["error"]["name"] == "IdleTimeout"


def test_a_stream_survives_a_forced_reliable_recovery(
    js_peers: JsPeers, local_service: LocalService, hub: str, sessions: SessionProbe
) -> None:
    publisher, subscriber = peers(js_peers, local_service, hub, RELIABLE_PROTOCOL)
    connection_id = publisher.received("system")[0]["connectionId"]
    stream_id = publisher.request("openGroupStream", group="lab")["streamId"]
    publisher.request("streamWriteMany", streamId=stream_id, count=150, prefix="before ", timeout=30)
    first_socket = sessions.socket_of(hub, connection_id)
    sessions.drop(hub, connection_id)
    publisher.request("streamWriteMany", streamId=stream_id, count=150, prefix="after ", timeout=30)
    publisher.request("streamEnd", streamId=stream_id, timeout=30)
    received = inbound(subscriber, stream_id, 300)
    assert received == [f"before {n}" for n in range(1, 151)] + [f"after {n}" for n in range(1, 151)]
    assert subscriber.next_event("inbound-stream-end")["error"] is None
    assert publisher.pending("stream-error") == []
    assert publisher.pending("disconnected") == []  # recovered, not reconnected
    assert sessions.socket_of(hub, connection_id) not in (None, first_socket)
    time.sleep(0.2)
    assert subscriber.pending("inbound-stream-message") == []  # nothing twice
