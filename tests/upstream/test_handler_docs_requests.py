"""Our handler library against requests shaped exactly like the examples of Azure's reference page
("CloudEvents extension for Azure Web PubSub event handler with HTTP protocol"): the headers as listed
there (no ``ce-awpsversion``, which the page does not show), the bodies, two-key signatures. So it works
behind Azure, not only behind our service."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from wpsnb.handler import ConnectResponse, EventHandler, EventHandlerError, UserEventResponse
from wpsnb.handler.events import ConnectedRequest, ConnectRequest, DisconnectedRequest, UserEventRequest

PRIMARY, SECONDARY = "primary-access-key-" + "p" * 24, "secondary-access-key-" + "s" * 22
CONNECTION = "0f9c97a2f0bf4706afe87a14e0797b11"
STATE = "eyJrZXkiOiJhIn0="  # the page's sample state: base64 of {"key":"a"}
PATH = "/api/webpubsub/hubs/chat/"


def sign(key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), CONNECTION.encode(), hashlib.sha256).hexdigest()


def headers(ce_type: str, event: str, content_type: str, **extra: str) -> dict[str, str]:
    """The page's request headers, in its order and spelling."""
    return {
        "Host": "xxxxxx",
        "WebHook-Request-Origin": "xxx.webpubsub.azure.com",
        "Content-Type": content_type,
        "Content-Length": "nnnn",
        "ce-specversion": "1.0",
        "ce-type": ce_type,
        "ce-source": f"/hubs/chat/client/{CONNECTION}",
        "ce-id": "1",
        "ce-time": "2021-01-01T00:00:00Z",
        "ce-signature": f"{sign(PRIMARY)},{sign(SECONDARY)}",
        "ce-userId": "user1",
        "ce-connectionId": CONNECTION,
        "ce-hub": "chat",
        "ce-eventName": event,
        **extra,
    }


def handler(**callbacks: object) -> EventHandler:
    return EventHandler("chat", access_keys=[SECONDARY], **callbacks)  # type: ignore[arg-type]


def test_preflight_like_the_page() -> None:
    answer = handler().handle("OPTIONS", PATH, {"WebHook-Request-Origin": "xxx.webpubsub.azure.com"}, b"")
    assert answer is not None and answer.status == 200 and answer.headers["WebHook-Allowed-Origin"] == "*"
    only = EventHandler("chat", allowed_endpoints=["https://xxx.webpubsub.azure.com"])
    answer = only.handle("OPTIONS", PATH, {"WebHook-Request-Origin": "xxx.webpubsub.azure.com"}, b"")
    assert answer is not None and answer.headers["WebHook-Allowed-Origin"] == "xxx.webpubsub.azure.com"
    assert handler().handle("OPTIONS", PATH, {}, b"").status == 400  # type: ignore[union-attr]


def test_connect_like_the_page() -> None:
    body = {
        "claims": {},
        "query": {},
        "headers": {},
        "subprotocols": [],
        "clientCertificates": [
            {"thumbprint": "<certificate SHA-1 thumbprint>", "content": "-----BEGIN CERTIFICATE-----\r\n..."}
        ],
    }
    seen: list[ConnectRequest] = []

    def connect(request: ConnectRequest) -> ConnectResponse:
        seen.append(request)
        request.context.states["key"] = "a"
        return ConnectResponse(user_id="user1", groups=["lab"], roles=["webpubsub.joinLeaveGroup.lab"])

    answer = handler(handle_connect=connect).handle(
        "POST",
        PATH,
        headers("azure.webpubsub.sys.connect", "connect", "application/json; charset=utf-8"),
        json.dumps(body).encode(),
    )
    assert answer is not None and answer.status == 200
    assert json.loads(answer.body) == {"userId": "user1", "groups": ["lab"], "roles": ["webpubsub.joinLeaveGroup.lab"]}
    assert answer.headers["ce-connectionState"] == STATE  # the page's own sample value
    request = seen[0]
    assert request.context.connection_id == CONNECTION and request.context.user_id == "user1"
    assert request.context.origin == "xxx.webpubsub.azure.com" and request.context.time == "2021-01-01T00:00:00Z"
    assert request.client_certificates[0]["thumbprint"] == "<certificate SHA-1 thumbprint>"


