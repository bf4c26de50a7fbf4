"""Group streams written by wpsnb's client and read by the official JavaScript client 1.1.0 under node
(``onGroupStream``), on both JSON subprotocols: in order and once with the end, an abort, and (reliable)
a stream that goes on across a forced recovery of the writer (``drop_connection()``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from frame_shapes import RELIABLE_PROTOCOL
from js_peer import JsPeer
from test_js_group_streams import ROLES, inbound

from wpsnb.client import Client
from wpsnb.service.local import LocalService

JsPeers = Callable[..., JsPeer]


def subscriber(js_peers: JsPeers, service: LocalService, hub: str, protocol: str) -> JsPeer:
    peer = js_peers(connection_string=service.connection_string, hub=hub, protocol=protocol)
    peer.start(userId="sub", roles=ROLES, groups=["lab"])
    peer.request("onGroupStream")
    return peer


def test_a_wpsnb_stream_reaches_the_js_client_in_order_and_once(
    js_peers: JsPeers, local_service: LocalService, hub: str, protocol: str
) -> None:
    reader = subscriber(js_peers, local_service, hub, protocol)
    with (
        Client(local_service, hub=hub, roles=ROLES, protocol=protocol) as writer,
        writer.open_group_stream("lab", data_type="text") as stream,
    ):
        for n in range(1, 201):
            stream.write(f"line {n}")
    start = reader.next_event("inbound-stream-start")
    assert (start["group"], start["streamId"]) == ("lab", stream.stream_id)
    assert inbound(reader, stream.stream_id, 200) == [f"line {n}" for n in range(1, 201)]
    end = reader.next_event("inbound-stream-end")
    assert (end["streamId"], end["error"]) == (stream.stream_id, None)
    time.sleep(0.2)
    assert reader.pending("inbound-stream-message") == []


def test_an_aborted_wpsnb_stream_ends_with_the_error_for_the_js_client(
    js_peers: JsPeers, local_service: LocalService, hub: str
) -> None:
    reader = subscriber(js_peers, local_service, hub, RELIABLE_PROTOCOL)
    with Client(local_service, hub=hub, roles=ROLES) as writer:
        stream = writer.open_group_stream("lab", data_type="text")
        stream.write("half")
        stream.abort("the cell raised", user_error_code="CellError")
    assert inbound(reader, stream.stream_id, 1) == ["half"]
    error = reader.next_event("inbound-stream-end")["error"]
    assert (error["name"], error["message"]) == ("UserError", "the cell raised")


def test_a_wpsnb_stream_goes_on_across_the_writers_forced_recovery(
    js_peers: JsPeers, local_service: LocalService, hub: str
) -> None:
    reader = subscriber(js_peers, local_service, hub, RELIABLE_PROTOCOL)
    with Client(local_service, hub=hub, roles=ROLES) as writer:
        connection_id = writer.connection_id
        stream = writer.open_group_stream("lab", data_type="text")
        for n in range(1, 151):
            stream.write(f"before {n}")
        assert writer.drop_connection() is True
        for n in range(1, 151):
            stream.write(f"after {n}")
        stream.end(timeout=20)
        assert writer.connection_id == connection_id and writer.stats["recoveries"] == 1
    received = inbound(reader, stream.stream_id, 300)
    assert received == [f"before {n}" for n in range(1, 151)] + [f"after {n}" for n in range(1, 151)]
    assert reader.next_event("inbound-stream-end")["error"] is None
    time.sleep(0.2)
    assert reader.pending("inbound-stream-message") == []  # nothing twice
