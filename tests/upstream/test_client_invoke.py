"""``wpsnb.Client.invoke``: a user event answered by the official ``@azure/web-pubsub-express`` handler
through the local service — the reply, a handler error, the setting's timeout, and the client giving up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from upstream.express_upstream import ExpressUpstream, express_setup_problem

from wpsnb.client import Client
from wpsnb.errors import AckTimeout, RequestFailed
from wpsnb.service.local import LocalService

HUB = "clientinvoke"


@pytest.fixture(scope="module")
def service() -> Iterator[LocalService]:
    problem = express_setup_problem()
    if problem:
        pytest.fail(problem)
    with ExpressUpstream(HUB) as handler, LocalService(event_handlers={HUB: [handler.setting(timeout=1.0)]}) as local:
        yield local


@pytest.mark.parametrize("protocol", ["json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1"])
def test_invoke(service: LocalService, protocol: str) -> None:
    with Client(service, hub=HUB, user_id="asker", protocol=protocol) as client:
        assert client.invoke("echo", {"q": 1}) == {"q": 1}
        assert client.invoke("echo", "text") == "text"
        assert client.invoke("binary", "x") == b"\x00\x01\x02\xff"
        assert client.invoke("none", "x") is None
        with pytest.raises(RequestFailed) as failed:
            client.invoke("fail", "x")
        assert failed.value.name == "InternalServerError" and "500" in str(failed.value)
        with pytest.raises(RequestFailed) as slow:
            client.invoke("hang", "x")
        assert slow.value.name == "Timeout"
        with pytest.raises(AckTimeout, match="cancelled"):
            client.invoke("hang", "x", timeout=0.2)
        assert any('"cancelInvocation"' in str(frame.raw) for frame in client.frames if frame.direction == "sent")
        assert client.invoke("echo", "after") == "after"
        with pytest.raises(ValueError, match="event"):
            client.invoke("1st", "bad name")