def test_refusing_a_connect_with_401() -> None:
    def connect(request: ConnectRequest) -> None:
        raise EventHandlerError(401, "Unauthorized")

    answer = handler(handle_connect=connect).handle(
        "POST", PATH, headers("azure.webpubsub.sys.connect", "connect", "application/json"), b"{}"
    )
    assert answer is not None and answer.status == 401


def test_connected_and_disconnected_like_the_page() -> None:
    seen: list[object] = []
    events = handler(on_connected=seen.append, on_disconnected=seen.append)
    connected = headers(
        "azure.webpubsub.sys.connected",
        "connected",
        "application/json",
        **{"ce-subprotocol": "abc", "ce-connectionState": STATE},
    )
    assert events.handle("POST", PATH, connected, b"{}").status == 200  # type: ignore[union-attr]
    gone = headers(
        "azure.webpubsub.sys.disconnected", "disconnected", "application/json", **{"ce-connectionState": STATE}
    )
    assert events.handle("POST", PATH, gone, b'{"reason": "{Reason}"}').status == 200  # type: ignore[union-attr]
    first, second = seen
    assert isinstance(first, ConnectedRequest) and first.context.states == {"key": "a"}
    assert first.context.subprotocol == "abc"
    assert isinstance(second, DisconnectedRequest) and second.reason == "{Reason}"


def test_user_events_like_the_page() -> None:
    seen: list[UserEventRequest] = []

    def user_event(request: UserEventRequest) -> object:
        seen.append(request)
        request.context.states["seen"] = len(seen)
        return UserEventResponse(request.data, request.data_type)

    events = handler(handle_user_event=user_event)
    cases = [
        ("azure.webpubsub.user.message", "message", "text/plain", b"UserPayload", "text", "UserPayload"),
        ("azure.webpubsub.user.message", "message", "application/octet-stream", b"\x00\x01", "binary", b"\x00\x01"),
        ("azure.webpubsub.user.chat", "chat", "text/plain", b"text data", "text", "text data"),
        (
            "azure.webpubsub.user.chat",
            "chat",
            "application/json",
            b'{\n"hello": "world"\n}',
            "json",
            {"hello": "world"},
        ),
        ("azure.webpubsub.user.chat", "chat", "application/octet-stream", b"hello world", "binary", b"hello world"),
    ]
    for ce_type, name, content_type, body, data_type, data in cases:
        extra = {"ce-connectionState": STATE} if name == "message" else {"ce-subprotocol": "json.webpubsub.azure.v1"}
        answer = events.handle("POST", PATH, headers(ce_type, name, content_type, **extra), body)
        assert answer is not None and answer.status == 200
        request = seen[-1]
        assert (request.data_type, request.data) == (data_type, data)
        assert request.context.event_name == name
        assert (
            answer.headers["Content-Type"].split(";")[0]
            == {
                "text": "text/plain",
                "json": "application/json",
                "binary": "application/octet-stream",
            }[data_type]
        )
        state = json.loads(base64.b64decode(answer.headers["ce-connectionState"]))
        assert state["seen"] == len(seen)
    assert seen[0].context.states["key"] == "a"  # the incoming state was decoded


def test_signatures_are_checked() -> None:
    events = handler(on_connected=lambda request: None)
    forged = headers("azure.webpubsub.sys.connected", "connected", "application/json")
    forged["ce-signature"] = "sha256=" + "0" * 64
    answer = events.handle("POST", PATH, forged, b"{}")
    assert answer is not None and answer.status == 401
    del forged["ce-signature"]
    assert events.handle("POST", PATH, forged, b"{}").status == 401  # type: ignore[union-attr]
    primary_only = headers("azure.webpubsub.sys.connected", "connected", "application/json")
    primary_only["ce-signature"] = sign(PRIMARY)
    assert EventHandler("chat", access_keys=[PRIMARY]).handle("POST", PATH, primary_only, b"{}").status == 200  # type: ignore[union-attr]


def test_requests_for_other_hubs_or_paths_are_not_taken() -> None:
    events = handler()
    other_hub = headers("azure.webpubsub.sys.connected", "connected", "application/json", **{"ce-hub": "other"})
    assert events.handle("POST", PATH, other_hub, b"{}") is None
    assert (
        events.handle("POST", "/somewhere/else", headers("azure.webpubsub.sys.connected", "connected", "x"), b"{}")
        is None
    )
    bad_type = headers("azure.webpubsub.user.chat", "chat", "image/png")
    assert events.handle("POST", PATH, bad_type, b"x").status == 400  # type: ignore[union-attr]
