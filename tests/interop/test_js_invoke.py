"""``invokeEvent`` of the official JavaScript client 1.1.0 through the local service to the official
``@azure/web-pubsub-express`` handler (both under node): the handler's reply, a handler error, a handler
that never answers (the setting's timeout), a client that gives up (``cancelInvocation``), and an event no
handler takes. On both JSON subprotocols; every frame the JS client receives is shape-checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from js_peer import JsPeer, JsPeerError
from upstream.express_upstream import ExpressUpstream, express_setup_problem

from wpsnb.service.local import LocalService

JsPeers = Callable[..., JsPeer]
HUB = "invoke"


@pytest.fixture(scope="module")
def upstream() -> Iterator[ExpressUpstream]:
    problem = express_setup_problem()
    if problem:
        pytest.fail(f"the invoke interop tests need the official express handler: {problem}")
    with ExpressUpstream(HUB) as handler:
        yield handler


@pytest.fixture(scope="module")
def service(upstream: ExpressUpstream) -> Iterator[LocalService]:
    with LocalService(event_handlers={HUB: [upstream.setting(timeout=1.0)]}) as local:
        yield local


def client(js_peers: JsPeers, service: LocalService, protocol: str) -> JsPeer:
    peer = js_peers(connection_string=service.connection_string, hub=HUB, protocol=protocol)
    peer.start(userId="asker")
    return peer


def test_invoke_returns_the_handlers_reply(js_peers: JsPeers, service: LocalService, protocol: str) -> None:
    peer = client(js_peers, service, protocol)
    assert peer.request("invokeEvent", event="echo", data={"question": 42}, dataType="json") == {
        "dataType": "json",
        "data": {"question": 42},
    }
    assert peer.request("invokeEvent", event="echo", data="plain", dataType="text") == {
        "dataType": "text",
        "data": "plain",
    }
    assert peer.request("invokeEvent", event="binary", data="x", dataType="text") == {
        "dataType": "binary",
        "data": "AAEC/w==",
    }
    assert peer.request("invokeEvent", event="none", data="x", dataType="text")["data"] is None
    responses = peer.received("invokeResponse")
    assert [r["success"] for r in responses] == [True] * 4
    assert peer.received("message") == []  # the reply is the response, not a server message


def test_a_handler_error_fails_the_invocation(js_peers: JsPeers, service: LocalService, protocol: str) -> None:
    peer = client(js_peers, service, protocol)
    with pytest.raises(JsPeerError) as failed:
        peer.request("invokeEvent", event="fail", data="x", dataType="text")
    assert failed.value.name == "InvocationError"
    assert failed.value.error_detail["name"] == "InternalServerError"
    assert "500" in failed.value.error_detail["message"]
    assert peer.request("invokeEvent", event="echo", data="still fine", dataType="text")["data"] == "still fine"


def test_a_handler_that_never_answers_times_out(js_peers: JsPeers, service: LocalService, protocol: str) -> None:
    peer = client(js_peers, service, protocol)
    with pytest.raises(JsPeerError) as failed:
        peer.request("invokeEvent", event="hang", data="x", dataType="text")
    assert failed.value.error_detail["name"] == "Timeout"
    assert "within 1 s" in failed.value.error_detail["message"]


def test_a_client_that_gives_up_cancels_the_invocation(js_peers: JsPeers, service: LocalService, protocol: str) -> None:
    peer = client(js_peers, service, protocol)
    with pytest.raises(JsPeerError) as cancelled:
        peer.request("invokeEvent", event="hang", data="x", dataType="text", abortAfterMs=200)
    assert cancelled.value.name == "InvocationError"
    peer.wait_until(lambda: any('"cancelInvocation"' in f for f in peer.sent_frames), "the cancelInvocation frame")
    assert peer.request("invokeEvent", event="echo", data="next", dataType="text")["data"] == "next"
    assert [r["invocationId"] for r in peer.received("invokeResponse")] == [
        peer.received("invokeResponse")[-1]["invocationId"]
    ]


def test_an_event_without_a_handler_is_refused(js_peers: JsPeers, protocol: str) -> None:
    with LocalService() as bare:
        peer = js_peers(connection_string=bare.connection_string, hub=HUB, protocol=protocol)
        peer.start(userId="asker")
        with pytest.raises(JsPeerError) as failed:
            peer.request("invokeEvent", event="echo", data="x", dataType="text")
        assert failed.value.error_detail["name"] == "InternalServerError"
        assert "No event handler" in failed.value.error_detail["message"]
